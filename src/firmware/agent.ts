/**
 * The device agent: receives a signed release over MQTT, stages it chunk by chunk, verifies it and hands
 * it to an install hook (docs/firmware.md, "Device agent").
 *
 *   startAgent(options) → FirmwareAgent     agent.running, agent.status, agent.on('status', fn), agent.close()
 *
 * How it works:
 * - Subscribes to fw/<p>/trust, then fw/<p>/manifest (QoS 1; both retained, so an offline device gets them
 *   on connect; the trust list first, so that a manifest signed by a newly trusted key is not refused).
 * - Every message goes through one serial queue: a chunk that arrives while a manifest is being handled
 *   waits for it, so no step sees a half-changed state. Chunks of no active release are dropped (they are
 *   retained: subscribing again brings them back). Back-pressure: manifest and trust messages not yet
 *   handled are coalesced (only the latest of each kind is handled); chunk bytes in the queue are capped
 *   (maxQueuedChunkBytes): a chunk over the cap is dropped (`counters.queueDrops`) and its topic subscribed
 *   again once the queue drained, which makes the broker send the retained chunk again.
 * - A manifest: the same release as the active or the last handled one (retained copy seen again) is
 *   ignored. Any other is checked FIRST (signature, product, target, dates, newer than running, chunk
 *   PUBLISH within this client's Maximum Packet Size); only one that passes replaces the active release
 *   (its staging abandoned). A refused one never touches the active download: while a release downloads,
 *   a refusal is logged and counted (`counters.refusedManifests`), the status stays downloading; with no
 *   download, status failed with the code. A release not targeting this device is only logged (it is not
 *   for us: no failed status). A refusal is remembered as the last release (not retried until another
 *   manifest) only when the signature verified: a forged copy must not block the genuine manifest.
 * - Accepted: staging/<id>.part + .json; the exact topics of the missing chunks are subscribed, at most
 *   CHUNK_WINDOW at a time (refilled when half are in), each unsubscribed once received — so memory and the
 *   broker's queue hold a bounded number of chunks. Each chunk is checked (header index, length, SHA-256
 *   from the signed manifest) before it is written; one that does not match is noise from whoever can
 *   publish on the topic: dropped, logged, counted (`counters.badChunks`), its topic stays subscribed for
 *   the genuine (retained) one. Only local errors (staging I/O, a refused subscription) fail the release.
 * - Complete: the whole file's SHA-256 (MOAT_ERR_FW_IMAGE), status verified, atomic rename to
 *   ready/<product>-<version>.bin, 'installing' in state.json, the install hook (MOAT_ERR_FW_INSTALL: the
 *   image is removed), then the running version (monotonic) and the release installed in state.json,
 *   status installed. Older images in ready/ are removed.
 * - A signed trust update with a greater sequence replaces the trust list (the retained copy seen again is
 *   ignored); the active release is checked again under it (a revoked signer stops it), and a manifest
 *   refused for its signer is tried again.
 * - Restart: the staging json says which chunks are verified; only the others are subscribed. An install
 *   the agent did not see finish (stopped during the hook) counts as installed when the caller's
 *   runningVersion says the device runs it, else as failed (MOAT_ERR_FW_INSTALL) — never re-run on the
 *   same manifest, so a hook that reboots cannot loop.
 * - close(): stops taking messages, finishes the step under way (queued ones are dropped: their chunks
 *   are retained and come again), saves the staging json. Status on start: the last outcome (installed or failed), else idle (downloading when it
 *   resumes), downloading at most every 5 % or 1 s, verified, installed or failed; retained, QoS 1.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientErr, type MqttClient, type Message } from '../client/index.js';
import { MoatError, isMoatError } from '../codec/index.js';
import { CHUNK_HEADER_BYTES, chunkCount, chunkTopic, decodeChunk, parseChunkTopic, verifyChunk } from './chunks.js';
import { parseEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import { FwErr, fwError } from './errors.js';
import { verifyImageFile } from './image.js';
import { runInstallHook, type InstallHook } from './install-hook.js';
import { checkManifest, type CheckedManifest } from './manifest-check.js';
import { releaseIdOf, type Manifest } from './manifest.js';
import { encodeStatus, type FirmwareStatus } from './status.js';
import { Staging, clearStaging, loadAgentState, saveAgentState, type AgentState } from './staging.js';
import { manifestTopic, statusTopic, trustTopic } from './topics.js';

export type { InstallHook };
import { acceptTrustUpdate, parseTrustList, type TrustList } from './trust.js';
import { compareVersions } from './version.js';

export interface AgentOptions {
  /** Connected by the caller; a persistent session (clean: false, sessionExpiry) is recommended. */
  client: MqttClient;
  product: string;
  deviceId: string;
  groups?: string[];
  /** state.json, staging/ and ready/ live here. */
  stateDir: string;
  /** The initial pin, used when stateDir holds no trust list yet (or an older one: a re-pinned device). */
  trust: TrustList;
  /** The running version when stateDir holds none yet (default '0'), or a newer one the device now runs. */
  runningVersion?: string;
  /** default 64 MiB */
  maxImageBytes?: number;
  install: InstallHook;
  /**
   * Chunk payload bytes waiting in the serial queue at most (default 16 MiB); beyond it a chunk is dropped
   * and its topic subscribed again once the queue drained (the broker sends the retained chunk again).
   */
  maxQueuedChunkBytes?: number;
  /** ms since the epoch: manifest dates and status times; default Date.now */
  now?: () => number;
  log?: (line: string) => void;
}

export interface AgentCounters {
  refusedManifests: number;
  badChunks: number;
  /** Chunks dropped because the queue held maxQueuedChunkBytes already (asked for again later). */
  queueDrops: number;
}

export interface FirmwareAgent {
  /** The version the device runs (updated after a successful install). */
  readonly running: string;
  /** The last status published. */
  readonly status: FirmwareStatus;
  /** Noise seen and dropped without touching the download (refused manifests, chunks that do not verify). */
  readonly counters: AgentCounters;
  on(event: 'status', fn: (s: FirmwareStatus) => void): this;
  off(event: 'status', fn: (s: FirmwareStatus) => void): this;
  /** Stops handling messages, waits for the current step, saves the staging state. The client stays open. */
  close(): Promise<void>;
}

/** Chunk topics subscribed at once (one SUBSCRIBE of at most this many filters). */
export const CHUNK_WINDOW = 64;
/** Verified chunks are made durable (fsync + staging json) at least this often while downloading. */
const CHECKPOINT_MS = 1000;
const STATUS_MIN_MS = 1000;
const STATUS_MIN_PERCENT = 5;
/** PUBLISH bytes besides topic and payload: fixed header ≤ 5, topic length 2, packet id 2, v5 properties (margin). */
const PUBLISH_OVERHEAD = 5 + 2 + 2 + 32;
const DEFAULT_MAX_QUEUED_CHUNK_BYTES = 16 * 1024 * 1024;
const SIGNER_CODES: readonly string[] = [FwErr.unknownSigner, FwErr.revokedSigner];

interface Active {
  staging: Staging;
  checked: { manifest: Manifest; releaseId: string };
  /** chunk index → topic, subscribed and not yet received */
  waiting: Map<number, string>;
  /** received chunk topics still subscribed */
  done: string[];
  /** next index to consider when refilling the window */
  cursor: number;
}

/** The key a manifest message is remembered by: its release id, or a hash of bytes that are no envelope. */
function releaseKey(raw: Buffer): string {
  try {
    return releaseIdOf(Buffer.from(parseEnvelope(raw).payload, 'base64'));
  } catch {
    return createHash('sha256').update(raw).digest('hex').slice(0, 32);
  }
}

class Agent extends EventEmitter implements FirmwareAgent {
  private state!: AgentState;
  private active: Active | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private current: FirmwareStatus;
  private statusSent: Promise<unknown> = Promise.resolve();
  private lastProgress = { percent: -1, at: 0 };
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** A manifest refused for its signer: tried again when the trust list changes. */
  private signerRefused: Buffer | undefined;
  /** Manifests refused and chunks dropped (not the signed bytes): counted, see `counters`. */
  private refusedManifests = 0;
  private badChunks = 0;
  private queueDrops = 0;
  /** The latest manifest / trust message not yet handled: only the latest of each is worth handling. */
  private pendingManifest: Buffer | undefined;
  private pendingTrust: Buffer | undefined;
  /** Chunk payload bytes in the queue, and the topics of chunks dropped over the cap (to subscribe again). */
  private queuedChunkBytes = 0;
  private readonly overflowed = new Set<string>();
  private readonly maxQueuedChunkBytes: number;
  private readonly client: MqttClient;
  private readonly now: () => number;
  private readonly stagingDir: string;
  private readonly readyDir: string;
  private readonly topics: { manifest: string; trust: string; status: string };
  private readonly onMessage = (m: Message): void => this.route(m);

  constructor(private readonly o: AgentOptions) {
    super();
    this.client = o.client;
    this.now = o.now ?? Date.now;
    this.maxQueuedChunkBytes = o.maxQueuedChunkBytes ?? DEFAULT_MAX_QUEUED_CHUNK_BYTES;
    this.stagingDir = join(o.stateDir, 'staging');
    this.readyDir = join(o.stateDir, 'ready');
    this.topics = { manifest: manifestTopic(o.product), trust: trustTopic(o.product), status: statusTopic(o.product, o.deviceId) };
    this.current = { state: 'idle', running: o.runningVersion ?? '0', at: new Date(this.now()).toISOString() };
  }

  get running(): string {
    return this.state.running;
  }

  get status(): FirmwareStatus {
    return this.current;
  }

  get counters(): AgentCounters {
    return { refusedManifests: this.refusedManifests, badChunks: this.badChunks, queueDrops: this.queueDrops };
  }

  async start(): Promise<void> {
    for (const d of [this.o.stateDir, this.stagingDir, this.readyDir]) {
      await mkdir(d, { recursive: true }).catch((e: Error) => { throw fwError(FwErr.staging, `cannot create ${d}`, e); });
    }
    this.state = await loadAgentState(this.o.stateDir, {
      product: this.o.product, deviceId: this.o.deviceId, running: this.o.runningVersion ?? '0', trust: parseTrustList(this.o.trust),
    });
    const interrupted = await this.reconcile();
    await this.removeStaleReady();
    this.client.on('message', this.onMessage);
    const staging = await Staging.resume(this.stagingDir, (env) => {
      try {
        return this.check(env).manifest;
      } catch (e) {
        // Refused now (expired, signer revoked, …): dropped; the retained manifest brings the refusal back.
        this.log(`staged release not resumed: ${isMoatError(e) ? e.code : String(e)}`);
        throw e;
      }
    });
    if (staging) {
      this.log(`resuming release ${staging.releaseId}: ${staging.verifiedCount} of ${chunkCount(staging.manifest)} chunks verified`);
      this.active = { staging, checked: { manifest: staging.manifest, releaseId: staging.releaseId }, waiting: new Map(), done: [], cursor: 0 };
      this.publishProgress(true);
      this.refill();
    } else if (interrupted) {
      this.publish(interrupted);
    } else if (this.state.lastRelease && this.state.lastRelease.state !== 'installing') {
      // The last outcome again, not idle: a restart must not wipe a failure (or success) off the
      // retained status that operators and `moat fw push` read.
      const { id, state, version, code, reason } = this.state.lastRelease;
      this.publish({
        state, release: id, running: this.state.running,
        ...(version !== undefined ? { version } : {}), ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}),
      });
    } else {
      this.publish({ state: 'idle', running: this.state.running });
    }
    // Trust first: its retained list is handled before the retained manifest (one serial queue).
    for (const topic of [this.topics.trust, this.topics.manifest]) {
      const sub = await this.client.subscribe(topic, { qos: 1, bufferSize: 1 });
      sub.close(); // messages come through the 'message' event; this keeps no buffer
    }
  }

  /**
   * What the options say that state.json does not know yet: a newer pin (a re-pinned device), a newer
   * running version (the device booted into it). And an install the agent did not see finish (it stopped
   * while the hook ran: a crash, or a hook that reboots): done if the device now runs that version, else
   * failed — not retried on the same manifest, so a hook that reboots every time cannot loop.
   */
  private async reconcile(): Promise<Omit<FirmwareStatus, 'at'> | undefined> {
    const before = JSON.stringify(this.state);
    const pin = parseTrustList(this.o.trust);
    if (pin.sequence > this.state.trust.sequence) this.state = { ...this.state, trust: pin };
    const told = this.o.runningVersion;
    if (told !== undefined && compareVersions(told, this.state.running) > 0) this.state = { ...this.state, running: told };
    const last = this.state.lastRelease;
    let status: Omit<FirmwareStatus, 'at'> | undefined;
    if (last?.state === 'installing' && last.version !== undefined) {
      const common = { release: last.id, version: last.version, running: this.state.running };
      if (compareVersions(this.state.running, last.version) >= 0) {
        this.state = { ...this.state, lastRelease: { ...last, state: 'installed' } };
        status = { state: 'installed', ...common };
      } else {
        const reason = 'the agent stopped while the install hook ran, and the device does not run the version';
        this.state = { ...this.state, lastRelease: { ...last, state: 'failed', code: FwErr.install } };
        status = { state: 'failed', ...common, code: FwErr.install, reason };
      }
      this.log(`release ${last.id}: install interrupted; now ${status.state}`);
    }
    if (JSON.stringify(this.state) !== before) await saveAgentState(this.o.stateDir, this.state);
    return status;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off('message', this.onMessage);
    await this.queue;
    clearTimeout(this.checkpointTimer);
    const a = this.active;
    this.active = undefined;
    if (a) {
      await a.staging.close().catch((e: unknown) => this.log(`cannot save staging: ${String(e)}`));
      this.unsubscribe([...a.waiting.values(), ...a.done]);
    }
    this.unsubscribe([this.topics.manifest, this.topics.trust]);
    // The last status on its way (QoS 1), but never hang on a client that is offline.
    await Promise.race([this.statusSent, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(() => (this.closed ? undefined : job())).catch((e: unknown) => this.log(`firmware agent: ${String(e)}`));
  }

  /**
   * Back-pressure: manifest and trust messages are coalesced (one job each in the queue; it handles the
   * latest one received), so a flood of them holds one payload each, not a queue. Chunk bytes in the
   * queue are capped: a chunk over the cap is dropped and its topic subscribed again once the queue has
   * drained — the chunk is retained, so the broker sends it again on that SUBSCRIBE [MQTT-3.3.1-9].
   */
  private route(m: Message): void {
    if (m.topic === this.topics.manifest) {
      const queued = this.pendingManifest !== undefined;
      this.pendingManifest = m.payload;
      if (!queued) this.enqueue(() => this.takePending('manifest'));
      return;
    }
    if (m.topic === this.topics.trust) {
      const queued = this.pendingTrust !== undefined;
      this.pendingTrust = m.payload;
      if (!queued) this.enqueue(() => this.takePending('trust'));
      return;
    }
    const c = parseChunkTopic(m.topic);
    // Only the active release's chunks are queued: anything else is dropped before it holds memory.
    if (c && c.product === this.o.product && c.releaseId === this.active?.checked.releaseId) {
      const n = m.payload.length;
      if (this.queuedChunkBytes + n > this.maxQueuedChunkBytes && this.queuedChunkBytes > 0) {
        this.queueDrops++;
        this.overflowed.add(m.topic);
        return;
      }
      this.queuedChunkBytes += n;
      this.enqueue(async () => {
        this.queuedChunkBytes -= n;
        await this.onChunk(c.releaseId, c.index, m.payload);
        this.askAgain();
      });
    }
  }

  private takePending(kind: 'manifest' | 'trust'): Promise<void> {
    const raw = kind === 'manifest' ? this.pendingManifest : this.pendingTrust;
    if (kind === 'manifest') this.pendingManifest = undefined;
    else this.pendingTrust = undefined;
    if (raw === undefined) return Promise.resolve();
    return kind === 'manifest' ? this.onManifest(raw) : this.onTrust(raw);
  }

  /** The queue has drained to half the cap: subscribe again to the chunks dropped over it, still missing. */
  private askAgain(): void {
    const a = this.active;
    if (this.overflowed.size === 0 || this.queuedChunkBytes > this.maxQueuedChunkBytes / 2) return;
    const waiting = new Set(a ? a.waiting.values() : []);
    const topics = [...this.overflowed].filter((t) => waiting.has(t));
    this.overflowed.clear();
    if (topics.length === 0) return;
    this.client.subscribe(topics, { qos: 1, bufferSize: 1 }).then((sub) => sub.close(), (e: unknown) => this.log(`chunk subscription failed: ${String(e)}`));
  }

  private check(envelope: Buffer | Envelope): CheckedManifest {
    return checkManifest({
      manifestEnvelope: envelope, trust: this.state.trust, product: this.o.product, deviceId: this.o.deviceId,
      groups: this.o.groups ?? [], runningVersion: this.state.running,
      ...(this.o.maxImageBytes !== undefined ? { maxImageBytes: this.o.maxImageBytes } : {}), now: this.now(),
    });
  }

  private async onManifest(raw: Buffer): Promise<void> {
    if (raw.length === 0) {
      // The campaign was withdrawn (empty retained manifest): stop, keep nothing.
      if (this.active) {
        this.log(`manifest withdrawn: abandoning release ${this.active.checked.releaseId}`);
        await this.abandon();
        this.publish({ state: 'idle', running: this.state.running });
      }
      return;
    }
    // The retained copy of the active release or of the last one handled: nothing new. A copy with the same
    // payload but another (forged) signature lands here too, harmlessly: the key is the genuine release's.
    const key = releaseKey(raw);
    if (key === this.active?.checked.releaseId || key === this.state.lastRelease?.id) return;
    // The new manifest is checked FIRST: only one that verifies replaces the active release, so nobody
    // who can publish on the manifest topic can wipe a download by sending garbage.
    let signed = false;
    let checked: CheckedManifest;
    try {
      verifyEnvelope(raw, this.state.trust);
      signed = true;
      checked = this.check(raw);
      this.checkPacketSize(checked);
    } catch (e) {
      this.signerRefused = isMoatError(e) && SIGNER_CODES.includes(e.code) ? raw : undefined;
      return this.refuseManifest(e, signed ? key : undefined, raw);
    }
    this.signerRefused = undefined;
    // Only a newer (or same-version, re-signed) release replaces the one being downloaded: an older signed
    // manifest replayed on the topic would otherwise turn devices back from a fix to the release it fixes.
    // An operator who really goes back withdraws the campaign (empty manifest) first.
    const activeVersion = this.active?.checked.manifest.version;
    if (activeVersion !== undefined && compareVersions(checked.manifest.version, activeVersion) < 0) {
      return this.refuseManifest(fwError(FwErr.rollback,
        `manifest version ${checked.manifest.version} is older than the release being downloaded (${activeVersion}); withdraw the campaign first to go back`), key, raw);
    }
    if (this.active) {
      this.log(`new manifest ${checked.releaseId}: abandoning release ${this.active.checked.releaseId}`);
      await this.abandon();
    }
    const staging = await Staging.create(this.stagingDir, checked.releaseId, parseEnvelope(raw), checked.manifest)
      .catch((e: unknown) => this.fail(e, checked.releaseId, checked.manifest.version));
    if (!staging) return;
    this.log(`release ${checked.releaseId}: version ${checked.manifest.version}, ${checked.manifest.size} bytes in ${checked.manifest.chunks.length} chunks`);
    this.active = { staging, checked, waiting: new Map(), done: [], cursor: 0 };
    this.lastProgress = { percent: -1, at: 0 };
    this.publishProgress(true);
    this.refill();
  }

  /**
   * A manifest refused before it became the active release. It never touches the active download. A
   * manifest not targeting this device is none of its business: logged only. While another release is
   * downloading, any refusal is logged and counted, the status stays `downloading`. Otherwise status
   * failed; remembered (not retried) only when its signature verified (`releaseId` given): an unsigned
   * or forged copy must not block the genuine manifest with the same payload.
   */
  private async refuseManifest(e: unknown, releaseId: string | undefined, raw: Buffer): Promise<undefined> {
    const code = isMoatError(e) ? e.code : FwErr.format;
    const reason = e instanceof Error ? e.message : String(e);
    const id = releaseId ?? releaseKey(raw);
    this.refusedManifests++;
    this.log(`manifest ${id} refused${releaseId ? '' : ' (signature not verified)'}: ${code} ${reason}`);
    if (code === FwErr.target) return undefined;
    if (this.active) return undefined;
    if (releaseId) {
      const version = this.signedVersion(raw);
      this.state = { ...this.state, lastRelease: { id: releaseId, state: 'failed', code, reason, ...(version ? { version } : {}) } };
      await saveAgentState(this.o.stateDir, this.state).catch((err: unknown) => this.log(String(err)));
    }
    this.publish({ state: 'failed', release: id, running: this.state.running, code, reason });
    return undefined;
  }

  /** The version a signed manifest claims, if it says one (for the status of a refusal). */
  private signedVersion(raw: Buffer): string | undefined {
    try {
      const v = (JSON.parse(Buffer.from(parseEnvelope(raw).payload, 'base64').toString('utf8')) as { version?: unknown }).version;
      return typeof v === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A chunk PUBLISH (topic + 8-byte header + chunkSize + fixed header, topic length, packet id, properties)
   * over the Maximum Packet Size this client announced would be discarded by the broker for us
   * [MQTT-3.1.2-25]: the download would hang at 0 %. Refused up front instead.
   */
  private checkPacketSize(c: CheckedManifest): void {
    const max = this.client.options.maximumPacketSize ?? 1_048_576;
    const topic = chunkTopic(this.o.product, c.releaseId, Math.max(0, chunkCount(c.manifest) - 1));
    const need = PUBLISH_OVERHEAD + Buffer.byteLength(topic) + CHUNK_HEADER_BYTES + c.manifest.chunkSize;
    if (need > max) {
      throw fwError(FwErr.tooLarge, `a chunk PUBLISH of ${need} bytes is over this client's Maximum Packet Size of ${max}`);
    }
  }

  private async onTrust(raw: Buffer): Promise<void> {
    // The retained copy of the list we already run is seen on every (re)subscribe: not worth a word. Checked
    // before the signature: that list may well revoke the key that signed it (a key rotation).
    if (raw.length === 0 || this.sameSequence(raw)) return;
    let next: TrustList;
    try {
      next = acceptTrustUpdate(this.state.trust, raw);
    } catch (e) {
      this.log(`trust update refused: ${isMoatError(e) ? e.code : ''} ${(e as Error).message}`);
      return;
    }
    this.state = { ...this.state, trust: next };
    await saveAgentState(this.o.stateDir, this.state);
    this.log(`trust list updated to sequence ${next.sequence}`);
    const a = this.active;
    if (a) {
      try {
        this.check(a.staging.envelope);
      } catch (e) {
        return this.fail(e, a.checked.releaseId, a.checked.manifest.version);
      }
    }
    const again = this.signerRefused;
    if (again) {
      this.signerRefused = undefined;
      if (this.state.lastRelease?.id === releaseKey(again) && this.state.lastRelease.state === 'failed') {
        const { lastRelease: _, ...rest } = this.state;
        this.state = rest;
      }
      await this.onManifest(again);
    }
  }

  private sameSequence(raw: Buffer): boolean {
    try {
      return parseTrustList(Buffer.from(parseEnvelope(raw).payload, 'base64')).sequence === this.state.trust.sequence;
    } catch {
      return false;
    }
  }

  private async onChunk(releaseId: string, index: number, payload: Buffer): Promise<void> {
    const a = this.active;
    if (!a || a.checked.releaseId !== releaseId || payload.length === 0) return; // empty: a deleted chunk
    if (a.staging.has(index)) return;
    const m = a.checked.manifest;
    let data: Buffer;
    try {
      data = decodeChunk(payload, index).data;
      verifyChunk(m, index, data);
    } catch (e) {
      // Not the chunk the signed manifest lists: noise from whoever can publish on the topic. Dropped; its
      // topic stays subscribed, so the genuine (retained) chunk still comes (on the next resubscribe).
      this.badChunks++;
      this.log(`release ${releaseId}: chunk ${index} dropped: ${isMoatError(e) ? e.code : ''} ${(e as Error).message}`);
      return;
    }
    const topic = a.waiting.get(index);
    if (topic !== undefined) {
      a.waiting.delete(index);
      a.done.push(topic);
    }
    try {
      await a.staging.write(index, data);
    } catch (e) {
      return this.fail(e, releaseId, m.version); // a local error: this device cannot stage the release
    }
    if (a.staging.complete) return this.finish(a);
    this.publishProgress(false);
    this.scheduleCheckpoint();
    this.refill();
  }

  /** Keeps up to CHUNK_WINDOW missing chunks subscribed; refills once half of them are in. */
  private refill(): void {
    const a = this.active;
    if (!a || a.waiting.size > CHUNK_WINDOW / 2) return;
    const n = chunkCount(a.checked.manifest);
    const topics: string[] = [];
    while (a.cursor < n && a.waiting.size < CHUNK_WINDOW) {
      const i = a.cursor++;
      if (a.staging.has(i) || a.waiting.has(i)) continue;
      const t = chunkTopic(this.o.product, a.checked.releaseId, i);
      a.waiting.set(i, t);
      topics.push(t);
    }
    this.unsubscribe(a.done.splice(0));
    if (topics.length === 0) return;
    this.client.subscribe(topics, { qos: 1, bufferSize: 1 }).then((sub) => {
      sub.close();
      const refused = sub.reasonCodes.findIndex((c) => c >= 0x80);
      if (refused >= 0) {
        const reasonCode = sub.reasonCodes[refused]!;
        this.refused(a, new MoatError(ClientErr.subscribeRefused, `subscription to ${topics[refused]} refused: reason 0x${reasonCode.toString(16)}`, { reasonCode }));
      }
    }, (e: unknown) => {
      // The broker refused them all (an ACL): this release cannot arrive. Anything else is the link or the
      // client going away, not a fault of the release: the staging stays for a resume.
      if (isMoatError(e) && e.code === ClientErr.subscribeRefused) this.refused(a, e);
      else this.log(`chunk subscription failed: ${String(e)}`);
    });
  }

  private refused(a: Active, e: MoatError): void {
    if (this.active !== a || this.closed) return;
    this.enqueue(() => (this.active === a ? this.fail(e, a.checked.releaseId, a.checked.manifest.version) : Promise.resolve()));
  }

  private unsubscribe(topics: string[]): void {
    if (topics.length === 0) return;
    this.client.unsubscribe(topics).catch((e: unknown) => this.log(`unsubscribe failed: ${String(e)}`));
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      const a = this.active;
      if (a) this.enqueue(() => (this.active === a ? a.staging.checkpoint() : Promise.resolve()));
    }, CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  private async finish(a: Active): Promise<void> {
    const { manifest: m, releaseId } = a.checked;
    this.unsubscribe(a.done.splice(0));
    const ready = join(this.readyDir, `${this.o.product}-${m.version}.bin`);
    try {
      await verifyImageFile(a.staging.partPath, m);
      this.publish({ state: 'verified', release: releaseId, version: m.version, running: this.state.running });
      await a.staging.promote(ready);
    } catch (e) {
      return this.fail(e, releaseId, m.version);
    }
    this.active = undefined;
    this.state = { ...this.state, lastRelease: { id: releaseId, state: 'installing', version: m.version } };
    try {
      await saveAgentState(this.o.stateDir, this.state);
      await runInstallHook(this.o.install, ready, m);
    } catch (e) {
      await rm(ready, { force: true });
      return this.fail(e, releaseId, m.version);
    }
    const running = compareVersions(m.version, this.state.running) > 0 ? m.version : this.state.running;
    this.state = { ...this.state, running, lastRelease: { id: releaseId, state: 'installed', version: m.version } };
    await saveAgentState(this.o.stateDir, this.state);
    await this.removeStaleReady();
    this.log(`release ${releaseId} installed: running ${running}`);
    this.publish({ state: 'installed', release: releaseId, version: m.version, running });
  }

  /** Drops the active release: unsubscribes its chunks, deletes its staging files. */
  private async abandon(): Promise<void> {
    const a = this.active;
    this.active = undefined;
    if (!a) return;
    this.unsubscribe([...a.waiting.values(), ...a.done]);
    await a.staging.remove();
  }

  /** A refusal: staging clean, nothing installed, the release remembered, status failed with the code. */
  private async fail(e: unknown, releaseId: string, version?: string): Promise<undefined> {
    const code = isMoatError(e) ? e.code : FwErr.staging;
    const reason = e instanceof Error ? e.message : String(e);
    this.log(`release ${releaseId} refused: ${code} ${reason}`);
    if (this.active && this.active.checked.releaseId !== releaseId) {
      // Never wipe another release's download (its staging is all that is in staging/).
      this.log(`release ${releaseId} refused while ${this.active.checked.releaseId} downloads: ${code} ${reason}`);
      return undefined;
    }
    if (this.active) await this.abandon();
    await clearStaging(this.stagingDir).catch(() => {});
    this.state = { ...this.state, lastRelease: { id: releaseId, state: 'failed', code, reason, ...(version ? { version } : {}) } };
    await saveAgentState(this.o.stateDir, this.state).catch((err: unknown) => this.log(String(err)));
    this.publish({ state: 'failed', release: releaseId, ...(version ? { version } : {}), running: this.state.running, code, reason });
    return undefined;
  }

  /** Images in ready/ other than the running version's: left by a crash during an install, or superseded. */
  private async removeStaleReady(): Promise<void> {
    const keep = `${this.o.product}-${this.state.running}.bin`;
    for (const name of await readdir(this.readyDir).catch(() => [] as string[])) {
      if (name !== keep) await rm(join(this.readyDir, name), { force: true, recursive: true });
    }
  }

  private publishProgress(force: boolean): void {
    const a = this.active;
    if (!a) return;
    const m = a.checked.manifest;
    const percent = Math.floor((a.staging.verifiedBytes * 100) / m.size);
    const t = performance.now();
    const due = percent >= this.lastProgress.percent + STATUS_MIN_PERCENT || (t - this.lastProgress.at >= STATUS_MIN_MS && percent !== this.lastProgress.percent);
    if (!force && !due) return;
    this.lastProgress = { percent, at: t };
    this.publish({ state: 'downloading', release: a.checked.releaseId, version: m.version, running: this.state.running, percent });
  }

  private publish(s: Omit<FirmwareStatus, 'at'>): void {
    const status: FirmwareStatus = { ...s, at: new Date(this.now()).toISOString() };
    this.current = status;
    this.statusSent = this.client.publish(this.topics.status, encodeStatus(status), { qos: 1, retain: true })
      .catch((e: unknown) => this.log(`status not published: ${String(e)}`));
    try {
      this.emit('status', status);
    } catch (e) {
      this.log(`a status listener threw: ${String(e)}`); // the application's bug must not stop a release half-way
    }
  }
}

export async function startAgent(options: AgentOptions): Promise<FirmwareAgent> {
  const agent = new Agent(options);
  try {
    await agent.start();
  } catch (e) {
    await agent.close().catch(() => {});
    throw e;
  }
  return agent;
}

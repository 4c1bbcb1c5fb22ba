/**
 * The pusher's side of a release: chunks, then the manifest, then the previous release's chunks cleared.
 *
 *   publishRelease({client, product, manifestEnvelope, imagePath, window?, log?}) → PublishedRelease
 *     1. reads the manifest (shape only: the pusher need not hold the devices' trust list), product
 *        must be `product` (FW_PRODUCT); every chunk's and the manifest's PUBLISH must fit the broker's
 *        Maximum Packet Size from CONNACK (FW_TOO_LARGE) — checked before anything is sent;
 *     2. reads the retained manifest already there (the previous release: its id and chunk count only,
 *        nothing in it is trusted or acted on beyond deleting its chunk topics);
 *     3. publishes every chunk retained QoS 1 on fw/<p>/chunk/<release>/<i>, reading the image one chunk
 *        at a time, at most `window` publishes in flight; each chunk's SHA-256 must be the manifest's
 *        (else FW_IMAGE, and the chunks already out are deleted again: no manifest points at them);
 *     4. publishes the manifest retained QoS 1 — only now can a device start, and every chunk is there;
 *     5. deletes (empty retained) the previous release's chunks, if it was another release.
 *   publishTrust({client, product, trustEnvelope})  a signed trust list, retained QoS 1 on fw/<p>/trust
 *   clearRelease({client, product})  empty retained manifest, then the chunks of the release it named
 *   readRetainedManifest(client, product) → {envelope, releaseId?, chunks} | undefined
 *
 * Reading a retained message: subscribe, then unsubscribe; the broker sends retained messages right after
 * the SUBACK [MQTT-3.3.1-9], before it handles the UNSUBSCRIBE, so they are in once the UNSUBACK is.
 * (A caller's own subscription to fw/<p>/manifest on the same client would end with it.)
 */
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { MqttClient } from '../client/index.js';
import { CHUNK_HEADER_BYTES, encodeChunk, chunkTopic } from './chunks.js';
import { decodeBase64, parseEnvelope } from './envelope.js';
import { FwErr, fwError } from './errors.js';
import { imageChunks } from './image.js';
import { parseManifest, releaseIdOf, validateManifest, type Manifest } from './manifest.js';
import { assertProduct, manifestTopic, trustTopic } from './topics.js';
import { parseTrustList } from './trust.js';

/** What the pusher needs of a client (MqttClient, or anything shaped like it). */
export type FwClient = Pick<MqttClient, 'publish' | 'subscribe' | 'unsubscribe' | 'info'>;

/** Publishes in flight at once by default: enough to keep a TLS link busy, bounded memory (window × chunk). */
export const DEFAULT_PUBLISH_WINDOW = 16;

export interface PublishReleaseOptions {
  client: FwClient;
  product: string;
  /** The signed manifest envelope exactly as `moat fw sign` wrote it (its bytes are published as they are). */
  manifestEnvelope: Buffer;
  imagePath: string;
  /** Most QoS 1 publishes awaiting PUBACK at once (default 16). */
  window?: number;
  log?: (message: string) => void;
}

export interface PublishedRelease {
  releaseId: string;
  version: string;
  chunks: number;
  bytes: number;
  /** The release the retained manifest named before, when it was another one. */
  previousReleaseId?: string;
  /** Chunk topics of the previous release emptied. */
  cleared: number;
}

export interface RetainedManifest {
  envelope: Buffer;
  /** Undefined when the retained payload is not a readable manifest envelope. */
  releaseId?: string;
  version?: string;
  chunks: number;
}

/** The manifest inside an envelope, by shape only (no signature check): the pusher's own reading. */
function readManifest(envelope: Buffer): { manifest: Manifest; releaseId: string } {
  const env = parseEnvelope(envelope);
  const payload = decodeBase64(env.payload, 'envelope payload');
  return { manifest: validateManifest(payload), releaseId: releaseIdOf(payload) };
}

function varIntBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/**
 * Bytes of a QoS 1 PUBLISH: fixed header, topic (2 + length), packet id (2), properties (v5: length
 * byte + a Topic Alias, 3, which the client adds on a topic's first use when the broker allows aliases).
 */
export function publishPacketBytes(topic: string, payloadBytes: number): number {
  const remaining = 2 + Buffer.byteLength(topic) + 2 + 4 + payloadBytes;
  return 1 + varIntBytes(remaining) + remaining;
}

/** The broker's Maximum Packet Size from the last CONNACK (none announced: the protocol's ceiling). */
export function brokerMaxPacketSize(client: FwClient): number {
  return client.info?.properties?.maximumPacketSize ?? 268_435_460;
}

/** Up to `window` operations in flight; the first failure is thrown once the others settled. */
class Window {
  private readonly pending = new Set<Promise<unknown>>();
  private failure: unknown;
  private failed = false;

  constructor(private readonly size: number) {}

  async add(op: () => Promise<unknown>): Promise<void> {
    this.check();
    while (this.pending.size >= this.size) {
      await Promise.race(this.pending);
      this.check();
    }
    const p: Promise<unknown> = op().then(
      () => { this.pending.delete(p); },
      (err: unknown) => {
        this.pending.delete(p);
        if (!this.failed) [this.failed, this.failure] = [true, err];
      },
    );
    this.pending.add(p);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.race(this.pending);
    this.check();
  }

  /** Waits for what is in flight and ignores its outcome (after a failure of our own). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private check(): void {
    if (this.failed) throw this.failure;
  }
}

function windowSize(window: number | undefined): number {
  const w = window ?? DEFAULT_PUBLISH_WINDOW;
  if (!Number.isSafeInteger(w) || w < 1) throw fwError(FwErr.format, `publish window ${w} is not a positive integer`);
  return w;
}

/** The retained message on `topic` now, if any (subscribe, unsubscribe: see the header). */
async function readRetained(client: FwClient, topic: string): Promise<Buffer | undefined> {
  const sub = await client.subscribe(topic, { qos: 1 });
  await client.unsubscribe(topic);
  let found: Buffer | undefined;
  for await (const m of sub) if (m.topic === topic && m.retain) found = m.payload.length > 0 ? Buffer.from(m.payload) : undefined;
  return found;
}

export async function readRetainedManifest(client: FwClient, product: string): Promise<RetainedManifest | undefined> {
  const envelope = await readRetained(client, manifestTopic(assertProduct(product)));
  if (!envelope) return undefined;
  try {
    const env = parseEnvelope(envelope);
    const payload = decodeBase64(env.payload, 'envelope payload');
    // Not validateManifest: a manifest whose chunk list is off is still one whose chunks we delete.
    const m = parseManifest(payload);
    return { envelope, releaseId: releaseIdOf(payload), version: m.version, chunks: m.chunks.length };
  } catch {
    return { envelope, chunks: 0 };
  }
}

/** Empties the retained chunk topics 0…count-1 of a release. */
async function clearChunks(client: FwClient, product: string, releaseId: string, count: number, window: number): Promise<number> {
  const w = new Window(window);
  const empty = Buffer.alloc(0);
  for (let i = 0; i < count; i++) {
    const topic = chunkTopic(product, releaseId, i);
    await w.add(() => client.publish(topic, empty, { qos: 1, retain: true }));
  }
  await w.drain();
  return count;
}

export async function publishRelease(o: PublishReleaseOptions): Promise<PublishedRelease> {
  const { client } = o;
  const product = assertProduct(o.product);
  const window = windowSize(o.window);
  const log = o.log ?? (() => {});
  const { manifest, releaseId } = readManifest(o.manifestEnvelope);
  if (manifest.product !== product) throw fwError(FwErr.product, `the manifest is for product ${manifest.product}, not ${product}`);

  const max = brokerMaxPacketSize(client);
  const last = manifest.chunks.length - 1;
  const chunkPacket = publishPacketBytes(chunkTopic(product, releaseId, last), CHUNK_HEADER_BYTES + manifest.chunkSize);
  if (chunkPacket > max) {
    throw fwError(FwErr.tooLarge, `a chunk of ${manifest.chunkSize} bytes makes a ${chunkPacket}-byte PUBLISH, over the broker's Maximum Packet Size of ${max}: sign with a smaller --chunk-size`);
  }
  const manifestPacket = publishPacketBytes(manifestTopic(product), o.manifestEnvelope.length);
  if (manifestPacket > max) {
    throw fwError(FwErr.tooLarge, `the manifest makes a ${manifestPacket}-byte PUBLISH, over the broker's Maximum Packet Size of ${max}: sign with a larger --chunk-size`);
  }
  const size = (await stat(o.imagePath).catch((e: unknown) => { throw fwError(FwErr.image, `cannot read image ${o.imagePath}`, e); })).size;
  if (size !== manifest.size) throw fwError(FwErr.image, `image ${o.imagePath} has ${size} bytes, the manifest says ${manifest.size}`);

  const previous = await readRetainedManifest(client, product);
  if (previous && !previous.releaseId) log('the retained manifest is not readable: the chunks of the release before cannot be found, none deleted');

  log(`publishing release ${releaseId} (version ${manifest.version}): ${manifest.chunks.length} chunks of ${manifest.chunkSize} bytes`);
  const w = new Window(window);
  const whole = createHash('sha256');
  let sent = 0;
  try {
    for await (const { index, data } of imageChunks(o.imagePath, manifest.chunkSize)) {
      const want = manifest.chunks[index];
      if (want === undefined || createHash('sha256').update(data).digest('hex') !== want) {
        throw fwError(FwErr.image, `chunk ${index} of ${o.imagePath} is not the manifest's: the image is not the one that was signed`);
      }
      whole.update(data);
      const payload = encodeChunk(index, data);
      await w.add(() => client.publish(chunkTopic(product, releaseId, index), payload, { qos: 1, retain: true }));
      sent = index + 1;
    }
    if (sent !== manifest.chunks.length || whole.digest('hex') !== manifest.sha256) {
      throw fwError(FwErr.image, `${o.imagePath} is not the image the manifest describes`);
    }
    await w.drain();
  } catch (err) {
    // No manifest names these chunks: take them away again (best effort) unless they are the live release's.
    await w.settle();
    if (previous?.releaseId !== releaseId) await clearChunks(client, product, releaseId, sent, window).catch(() => 0);
    throw err;
  }
  log(`${sent} chunks published; publishing the manifest`);
  await client.publish(manifestTopic(product), o.manifestEnvelope, { qos: 1, retain: true });

  const result: PublishedRelease = { releaseId, version: manifest.version, chunks: sent, bytes: size, cleared: 0 };
  if (previous?.releaseId && previous.releaseId !== releaseId) {
    result.previousReleaseId = previous.releaseId;
    result.cleared = await clearChunks(client, product, previous.releaseId, previous.chunks, window);
    log(`release ${previous.releaseId} before it: ${result.cleared} retained chunks deleted`);
  }
  return result;
}

export interface PublishTrustOptions {
  client: FwClient;
  product: string;
  /** A trust list signed with `signTrustList` (an envelope, as `moat fw trust create --sign-key` writes). */
  trustEnvelope: Buffer;
}

/** Publishes a signed trust list retained; its shape is checked first (devices check the signature). */
export async function publishTrust(o: PublishTrustOptions): Promise<{ sequence: number }> {
  const product = assertProduct(o.product);
  const env = parseEnvelope(o.trustEnvelope);
  const list = parseTrustList(decodeBase64(env.payload, 'envelope payload'));
  await o.client.publish(trustTopic(product), o.trustEnvelope, { qos: 1, retain: true });
  return { sequence: list.sequence };
}

export interface ClearReleaseOptions {
  client: FwClient;
  product: string;
  window?: number;
}

/** Ends the campaign: the retained manifest emptied first (no device starts on it), then its chunks. */
export async function clearRelease(o: ClearReleaseOptions): Promise<{ releaseId?: string; cleared: number }> {
  const product = assertProduct(o.product);
  const window = windowSize(o.window);
  const previous = await readRetainedManifest(o.client, product);
  await o.client.publish(manifestTopic(product), Buffer.alloc(0), { qos: 1, retain: true });
  if (!previous?.releaseId) return { cleared: 0 };
  return { releaseId: previous.releaseId, cleared: await clearChunks(o.client, product, previous.releaseId, previous.chunks, window) };
}

/**
 * The device agent's files under its state directory:
 *   state.json               {format, product, deviceId, running, trust, lastRelease?}: what survives everything
 *   staging/<id>.part        the image being received, written at index × chunkSize (never held in memory)
 *   staging/<id>.json        {releaseId, envelope, verified: base64 bitmap} — which chunks of .part are verified
 *   ready/<product>-<version>.bin   a verified image, renamed there atomically before the install hook
 * Every JSON file is written to <file>.tmp, fsync'd, renamed over the file, and the folder fsync'd: after a
 * crash (SIGKILL, power loss) it is the old or the new version, never half. A bitmap only ever claims chunks
 * whose bytes were fsync'd into .part before it was written, so a resumed download trusts it.
 *
 *   writeJsonAtomic(path, value)
 *   loadAgentState(dir, defaults) → AgentState;  saveAgentState(dir, state)
 *   Staging.create(dir, releaseId, envelope, manifest) / Staging.resume(dir) → the staging found (others removed)
 *   staging.has(i) / mark(i) / write(i, data) / checkpoint() / verifiedCount / verifiedBytes / close() / remove()
 *   staging.promote(readyPath): fsync, rename .part → readyPath, remove the json
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { chunkCount, chunkLength, chunkOffset } from './chunks.js';
import { parseEnvelope, type Envelope } from './envelope.js';
import { FwErr, fwError } from './errors.js';
import { isMoatError } from '../codec/index.js';
import type { Manifest } from './manifest.js';
import { parseTrustList, type TrustList } from './trust.js';
import { isVersion } from './version.js';

export const STATE_FORMAT = 'moat-fw-agent-state';
const STAGING_FORMAT = 'moat-fw-staging';
const RELEASE_FILE = /^([0-9a-f]{32})\.json$/;

export interface LastRelease {
  id: string;
  /** 'installing': the hook was running when this was written (a crash or a reboot by the hook leaves it). */
  state: 'installing' | 'installed' | 'failed';
  version?: string;
  code?: string;
  /** Why it failed, kept so that a restarted agent can say it again (its retained status stays meaningful). */
  reason?: string;
}

export interface AgentState {
  format: typeof STATE_FORMAT;
  product: string;
  deviceId: string;
  running: string;
  trust: TrustList;
  /** The last release handled to the end: the same manifest seen again (retained, on reconnect) is not retried. */
  lastRelease?: LastRelease;
}

/** I/O failures of the state directory become MOAT_ERR_FW_STAGING (a refusal keeps its own code). */
async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isMoatError(e)) throw e;
    throw fwError(FwErr.staging, `${what}: ${(e as Error).message}`, e);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await io(`cannot write ${path}`, async () => {
    const tmp = `${path}.tmp`;
    const h = await open(tmp, 'w', 0o600);
    try {
      await h.writeFile(JSON.stringify(value));
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
  });
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fwError(FwErr.staging, `cannot read ${path}`, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fwError(FwErr.staging, `${path} is not JSON`, e);
  }
}

export async function loadAgentState(dir: string, defaults: Omit<AgentState, 'format'>): Promise<AgentState> {
  const path = join(dir, 'state.json');
  const v = (await readJson(path)) as Record<string, unknown> | undefined;
  if (v === undefined) {
    const fresh: AgentState = { format: STATE_FORMAT, ...defaults };
    await saveAgentState(dir, fresh);
    return fresh;
  }
  if (typeof v !== 'object' || v === null || v.format !== STATE_FORMAT || !isVersion(v.running)) {
    throw fwError(FwErr.staging, `${path} is not a firmware agent state file`);
  }
  // One state directory per device: another product's or device's state would mean a wrong running version.
  if (v.product !== defaults.product || v.deviceId !== defaults.deviceId) {
    throw fwError(FwErr.staging, `${path} belongs to ${String(v.product)}/${String(v.deviceId)}, not ${defaults.product}/${defaults.deviceId}`);
  }
  let trust: TrustList;
  try {
    trust = parseTrustList(v.trust as object);
  } catch (e) {
    throw fwError(FwErr.staging, `${path} holds no valid trust list`, e);
  }
  const last = v.lastRelease as LastRelease | undefined;
  return {
    format: STATE_FORMAT, product: defaults.product, deviceId: defaults.deviceId, running: v.running, trust,
    ...(last && typeof last.id === 'string' ? { lastRelease: last } : {}),
  };
}

export function saveAgentState(dir: string, state: AgentState): Promise<void> {
  return writeJsonAtomic(join(dir, 'state.json'), state);
}

interface StagingRecord {
  format: typeof STAGING_FORMAT;
  releaseId: string;
  envelope: Envelope;
  verified: string;
}

export class Staging {
  private dirty = false;
  private verified: number;
  private bytes: number;

  private constructor(
    readonly dir: string, readonly releaseId: string, readonly envelope: Envelope, readonly manifest: Manifest,
    private readonly bitmap: Uint8Array, private handle: FileHandle | undefined,
  ) {
    this.verified = 0;
    this.bytes = 0;
    for (let i = 0; i < chunkCount(manifest); i++) {
      if (this.has(i)) {
        this.verified++;
        this.bytes += chunkLength(manifest, i);
      }
    }
  }

  get partPath(): string {
    return join(this.dir, `${this.releaseId}.part`);
  }

  private get jsonPath(): string {
    return join(this.dir, `${this.releaseId}.json`);
  }

  get verifiedCount(): number {
    return this.verified;
  }

  get verifiedBytes(): number {
    return this.bytes;
  }

  get complete(): boolean {
    return this.verified === chunkCount(this.manifest);
  }

  /** A new staging: an empty .part and a json with no chunk verified. Removes whatever else is staged. */
  static async create(dir: string, releaseId: string, envelope: Envelope, manifest: Manifest): Promise<Staging> {
    await clearStaging(dir);
    const bitmap = new Uint8Array(Math.ceil(chunkCount(manifest) / 8));
    const handle = await io(`cannot create ${releaseId}.part`, () =>
      open(join(dir, `${releaseId}.part`), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o600));
    const s = new Staging(dir, releaseId, envelope, manifest, bitmap, handle);
    s.dirty = true;
    await s.checkpoint();
    return s;
  }

  /**
   * The staging left by an earlier run, if its json and .part are both there; anything else in the folder
   * (temp files, a .part without json, a second release) is removed. `parse` re-checks the envelope.
   */
  static async resume(dir: string, parse: (envelope: Envelope) => Manifest): Promise<Staging | undefined> {
    const names = await io(`cannot list ${dir}`, () => readdir(dir));
    let found: Staging | undefined;
    for (const name of names) {
      const m = RELEASE_FILE.exec(name);
      if (!m || found) continue;
      const id = m[1]!;
      const rec = (await readJson(join(dir, name)).catch(() => undefined)) as StagingRecord | undefined;
      const partExists = names.includes(`${id}.part`);
      if (!rec || rec.format !== STAGING_FORMAT || rec.releaseId !== id || !partExists) continue;
      let envelope: Envelope;
      let manifest: Manifest;
      try {
        envelope = parseEnvelope(rec.envelope);
        manifest = parse(envelope);
      } catch {
        continue; // not worth resuming: the caller sees the manifest again on its topic
      }
      const bitmap = new Uint8Array(Buffer.from(String(rec.verified), 'base64'));
      if (bitmap.length !== Math.ceil(chunkCount(manifest) / 8)) continue;
      const handle = await io(`cannot open ${id}.part`, () => open(join(dir, `${id}.part`), constants.O_RDWR));
      found = new Staging(dir, id, envelope, manifest, bitmap, handle);
    }
    await clearStaging(dir, found?.releaseId);
    return found;
  }

  has(index: number): boolean {
    return ((this.bitmap[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  /** Writes a verified chunk at its place and marks it (on disk at the next checkpoint). */
  async write(index: number, data: Buffer): Promise<void> {
    if (this.has(index)) return;
    const handle = this.handle;
    if (!handle) throw fwError(FwErr.staging, 'staging is closed');
    await io(`cannot write ${this.partPath}`, async () => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, chunkOffset(this.manifest, index) + done);
        done += bytesWritten;
      }
    });
    this.bitmap[index >> 3]! |= 1 << (index & 7);
    this.verified++;
    this.bytes += data.length;
    this.dirty = true;
  }

  /** Makes the chunks written so far durable: fsync .part, then the json that claims them. */
  async checkpoint(): Promise<void> {
    if (!this.dirty || !this.handle) return;
    this.dirty = false;
    await io(`cannot sync ${this.partPath}`, () => this.handle!.datasync());
    const rec: StagingRecord = {
      format: STAGING_FORMAT, releaseId: this.releaseId, envelope: this.envelope, verified: Buffer.from(this.bitmap).toString('base64'),
    };
    await writeJsonAtomic(this.jsonPath, rec);
  }

  /** Saves the state and closes the file; the staging stays for a later resume. */
  async close(): Promise<void> {
    if (!this.handle) return;
    try {
      await this.checkpoint();
    } finally {
      const h = this.handle;
      this.handle = undefined;
      await h.close().catch(() => {});
    }
  }

  /** Closes and deletes this release's files (a refusal, an abandoned release). */
  async remove(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => {});
    await clearStaging(this.dir);
  }

  /** The image is complete and verified: rename .part to `readyPath`, remove the json. */
  async promote(readyPath: string): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await io(`cannot move the image to ${readyPath}`, async () => {
      if (h) {
        await h.sync();
        await h.close();
      }
      await mkdir(dirname(readyPath), { recursive: true });
      await rename(this.partPath, readyPath);
      await fsyncDir(dirname(readyPath));
    });
    await clearStaging(this.dir);
  }
}

/** Removes everything in the staging folder except `keep`'s two files. */
export async function clearStaging(dir: string, keep?: string): Promise<void> {
  await io(`cannot clean ${dir}`, async () => {
    for (const name of await readdir(dir)) {
      if (keep && (name === `${keep}.part` || name === `${keep}.json`)) continue;
      await rm(join(dir, name), { force: true, recursive: true });
    }
    await fsyncDir(dir);
  });
}

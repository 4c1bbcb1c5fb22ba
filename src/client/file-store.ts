/**
 * An InflightStore kept in one JSON file, rewritten on every change: written to a temporary file and
 * fsync'd, renamed over the old one, then the folder fsync'd — so a crash or a power loss leaves the
 * old or the new state, never half of one, and a change is on disk before the packet it records goes
 * out. Enough for a device that publishes a few QoS 1/2 messages a second and must survive a restart
 * without losing or duplicating a QoS 2 message; `moat/client/sqlite-store` for higher rates.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { MoatError } from '../codec/index.js';
import type { InflightStore, OutgoingRecord } from './inflight-store.js';

interface FileRecord extends Omit<OutgoingRecord, 'payload' | 'properties'> {
  payload: string;
  properties?: Record<string, unknown>;
}

/** Buffers inside properties (correlation data) survive JSON as base64. */
export const encodeProps = (p: OutgoingRecord['properties']): Record<string, unknown> | undefined => p === undefined ? undefined
  : Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Buffer.isBuffer(v) ? { $b64: v.toString('base64') } : v]));
export const decodeProps = (p: Record<string, unknown> | undefined): OutgoingRecord['properties'] => p === undefined ? undefined
  : Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v !== null && typeof v === 'object' && '$b64' in v
    ? Buffer.from(String((v as { $b64: string }).$b64), 'base64') : v])) as OutgoingRecord['properties'];

export class FileInflightStore implements InflightStore {
  private readonly out = new Map<number, OutgoingRecord>();
  private readonly inc = new Set<number>();

  constructor(readonly path: string) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const data = JSON.parse(text) as { outgoing: FileRecord[]; incoming: number[] };
      for (const r of data.outgoing) {
        const { payload, properties, ...rest } = r;
        const props = decodeProps(properties);
        this.out.set(r.packetId, { ...rest, payload: Buffer.from(payload, 'base64'), ...(props ? { properties: props } : {}) });
      }
      for (const id of data.incoming) this.inc.add(id);
    } catch (cause) {
      throw new MoatError('MOAT_ERR_CONFIG', `in-flight store ${path} is not valid JSON`, { cause });
    }
  }

  private save(): void {
    const outgoing: FileRecord[] = [...this.out.values()].map((r) => {
      const props = encodeProps(r.properties);
      return { ...r, payload: r.payload.toString('base64'), ...(props ? { properties: props } : {}) };
    });
    const tmp = `${this.path}.tmp`;
    // Payloads are the application's data: owner only.
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ outgoing, incoming: [...this.inc] }));
      fsyncSync(fd); // the new content is on disk before it replaces the old
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    syncFolder(dirname(this.path)); // and the rename itself survives a power loss
  }

  putOutgoing(record: OutgoingRecord): void {
    this.out.set(record.packetId, record);
    this.save();
  }
  getOutgoing(packetId: number): OutgoingRecord | undefined {
    return this.out.get(packetId);
  }
  deleteOutgoing(packetId: number): void {
    if (this.out.delete(packetId)) this.save();
  }
  outgoing(): OutgoingRecord[] {
    return [...this.out.values()];
  }
  addIncoming(packetId: number): void {
    if (this.inc.has(packetId)) return;
    this.inc.add(packetId);
    this.save();
  }
  hasIncoming(packetId: number): boolean {
    return this.inc.has(packetId);
  }
  deleteIncoming(packetId: number): void {
    if (this.inc.delete(packetId)) this.save();
  }
  clearIncoming(): void {
    if (this.inc.size === 0) return;
    this.inc.clear();
    this.save();
  }
}

/** fsync of a folder makes a rename in it durable (POSIX); Windows cannot open a folder for it. */
function syncFolder(path: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Test-only helpers for the device agent: releases built in memory (so that even inconsistent manifests
 * can be signed), a tiny publisher of retained chunks and manifests through Moat's client, and waits on
 * an agent's status. The real pusher is src/firmware/publisher.ts; this one stays small on purpose so
 * that agent tests can publish exactly the wrong thing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { connect, type MqttClient } from '../../src/client/index.js';
import {
  MANIFEST_TYPE, chunkTopic, encodeChunk, encodeEnvelope, manifestTopic, releaseIdOf, signEnvelope,
  type FirmwareAgent, type FirmwareStatus, type Manifest, type SignerKey,
} from '../../src/firmware/index.js';

export const NOW = Date.parse('2026-11-26T15:00:00.000Z');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface Release {
  image: Buffer;
  manifest: Manifest;
  /** the manifest envelope as published */
  envelope: Buffer;
  releaseId: string;
  /** the image cut in chunks */
  chunks: Buffer[];
}

export interface ReleaseSpec {
  product: string;
  version: string;
  image?: Buffer;
  /** default 1024 */
  chunkSize?: number;
  /** fields overriding the honest manifest (signed as given) */
  changes?: Partial<Manifest>;
  now?: number;
}

export function makeRelease(signer: SignerKey, spec: ReleaseSpec): Release {
  const image = spec.image ?? randomBytes(20 * 1024 + 7);
  const chunkSize = spec.chunkSize ?? 1024;
  const chunks: Buffer[] = [];
  for (let off = 0; off < image.length; off += chunkSize) chunks.push(image.subarray(off, off + chunkSize));
  const now = spec.now ?? NOW;
  const manifest: Manifest = {
    type: MANIFEST_TYPE, product: spec.product, version: spec.version, size: image.length, sha256: sha(image), chunkSize,
    chunks: chunks.map(sha), createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 24 * 3600_000).toISOString(),
    ...spec.changes,
  };
  const payload = Buffer.from(JSON.stringify(manifest));
  return { image, manifest, envelope: encodeEnvelope(signEnvelope(payload, signer)), releaseId: releaseIdOf(payload), chunks };
}

/** Publishes chunks retained QoS 1 (all, or `indexes`); `payload` may replace what goes on a chunk's topic. */
export async function publishChunks(
  client: MqttClient, rel: Release, indexes?: Iterable<number>, payload?: (index: number, data: Buffer) => Buffer,
): Promise<void> {
  const list = indexes ? [...indexes] : rel.chunks.map((_, i) => i);
  // 32 at a time: within the client's offline queue whatever the image size.
  for (let at = 0; at < list.length; at += 32) {
    await Promise.all(list.slice(at, at + 32).map((i) => {
      const data = rel.chunks[i]!;
      return client.publish(chunkTopic(rel.manifest.product, rel.releaseId, i), payload ? payload(i, data) : encodeChunk(i, data), { qos: 1, retain: true });
    }));
  }
}

export async function publishManifest(client: MqttClient, product: string, envelope: Buffer): Promise<void> {
  await client.publish(manifestTopic(product), envelope, { qos: 1, retain: true });
}

/** Chunks first, then the manifest: what a pusher does. */
export async function publishRelease(client: MqttClient, rel: Release): Promise<void> {
  await publishChunks(client, rel);
  await publishManifest(client, rel.manifest.product, rel.envelope);
}

/** Resolves with the first status (the current one included) that `pred` accepts. */
export function waitStatus(agent: FirmwareAgent, pred: (s: FirmwareStatus) => boolean, ms = 10_000): Promise<FirmwareStatus> {
  if (pred(agent.status)) return Promise.resolve(agent.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no such status within ${ms} ms; last: ${JSON.stringify(agent.status)}`)), ms);
    const on = (s: FirmwareStatus): void => {
      if (!pred(s)) return;
      clearTimeout(timer);
      agent.off('status', on);
      resolve(s);
    };
    agent.on('status', on);
  });
}

export const terminal = (s: FirmwareStatus): boolean => s.state === 'installed' || s.state === 'failed';

export async function listDir(path: string): Promise<string[]> {
  return (await readdir(path).catch(() => [] as string[])).sort();
}

/** The retained messages under `filter` now: SUBACK, then the retained messages, then our UNSUBACK. */
export async function retainedUnder(url: string, filter: string): Promise<Map<string, Buffer>> {
  const c = await connect(url, { reconnect: false });
  try {
    const sub = await c.subscribe(filter, { qos: 1, bufferSize: 100_000 });
    await c.unsubscribe(filter);
    const out = new Map<string, Buffer>();
    for await (const m of sub) if (m.retain) out.set(m.topic, Buffer.from(m.payload));
    return out;
  } finally {
    await c.end();
  }
}

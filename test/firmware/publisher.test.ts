/**
 * publishRelease / clearRelease / publishTrust against Moat's broker in-process on a real socket: chunks
 * retained before the manifest, the previous release's chunks deleted after it, the broker's Maximum
 * Packet Size respected, an image that is not the signed one refused with nothing left behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from '../../src/client/index.js';
import {
  FwErr, buildManifest, chunkTopic, clearRelease, createTrustList, decodeChunk, encodeEnvelope, generateSigner, manifestTopic,
  parseTrustList, publishRelease, publishTrust, releaseIdOf, signManifest, signTrustList, trustTopic, type FwClient,
} from '../../src/firmware/index.js';
import type { AuthorizePublishHook } from '../../src/broker/hooks.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { retainedUnder } from './support.js';

const signer = generateSigner();
const dir = mkdtempSync(join(tmpdir(), 'moat-fw-pub-'));
let broker: TestBroker;
const clients: MqttClient[] = [];

before(async () => {
  broker = await startBroker();
});
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await broker.close();
});

async function client(url = broker.url): Promise<MqttClient> {
  const c = await connect(url, { reconnect: false });
  clients.push(c);
  return c;
}

/** Polls a condition that a message on its way will make true (real sockets: no fixed sleep). */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let n = 0;
/** A fresh product, an image file and its signed manifest envelope. */
async function release(product: string, version: string, size: number, chunkSize: number, bytes = randomBytes(size)): Promise<{ image: Buffer; path: string; envelope: Buffer; releaseId: string }> {
  const path = join(dir, `image-${n++}.bin`);
  writeFileSync(path, bytes);
  const env = signManifest(await buildManifest(path, { product, version, chunkSize }), signer);
  return { image: bytes, path, envelope: encodeEnvelope(env), releaseId: releaseIdOf(Buffer.from(env.payload, 'base64')) };
}

const retained = (filter: string, url = broker.url): Promise<Map<string, Buffer>> => retainedUnder(url, filter);

test('publishRelease: every chunk retained (QoS 1) before the manifest, the image reassembles from them', async () => {
  const product = 'pub-order';
  const r = await release(product, '1.0.0', 10_000, 1024);
  const watcher = await client();
  const order: string[] = [];
  watcher.on('message', (m) => order.push(m.topic));
  await watcher.subscribe(`fw/${product}/#`, { qos: 1 });

  const pusher = await client();
  const result = await publishRelease({ client: pusher, product, manifestEnvelope: r.envelope, imagePath: r.path });
  assert.deepEqual(result, { releaseId: r.releaseId, version: '1.0.0', chunks: 10, bytes: 10_000, cleared: 0 });
  await until(() => order.length >= 11);
  assert.equal(order.length, 11);
  assert.equal(order.at(-1), manifestTopic(product), 'the manifest comes last');
  assert.deepEqual(new Set(order.slice(0, 10)), new Set([...Array(10).keys()].map((i) => chunkTopic(product, r.releaseId, i))));

  const kept = await retained(`fw/${product}/#`);
  assert.deepEqual(kept.get(manifestTopic(product)), r.envelope, 'the envelope bytes exactly as signed');
  const parts = [...Array(10).keys()].map((i) => decodeChunk(kept.get(chunkTopic(product, r.releaseId, i))!, i).data);
  assert.deepEqual(Buffer.concat(parts), r.image);
});

test('publishRelease keeps at most `window` publishes awaiting PUBACK', async () => {
  // A broker whose authorization hook takes 5 ms per PUBLISH: acknowledgements lag behind the reads, so
  // the window fills; it must never overflow.
  const slow: AuthorizePublishHook = () => new Promise((r) => setTimeout(() => r(true), 5));
  const b = await startBroker({}, { hooks: { authorizePublish: [slow] } });
  try {
    const product = 'pub-window';
    const r = await release(product, '1.0.0', 32 * 512, 512);
    const real = await client(b.url);
    let inFlight = 0;
    let most = 0;
    // The real client, counted: every publish still goes to the broker.
    const counted: FwClient = {
      get info() { return real.info; },
      subscribe: (f, o) => real.subscribe(f, o),
      unsubscribe: (f) => real.unsubscribe(f),
      publish: async (t, p, o) => {
        most = Math.max(most, ++inFlight);
        try {
          return await real.publish(t, p, o);
        } finally {
          inFlight--;
        }
      },
    };
    await publishRelease({ client: counted, product, manifestEnvelope: r.envelope, imagePath: r.path, window: 4 });
    assert.equal(most, 4, 'the window is used and never exceeded');
    assert.equal((await retained(`fw/${product}/chunk/#`, b.url)).size, 32);
  } finally {
    await b.close();
  }
});

test('a new release deletes the previous release\'s retained chunks after its manifest is out', async () => {
  const product = 'pub-replace';
  const first = await release(product, '1.0.0', 5000, 1000);
  const second = await release(product, '1.1.0', 3000, 1000);
  const pusher = await client();
  await publishRelease({ client: pusher, product, manifestEnvelope: first.envelope, imagePath: first.path });
  assert.equal((await retained(`fw/${product}/chunk/${first.releaseId}/+`)).size, 5);

  const result = await publishRelease({ client: pusher, product, manifestEnvelope: second.envelope, imagePath: second.path });
  assert.equal(result.previousReleaseId, first.releaseId);
  assert.equal(result.cleared, 5);
  const kept = await retained(`fw/${product}/#`);
  assert.deepEqual([...kept.keys()].sort(), [
    ...[0, 1, 2].map((i) => chunkTopic(product, second.releaseId, i)), manifestTopic(product),
  ].sort());
  assert.deepEqual(kept.get(manifestTopic(product)), second.envelope);

  // The same release pushed again deletes nothing.
  const again = await publishRelease({ client: pusher, product, manifestEnvelope: second.envelope, imagePath: second.path });
  assert.equal(again.cleared, 0);
  assert.equal(again.previousReleaseId, undefined);
  assert.equal((await retained(`fw/${product}/chunk/#`)).size, 3);
});

test('a chunk size that would exceed the broker\'s Maximum Packet Size is refused before anything is published', async () => {
  const small = await startBroker({ limits: { maxPacketSize: 4096 } });
  try {
    const product = 'pub-mps';
    const c = await client(small.url);
    assert.equal(c.info?.properties?.maximumPacketSize, 4096);
    const big = await release(product, '1.0.0', 10_000, 4096);
    await assert.rejects(publishRelease({ client: c, product, manifestEnvelope: big.envelope, imagePath: big.path }), { code: FwErr.tooLarge });
    // 4096 - 8 header - the topic (≈ 60) - the PUBLISH's own ≈ 14 bytes is too much too …
    const tight = await release(product, '1.0.0', 10_000, 4096 - 8 - 40);
    await assert.rejects(publishRelease({ client: c, product, manifestEnvelope: tight.envelope, imagePath: tight.path }), { code: FwErr.tooLarge });
    assert.equal((await retained(`fw/${product}/#`, small.url)).size, 0, 'nothing published');
    // … and what fits goes through.
    const fits = await release(product, '1.0.0', 10_000, 4000);
    const result = await publishRelease({ client: c, product, manifestEnvelope: fits.envelope, imagePath: fits.path });
    assert.equal(result.chunks, 3);
    assert.equal((await retained(`fw/${product}/#`, small.url)).size, 4);
  } finally {
    await small.close();
  }
});

test('an image that is not the signed one is refused (MOAT_ERR_FW_IMAGE) and leaves no chunk and no manifest', async () => {
  const product = 'pub-image';
  const r = await release(product, '1.0.0', 8000, 1000);
  const pusher = await client();
  const other = join(dir, 'other.bin');
  const tampered = Buffer.from(r.image);
  tampered.writeUInt8(tampered.readUInt8(5500) ^ 1, 5500);
  writeFileSync(other, tampered);
  await assert.rejects(publishRelease({ client: pusher, product, manifestEnvelope: r.envelope, imagePath: other }), { code: FwErr.image });
  writeFileSync(other, r.image.subarray(0, 7999));
  await assert.rejects(publishRelease({ client: pusher, product, manifestEnvelope: r.envelope, imagePath: other }), { code: FwErr.image });
  assert.equal((await retained(`fw/${product}/#`)).size, 0);
  await assert.rejects(publishRelease({ client: pusher, product: 'another', manifestEnvelope: r.envelope, imagePath: r.path }), { code: FwErr.product });
  await assert.rejects(publishRelease({ client: pusher, product, manifestEnvelope: Buffer.from('{}'), imagePath: r.path }), { code: FwErr.format });
});

test('clearRelease empties the retained manifest, then the chunks it named', async () => {
  const product = 'pub-clear';
  const r = await release(product, '2.0', 4000, 1000);
  const pusher = await client();
  await publishRelease({ client: pusher, product, manifestEnvelope: r.envelope, imagePath: r.path });
  assert.equal((await retained(`fw/${product}/#`)).size, 5);
  assert.deepEqual(await clearRelease({ client: pusher, product }), { releaseId: r.releaseId, cleared: 4 });
  assert.equal((await retained(`fw/${product}/#`)).size, 0);
  assert.deepEqual(await clearRelease({ client: pusher, product }), { cleared: 0 });
});

test('publishTrust publishes a signed trust list retained; an unsigned list is refused', async () => {
  const product = 'pub-trust';
  const next = createTrustList([signer, generateSigner('ecdsa-p256-sha256')], { sequence: 2 });
  const envelope = encodeEnvelope(signTrustList(next, signer));
  const pusher = await client();
  assert.deepEqual(await publishTrust({ client: pusher, product, trustEnvelope: envelope }), { sequence: 2 });
  const kept = await retained(trustTopic(product));
  assert.deepEqual(kept.get(trustTopic(product)), envelope);
  assert.equal(parseTrustList(Buffer.from(JSON.parse(envelope.toString()).payload, 'base64')).keys.length, 2);
  await assert.rejects(publishTrust({ client: pusher, product, trustEnvelope: Buffer.from(JSON.stringify(next)) }), { code: FwErr.format });
});

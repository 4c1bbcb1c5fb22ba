/**
 * What anyone who may publish on the firmware topics can send must not disturb a genuine release: a
 * garbage or refused manifest during a download, a forged copy of the genuine manifest, a release for
 * other devices; and a chunk size this device's client cannot receive is refused up front.
 * Against Moat's broker in-process (docs/firmware.md, "Noise on the topics").
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from '../../src/client/index.js';
import { FwErr, createTrustList, generateSigner, startAgent, type AgentOptions, type FirmwareAgent, type FirmwareStatus, type SignerKey } from '../../src/firmware/index.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { NOW, listDir, makeRelease, publishChunks, publishManifest, publishRelease, terminal, waitStatus } from './support.js';

let b: TestBroker;
let pusher: MqttClient;
let signer: SignerKey;

before(async () => {
  b = await startBroker();
  pusher = await connect(b.url, { reconnect: false });
  signer = generateSigner();
});
after(async () => {
  await pusher.end();
  await b.close();
});

interface Device { agent: FirmwareAgent; dir: string; statuses: FirmwareStatus[]; installs: string[] }

async function device(t: TestContext, product: string, over: Partial<AgentOptions> & { dir?: string; maximumPacketSize?: number } = {}): Promise<Device> {
  const dir = over.dir ?? await mkdtemp(join(tmpdir(), 'fwagent-noise-'));
  const client = await connect(b.url, { reconnect: false, ...(over.maximumPacketSize ? { maximumPacketSize: over.maximumPacketSize } : {}) });
  const installs: string[] = [];
  const agent = await startAgent({
    client, product, deviceId: 'dev-1', stateDir: dir, trust: createTrustList([signer]), runningVersion: '1.0.0',
    now: () => NOW, install: async (path) => { installs.push(path); }, ...over,
  });
  const statuses: FirmwareStatus[] = [agent.status];
  agent.on('status', (s) => statuses.push(s));
  t.after(async () => {
    await agent.close();
    await client.end();
  });
  return { agent, dir, statuses, installs };
}

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error('condition not met in time');
  }
}

/** A release 15 of 21 chunks in: the device downloading, its staging on disk. */
async function midDownload(t: TestContext, product: string): Promise<{ d: Device; rel: ReturnType<typeof makeRelease>; staged: string[] }> {
  const rel = makeRelease(signer, { product, version: '2.0.0' });
  await publishChunks(pusher, rel, [...Array(15).keys()]);
  await publishManifest(pusher, product, rel.envelope);
  const d = await device(t, product);
  await waitStatus(d.agent, (s) => s.state === 'downloading' && s.percent! >= 70);
  const staged = await listDir(join(d.dir, 'staging'));
  assert.deepEqual(staged, [`${rel.releaseId}.json`, `${rel.releaseId}.part`]);
  return { d, rel, staged };
}

const cases: Array<[string, (product: string) => Buffer]> = [
  ['bytes that are no envelope', () => Buffer.from('not even json')],
  ['a manifest signed by an unknown key', (product) => makeRelease(generateSigner(), { product, version: '3.0.0' }).envelope],
  ['a signed rollback (older than running)', (product) => makeRelease(signer, { product, version: '0.9.0' }).envelope],
  ['a signed release for other devices', (product) => makeRelease(signer, { product, version: '3.0.0', changes: { target: { devices: ['dev-9'] } } }).envelope],
  ['a signed release for another product', () => makeRelease(signer, { product: 'toaster', version: '3.0.0' }).envelope],
];
cases.forEach(([name, bogus], n) => {
  test(`during a download, ${name} on the manifest topic is refused without touching it`, async (t) => {
    const product = `noise-${n}`;
    const { d, rel, staged } = await midDownload(t, product);
    await pusher.publish(`fw/${product}/manifest`, bogus(product), { qos: 1, retain: false });
    await until(() => d.agent.counters.refusedManifests >= 1);
    assert.deepEqual(await listDir(join(d.dir, 'staging')), staged);
    assert.equal(d.agent.status.state, 'downloading');
    assert.ok(!d.statuses.some((s) => s.state === 'failed'), JSON.stringify(d.statuses));
    assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).lastRelease, undefined);
    await publishChunks(pusher, rel, [15, 16, 17, 18, 19, 20]);
    const s = await waitStatus(d.agent, terminal);
    assert.deepEqual({ state: s.state, release: s.release }, { state: 'installed', release: rel.releaseId });
  });
});

test('a forged copy (bad signature) of the genuine manifest does not block the genuine one', async (t) => {
  const product = 'noise-forged';
  const rel = makeRelease(signer, { product, version: '2.0.0' });
  const env = JSON.parse(rel.envelope.toString()) as { sig: string };
  const sig = Buffer.from(env.sig, 'base64');
  sig[0] = sig[0]! ^ 1;
  await publishChunks(pusher, rel);
  await publishManifest(pusher, product, Buffer.from(JSON.stringify({ ...env, sig: sig.toString('base64') })));
  const d = await device(t, product);
  assert.equal((await waitStatus(d.agent, terminal)).code, FwErr.signature);
  assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).lastRelease, undefined, 'not remembered');
  await publishManifest(pusher, product, rel.envelope);
  const s = await waitStatus(d.agent, (x) => x.state === 'installed');
  assert.equal(s.release, rel.releaseId);
});

test('a chunk size whose PUBLISH exceeds the Maximum Packet Size the device announced: MOAT_ERR_FW_TOO_LARGE up front', async (t) => {
  const product = 'noise-maxpacket';
  const rel = makeRelease(signer, { product, version: '2.0.0', image: Buffer.alloc(96 * 1024, 7), chunkSize: 64 * 1024 });
  await publishRelease(pusher, rel);
  const d = await device(t, product, { maximumPacketSize: 64 * 1024 });
  const s = await waitStatus(d.agent, terminal);
  assert.deepEqual({ state: s.state, code: s.code, release: s.release }, { state: 'failed', code: FwErr.tooLarge, release: rel.releaseId });
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  // The same chunk size fits a device that announces more.
  const big = await device(t, product, { maximumPacketSize: 64 * 1024 + 200 });
  assert.equal((await waitStatus(big.agent, terminal)).state, 'installed');
});

test('chunks over the queue cap are dropped and asked for again: the release still completes', async (t) => {
  const product = 'noise-cap';
  const rel = makeRelease(signer, { product, version: '2.0.0' }); // 21 chunks of 1 KiB, all retained
  await publishRelease(pusher, rel);
  const d = await device(t, product, { maxQueuedChunkBytes: 3 * 1032 });
  const s = await waitStatus(d.agent, terminal);
  assert.deepEqual({ state: s.state, release: s.release }, { state: 'installed', release: rel.releaseId });
  assert.ok(d.agent.counters.queueDrops > 0, 'the 21 retained chunks came at once: some were over the cap');
  assert.equal(d.agent.counters.badChunks, 0);
});

test('manifests received while the queue is busy are coalesced: only the latest is handled', async (t) => {
  const product = 'noise-coalesce';
  const rel = makeRelease(signer, { product, version: '2.0.0' });
  let release!: () => void;
  const hookHeld = new Promise<void>((r) => { release = r; });
  let entered!: () => void;
  const inHook = new Promise<void>((r) => { entered = r; });
  await publishRelease(pusher, rel);
  const d = await device(t, product, { install: async () => { entered(); await hookHeld; } });
  await inHook; // the queue is busy with the install step
  const observer = await connect(b.url, { reconnect: false });
  t.after(() => observer.end());
  const sub = await observer.subscribe(`fw/${product}/manifest`, { qos: 1 });
  for (let i = 0; i < 20; i++) await pusher.publish(`fw/${product}/manifest`, Buffer.from(`garbage ${i}`), { qos: 1 });
  let seen = 0;
  for await (const m of sub) if (m.payload.toString().startsWith('garbage') && ++seen === 20) break;
  await new Promise((r) => setTimeout(r, 200)); // the device's copies arrive alongside the observer's
  release();
  assert.equal((await waitStatus(d.agent, terminal)).state, 'installed');
  await until(() => d.agent.counters.refusedManifests >= 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(d.agent.counters.refusedManifests, 1, 'one job for the 20 manifests queued behind the hook');
});

/**
 * The device agent against Moat's broker in-process (real sockets): a release installed, a download
 * resumed by a new agent on the same state directory, a newer manifest abandoning an older download.
 * The refusals are in agent-refusals.test.ts, the SIGKILLed process in agent-restart.test.ts.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from '../../src/client/index.js';
import {
  FwErr, createTrustList, generateSigner, parseStatus, startAgent, statusTopic,
  type AgentOptions, type FirmwareAgent, type FirmwareStatus, type Manifest, type SignerKey,
} from '../../src/firmware/index.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import {
  NOW, listDir, makeRelease, publishChunks, publishManifest, publishRelease, terminal, waitStatus,
} from './support.js';

let b: TestBroker;
const pattern = (n: number, k: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * k + (i >> 10)) & 0xff));
let pusher: MqttClient;
let signer: SignerKey;

before(async () => {
  b = await startBroker();
  pusher = await connect(b.url, { reconnect: false, clientId: 'fw-test-pusher' });
  signer = generateSigner();
});

after(async () => {
  await pusher.end();
  await b.close();
});

interface Device {
  agent: FirmwareAgent;
  client: MqttClient;
  dir: string;
  installs: Array<{ path: string; version: string; bytes: Buffer }>;
  statuses: FirmwareStatus[];
  logs: string[];
  /** chunk index per delivery, by release id — counted from before the agent starts */
  chunks: (releaseId: string) => number[];
  /** most chunk filters subscribed at once, and in one SUBSCRIBE */
  window: { max: number; largestSubscribe: number; readonly now: number };
}

async function device(t: TestContext, product: string, over: Partial<AgentOptions> & { dir?: string } = {}): Promise<Device> {
  const dir = over.dir ?? await mkdtemp(join(tmpdir(), 'fwagent-'));
  const client = await connect(b.url, { reconnect: false });
  const seen: Array<[string, number]> = [];
  client.on('message', (m) => {
    const hit = /\/chunk\/([0-9a-f]{32})\/(\d+)$/.exec(m.topic);
    if (hit && m.payload.length > 0) seen.push([hit[1]!, Number(hit[2])]);
  });
  const chunks = (id: string): number[] => seen.filter(([r]) => r === id).map(([, i]) => i);
  // The chunk filters the agent holds at the broker, in the order its requests go out (the real client's
  // calls, observed): never more than the window.
  const held = new Set<string>();
  const window = { max: 0, largestSubscribe: 0, get now(): number { return held.size; } };
  const subscribe = client.subscribe.bind(client);
  const unsubscribe = client.unsubscribe.bind(client);
  client.subscribe = (filters, opts) => {
    const list = (Array.isArray(filters) ? filters : [filters]).filter((f) => f.includes('/chunk/'));
    for (const f of list) held.add(f);
    window.max = Math.max(window.max, held.size);
    window.largestSubscribe = Math.max(window.largestSubscribe, list.length);
    return subscribe(filters, opts);
  };
  client.unsubscribe = (filters) => {
    for (const f of Array.isArray(filters) ? filters : [filters]) held.delete(f);
    return unsubscribe(filters);
  };
  const installs: Device['installs'] = [];
  const logs: string[] = [];
  const agent = await startAgent({
    client, product, deviceId: 'dev-1', stateDir: dir, trust: createTrustList([signer]), runningVersion: '1.0.0', now: () => NOW,
    install: async (path: string, m: Manifest) => { installs.push({ path, version: m.version, bytes: await readFile(path) }); },
    log: (l) => logs.push(l),
    ...over,
  });
  const statuses: FirmwareStatus[] = [agent.status];
  agent.on('status', (s) => statuses.push(s));
  t.after(async () => {
    await agent.close();
    await client.end();
  });
  return { agent, client, dir, installs, statuses, logs, chunks, window };
}

test('a release of 101 chunks is downloaded in windows, verified, renamed to ready/ and installed; status installed, staging empty', async (t) => {
  const rel = makeRelease(signer, { product: 'happy', version: '1.1.0', image: pattern(100 * 1024 + 7, 31) });
  await publishChunks(pusher, rel);
  const d = await device(t, 'happy');
  assert.equal(d.agent.status.state, 'idle');
  assert.equal(d.agent.status.running, '1.0.0');
  const started = performance.now();
  await publishManifest(pusher, 'happy', rel.envelope);
  const s = await waitStatus(d.agent, (x) => x.state === 'installed' || x.state === 'failed');
  assert.equal(s.state, 'installed', JSON.stringify(s));
  assert.deepEqual({ release: s.release, version: s.version, running: s.running }, { release: rel.releaseId, version: '1.1.0', running: '1.1.0' });
  const ready = join(d.dir, 'ready', 'happy-1.1.0.bin');
  assert.deepEqual(d.installs.map((i) => i.path), [ready]);
  assert.ok(d.installs[0]!.bytes.equals(rel.image));
  assert.ok((await readFile(ready)).equals(rel.image));
  assert.equal(d.agent.running, '1.1.0');
  assert.equal(JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8')).running, '1.1.0');
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  // Every chunk exactly once: exact topics, nothing subscribed twice.
  assert.deepEqual(d.chunks(rel.releaseId).sort((x, y) => x - y), rel.chunks.map((_, i) => i));
  const states = d.statuses.map((x) => x.state);
  assert.deepEqual([...new Set(states)], ['idle', 'downloading', 'verified', 'installed']);
  assert.ok(d.window.max <= 64 && d.window.largestSubscribe <= 64 && d.window.max > 32, JSON.stringify(d.window));
  assert.equal(d.window.now, 0, 'every chunk topic unsubscribed once received');
  // Progress at most every 5 % (or 1 s: a slow run may add one status per second it took).
  const percents = d.statuses.filter((x) => x.state === 'downloading').map((x) => x.percent!);
  assert.ok(percents.length <= 21 + Math.floor((performance.now() - started) / 1000), `percents: ${percents}`);
  // The retained status on the broker is the last one, as other clients (the pusher) see it.
  const observer = await connect(b.url, { reconnect: false });
  t.after(() => observer.end());
  const sub = await observer.subscribe(statusTopic('happy', 'dev-1'), { qos: 1 });
  for await (const m of sub) {
    assert.equal(parseStatus(m.payload).state, 'installed');
    break;
  }
  // The same release seen again (a new agent: the retained manifest on subscribe) is not installed twice.
  await d.agent.close();
  const again = await device(t, 'happy', { dir: d.dir });
  assert.equal(again.agent.running, '1.1.0');
  const next = makeRelease(signer, { product: 'happy', version: '1.2.0' });
  await publishRelease(pusher, next);
  // It starts by saying its last outcome again (installed 1.1.0), then installs 1.2.0.
  assert.deepEqual({ state: again.agent.status.state, version: again.agent.status.version }, { state: 'installed', version: '1.1.0' });
  assert.equal((await waitStatus(again.agent, (x) => terminal(x) && x.version === '1.2.0')).state, 'installed');
  assert.deepEqual(again.installs.map((i) => i.version), ['1.2.0']);
  assert.ok(!again.statuses.some((x) => x.state === 'failed'), JSON.stringify(again.statuses));
  assert.deepEqual(await listDir(join(d.dir, 'ready')), ['happy-1.2.0.bin']);
});

test('an agent closed mid-download leaves its staging; a new agent on the same state dir downloads only the missing chunks', async (t) => {
  const rel = makeRelease(signer, { product: 'resume', version: '2.0.0', image: pattern(40 * 1024 + 5, 7) });
  const first = rel.chunks.map((_, i) => i).filter((i) => i % 3 !== 2); // chunks 2, 5, 8, … held back
  await publishChunks(pusher, rel, first);
  await publishManifest(pusher, 'resume', rel.envelope);
  const d1 = await device(t, 'resume');
  while (d1.chunks(rel.releaseId).length < first.length) await new Promise((r) => setTimeout(r, 10));
  await waitStatus(d1.agent, (x) => x.state === 'downloading' && x.percent! >= 60);
  await d1.agent.close();
  await d1.client.end();
  assert.deepEqual(d1.installs, []);
  assert.deepEqual(await listDir(join(d1.dir, 'staging')), [`${rel.releaseId}.json`, `${rel.releaseId}.part`]);
  // close() finishes the step under way and drops the queued ones: the json says what is verified.
  const staged = JSON.parse(await readFile(join(d1.dir, 'staging', `${rel.releaseId}.json`), 'utf8'));
  const bits = Buffer.from(staged.verified, 'base64');
  const verified = rel.chunks.map((_, i) => i).filter((i) => bits[i >> 3]! & (1 << (i & 7)));
  assert.ok(verified.length > first.length / 2 && verified.every((i) => first.includes(i)), `verified: ${verified}`);

  const d2 = await device(t, 'resume', { dir: d1.dir });
  assert.equal(d2.agent.status.state, 'downloading');
  await publishChunks(pusher, rel, rel.chunks.map((_, i) => i).filter((i) => i % 3 === 2));
  const s = await waitStatus(d2.agent, (x) => x.state === 'installed' || x.state === 'failed');
  assert.equal(s.state, 'installed', JSON.stringify(s));
  const missing = rel.chunks.map((_, i) => i).filter((i) => !verified.includes(i));
  assert.deepEqual(d2.chunks(rel.releaseId).sort((x, y) => x - y), missing, 'the second agent received exactly the chunks the first had not verified');
  assert.ok(d2.installs[0]!.bytes.equals(rel.image));
  assert.deepEqual(await listDir(join(d1.dir, 'staging')), []);
});

test('a newer manifest mid-download abandons the older release: its staging is deleted, only the newer is installed', async (t) => {
  const old = makeRelease(signer, { product: 'switch', version: '3.0.0' });
  const newer = makeRelease(signer, { product: 'switch', version: '3.1.0' });
  await publishChunks(pusher, old, [0, 1, 2, 3]);
  await publishManifest(pusher, 'switch', old.envelope);
  const d = await device(t, 'switch');
  while (d.chunks(old.releaseId).length < 4) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(await listDir(join(d.dir, 'staging')), [`${old.releaseId}.json`, `${old.releaseId}.part`]);
  await publishRelease(pusher, newer);
  const s = await waitStatus(d.agent, (x) => x.state === 'installed' || x.state === 'failed');
  assert.deepEqual({ state: s.state, release: s.release }, { state: 'installed', release: newer.releaseId });
  assert.deepEqual(d.installs.map((i) => i.version), ['3.1.0']);
  assert.ok(d.installs[0]!.bytes.equals(newer.image));
  // The old release's remaining chunks arriving now change nothing.
  await publishChunks(pusher, old);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(d.chunks(old.releaseId).length, 4, 'no chunk of the abandoned release after the switch (unsubscribed)');
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  assert.deepEqual(await listDir(join(d.dir, 'ready')), ['switch-3.1.0.bin']);
  assert.equal(d.agent.running, '3.1.0');
});

test('an older signed manifest replayed mid-download does not replace the newer release (MOAT_ERR_FW_ROLLBACK, logged); the newer one is installed', async (t) => {
  const fix = makeRelease(signer, { product: 'replay', version: '2.1.0' });
  const flawed = makeRelease(signer, { product: 'replay', version: '2.0.0' });
  await publishChunks(pusher, fix, [0, 1, 2]);
  await publishChunks(pusher, flawed);
  await publishManifest(pusher, 'replay', fix.envelope);
  const d = await device(t, 'replay');
  while (d.chunks(fix.releaseId).length < 3) await new Promise((r) => setTimeout(r, 10));
  // Valid signature, not expired, newer than the running 1.0.0 — but older than the release in progress.
  await publishManifest(pusher, 'replay', flawed.envelope);
  const refused = (): boolean => d.logs.some((l) => l.includes(`manifest ${flawed.releaseId} refused`) && l.includes(FwErr.rollback));
  for (let i = 0; i < 500 && !refused(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(refused(), d.logs.join('\n'));
  await publishChunks(pusher, fix);
  const s = await waitStatus(d.agent, terminal);
  assert.deepEqual({ state: s.state, release: s.release }, { state: 'installed', release: fix.releaseId });
  assert.deepEqual(d.installs.map((i) => i.version), ['2.1.0']);
  assert.ok(!d.statuses.some((x) => x.release === flawed.releaseId), 'no status for the replayed release while the fix downloads');
});

test('an empty retained manifest withdraws the campaign: the download stops, staging is deleted, status idle', async (t) => {
  const rel = makeRelease(signer, { product: 'withdrawn', version: '1.1.0' });
  await publishChunks(pusher, rel, [0, 1, 2]);
  await publishManifest(pusher, 'withdrawn', rel.envelope);
  const d = await device(t, 'withdrawn');
  while (d.chunks(rel.releaseId).length < 3) await new Promise((r) => setTimeout(r, 10));
  await publishManifest(pusher, 'withdrawn', Buffer.alloc(0));
  const s = await waitStatus(d.agent, (x) => x.state === 'idle' && d.statuses.some((y) => y.state === 'downloading'));
  assert.deepEqual({ running: s.running, release: s.release }, { running: '1.0.0', release: undefined });
  assert.deepEqual(await listDir(join(d.dir, 'staging')), []);
  assert.equal(d.window.now, 0, 'the chunk topics are unsubscribed');
  assert.deepEqual(d.installs, []);
});

test('a state dir of another device is refused at start (MOAT_ERR_FW_STAGING); a newer pin replaces the stored trust list', async (t) => {
  const d = await device(t, 'owned');
  await d.agent.close();
  const client = await connect(b.url, { reconnect: false });
  t.after(() => client.end());
  const base = { client, product: 'owned', stateDir: d.dir, trust: createTrustList([signer]), install: async () => {} };
  await assert.rejects(startAgent({ ...base, deviceId: 'dev-2' }), { code: FwErr.staging });
  const other = generateSigner();
  const repinned = await startAgent({ ...base, deviceId: 'dev-1', trust: createTrustList([other], { sequence: 5 }) });
  await repinned.close();
  const state = JSON.parse(await readFile(join(d.dir, 'state.json'), 'utf8'));
  assert.deepEqual({ sequence: state.trust.sequence, key: state.trust.keys[0].keyId }, { sequence: 5, key: other.keyId });
});

test('an install interrupted while the hook ran (a crash, a hook that reboots): installed if the device now runs the version, else failed MOAT_ERR_FW_INSTALL; not handled again', async (t) => {
  const rel = makeRelease(signer, { product: 'reboot', version: '1.1.0' });
  await publishChunks(pusher, rel);
  const dir = await mkdtemp(join(tmpdir(), 'fwagent-reboot-'));
  // The state directory as the power cut during the hook leaves it: copied from inside the hook.
  const booted = `${dir}-booted`;
  const stuck = `${dir}-stuck`;
  const d = await device(t, 'reboot', { dir, install: async () => {
    await cp(dir, booted, { recursive: true });
    await cp(dir, stuck, { recursive: true });
  } });
  await publishManifest(pusher, 'reboot', rel.envelope);
  assert.equal((await waitStatus(d.agent, terminal)).state, 'installed');
  await d.agent.close();

  /** Lets the retained manifest reach the agent: the broker sends it after the SUBACK of the agent's subscription. */
  const settle = async (x: Device): Promise<void> => {
    await (await x.client.subscribe('sync/none')).unsubscribe();
    await new Promise((r) => setTimeout(r, 50));
  };
  // Booted into 1.1.0, and the device says so: the install is done.
  const up = await device(t, 'reboot', { dir: booted, runningVersion: '1.1.0' });
  await settle(up);
  assert.deepEqual(up.statuses.map((s) => [s.state, s.release, s.running]), [['installed', rel.releaseId, '1.1.0']]);
  assert.deepEqual(await listDir(join(booted, 'ready')), ['reboot-1.1.0.bin']);
  // Still on 1.0.0: the install failed; the same manifest is not tried again (no loop through a rebooting hook).
  const down = await device(t, 'reboot', { dir: stuck });
  await settle(down);
  assert.deepEqual(down.statuses.map((s) => [s.state, s.code, s.running]), [['failed', FwErr.install, '1.0.0']]);
  assert.deepEqual(await listDir(join(stuck, 'ready')), []);
  for (const x of [up, down]) {
    assert.deepEqual(x.chunks(rel.releaseId), []);
    assert.deepEqual(x.installs, []);
    assert.deepEqual(await listDir(join(x.dir, 'staging')), []);
  }
});

/**
 * Firmware delivery end to end over TLS through Moat's broker (the issue's "Tests" list): simulated
 * devices are real agents, each with its own MqttClient (TLS, CA-verified, persistent session) and state
 * folder; the pusher is publishRelease + watchCampaign on a client of its own. A 1 MiB image in 16 KiB
 * chunks (64 chunks).
 *   (a) 20 devices install it; every hook sees the signed bytes; the pusher's summary has 20 installed.
 *   (c) a device started after the campaign (pusher gone) installs it from the retained manifest.
 *   (b) the broker, on a SQLite store, is restarted mid-campaign on the same port: sessions, queues and
 *       retained chunks survive, the clients reconnect and every device finishes, re-receiving only
 *       chunks that were in flight (redelivered with DUP), never a verified one asked for again.
 * (The device killed mid-transfer is agent-restart.test.ts.)
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from '../../src/client/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { prepareTls } from '../../src/security/tls-listener.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import {
  buildManifest, createTrustList, encodeEnvelope, generateSigner, parseChunkTopic, publishRelease, releaseIdOf, signManifest,
  startAgent, watchCampaign, type FirmwareAgent, type FirmwareStatus, type TrustList,
} from '../../src/firmware/index.js';
import { captureLog, issue, makeCa, writeFiles } from '../support/test-pki.js';

const PRODUCT = 'thermo';
const VERSION = '2.0.0';
const IMAGE_BYTES = 1024 * 1024;
const CHUNK = 16 * 1024;
const CHUNKS = IMAGE_BYTES / CHUNK;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let root: string;
let pki: { ca: string; certFile: string; keyFile: string };
let trust: TrustList;
let imagePath: string;
let imageSha: string;
let envelope: Buffer;
let releaseId: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'moat-fw-e2e-'));
  const ca = await makeCa('fw e2e CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  const files = await writeFiles(root, { 'ca.crt': ca.pem, 'server.crt': server.pem, 'server.key': server.keyPem });
  pki = { ca: ca.pem, certFile: files['server.crt'], keyFile: files['server.key'] };
  const signer = generateSigner('ed25519');
  trust = createTrustList([signer]);
  const image = randomBytes(IMAGE_BYTES);
  imageSha = sha256(image);
  imagePath = join(root, 'thermo-2.0.0.bin');
  await writeFile(imagePath, image);
  const now = new Date();
  const manifest = await buildManifest(imagePath, { product: PRODUCT, version: VERSION, chunkSize: CHUNK, now, expiresAt: new Date(now.getTime() + 3600_000) });
  const env = signManifest(manifest, signer);
  envelope = encodeEnvelope(env);
  releaseId = releaseIdOf(Buffer.from(env.payload, 'base64'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * Cleanups of one test, run last-registered first in one t.after (node:test runs its hooks in the order
 * they were added): devices close before the broker they talk to, and a failure never leaves one open.
 */
function cleanups(t: TestContext): (fn: () => Promise<unknown>) => void {
  const stack: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn().catch(() => {});
  });
  return (fn) => stack.push(fn);
}

interface TlsBroker { port: number; broker: Broker; stop(): Promise<void> }

/** Moat's broker with one mqtts:// listener (server certificate from the test CA) on `port` (0: any). */
async function startTlsBroker(store: Store, port = 0, limits: { maxInflight?: number } = {}): Promise<TlsBroker> {
  const log = captureLog();
  const broker = new Broker({ sysInterval: 0, limits }, { log, store });
  await broker.restore();
  const url = `mqtts://127.0.0.1:${port}`;
  let listener: RunningListener;
  try {
    listener = await startListener(broker, { url, tls: await prepareTls({ certFile: pki.certFile, keyFile: pki.keyFile }, log, url) });
  } catch (e) {
    await store.close();
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    port: listener.address.port, broker,
    stop: () => (stopped ??= (async () => {
      broker.shutdown();
      await listener.close();
      await store.close();
    })()),
  };
}

const clientOptions = { reconnect: { initialDelay: 50, maxDelay: 400 }, connectTimeout: 2000 };
const tlsUrl = (port: number): string => `mqtts://localhost:${port}`;

interface Device {
  id: string;
  client: MqttClient;
  agent: FirmwareAgent;
  /** chunk index and DUP flag of every non-empty chunk PUBLISH the client received, in order */
  received: Array<{ index: number; dup: boolean }>;
  /** SHA-256 of the file each install hook call was given */
  hooked: string[];
  /** sessionPresent of every CONNACK after the first */
  reconnects: boolean[];
}

/** A simulated device: its own TLS client (persistent session), state folder and agent, closed after the test. */
async function startDevice(defer: ReturnType<typeof cleanups>, port: number, id: string, onChunk?: () => void): Promise<Device> {
  const client = await connect(tlsUrl(port), { ...clientOptions, ca: pki.ca, clientId: `fw-${PRODUCT}-${id}`, clean: false, sessionExpiry: 3600 });
  let agent: FirmwareAgent | undefined;
  // The agent first (it unsubscribes and sends its last status), then its client.
  defer(async () => {
    await agent?.close();
    await client.end({ timeout: 1000 });
  });
  const received: Device['received'] = [];
  const reconnects: boolean[] = [];
  client.on('connect', (info) => reconnects.push(info.sessionPresent));
  client.on('message', (m) => {
    const c = parseChunkTopic(m.topic);
    if (!c || m.payload.length === 0) return;
    received.push({ index: c.index, dup: m.dup });
    onChunk?.();
  });
  const hooked: string[] = [];
  agent = await startAgent({
    client, product: PRODUCT, deviceId: id, stateDir: join(root, id), trust, runningVersion: '1.0.0',
    install: async (path) => { hooked.push(sha256(await readFile(path))); },
  });
  return { id, client, agent, received, hooked, reconnects };
}

function waitInstalled(agent: FirmwareAgent, ms: number): Promise<FirmwareStatus> {
  const done = (s: FirmwareStatus): boolean => s.state === 'installed' || s.state === 'failed';
  if (done(agent.status)) return Promise.resolve(agent.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not installed within ${ms} ms: ${JSON.stringify(agent.status)}`)), ms);
    const on = (s: FirmwareStatus): void => {
      if (!done(s)) return;
      clearTimeout(timer);
      agent.off('status', on);
      resolve(s);
    };
    agent.on('status', on);
  });
}

/** What every device must end with: the version installed, the signed image hooked once, every chunk received. */
function assertInstalled(d: Device): void {
  assert.equal(d.agent.status.state, 'installed', `${d.id}: ${JSON.stringify(d.agent.status)}`);
  assert.equal(d.agent.status.version, VERSION);
  assert.equal(d.agent.running, VERSION);
  assert.deepEqual(d.hooked, [imageSha], `${d.id}: one install, of the signed image`);
  assert.equal(new Set(d.received.map((r) => r.index)).size, CHUNKS, `${d.id}: every chunk received`);
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`);

let campaignBroker: TlsBroker | undefined;
after(() => campaignBroker?.stop()); // at the file's end: (c) uses the broker of (a)

test('(a) 20 devices over TLS install a signed 1 MiB image published with publishRelease; the pusher sees 20 installed', { timeout: 30_000 }, async (t) => {
  campaignBroker = await startTlsBroker(new MemoryStore());
  const b = campaignBroker;
  const defer = cleanups(t);
  const devices = await Promise.all(ids('dev', 20).map((id) => startDevice(defer, b.port, id)));
  const pusher = await connect(tlsUrl(b.port), { ...clientOptions, ca: pki.ca, clientId: 'fw-pusher-a' });
  defer(() => pusher.end({ timeout: 1000 }));

  const started = performance.now();
  const watch = watchCampaign({ client: pusher, product: PRODUCT, releaseId, version: VERSION, devices: devices.map((d) => d.id), timeoutMs: 25_000 });
  const pushed = await publishRelease({ client: pusher, product: PRODUCT, manifestEnvelope: envelope, imagePath });
  const published = performance.now();
  const summary = await watch;
  t.diagnostic(`published in ${Math.round(published - started)} ms; 20 installed after ${Math.round(performance.now() - started)} ms`);

  assert.deepEqual([pushed.releaseId, pushed.chunks, pushed.bytes], [releaseId, CHUNKS, IMAGE_BYTES]);
  assert.equal(summary.complete, true);
  assert.deepEqual(summary.installed, devices.map((d) => d.id));
  assert.deepEqual([summary.failed, summary.timedOut, summary.pending], [[], [], []]);
  for (const d of devices) {
    assertInstalled(d);
    // Exact subscriptions, each dropped once its chunk is in: no chunk comes twice without a reconnect.
    assert.equal(d.received.length, CHUNKS, `${d.id}: each chunk exactly once`);
  }
  await pusher.end();
});

test('(c) a device started after the campaign was published and the pusher left gets the retained manifest and installs', { timeout: 15_000 }, async (t) => {
  assert.ok(campaignBroker, 'needs the broker of (a)');
  const late = await startDevice(cleanups(t), campaignBroker.port, 'late-1');
  assert.equal((await waitInstalled(late.agent, 10_000)).state, 'installed', JSON.stringify(late.agent.status));
  assertInstalled(late);
  assert.equal(late.received.length, CHUNKS);
});

test('(b) the broker restarted mid-campaign on a SQLite store: devices reconnect to their sessions and finish, re-receiving only chunks in flight', { timeout: 40_000 }, async (t) => {
  const defer = cleanups(t);
  const dbDir = await mkdtemp(join(tmpdir(), 'moat-fw-e2e-db-'));
  defer(() => rm(dbDir, { recursive: true, force: true }));
  const openStore = (): Promise<Store> => SqliteStore.open({ path: join(dbDir, 'moat.db') });
  // A small in-flight window makes "what was in flight" a tight bound on what may come twice.
  const MAX_INFLIGHT = 8;
  let restart: Promise<void> | undefined;
  let broker = await startTlsBroker(await openStore(), 0, { maxInflight: MAX_INFLIGHT });
  defer(async () => {
    await restart?.catch(() => {});
    await broker.stop();
  });
  const { port } = broker;

  const N = 10;
  const devices: Device[] = [];
  /** per device: the chunks received before the restart */
  let atRestart: Map<string, Set<number>> | undefined;
  // Restart once a quarter of the campaign's chunks are in (so at least 7 of the 10 devices are still
  // downloading): called synchronously from the message events, so the shutdown comes at a known point.
  let total = 0;
  const maybeRestart = (): void => {
    if (restart || ++total < (N * CHUNKS) / 4) return;
    atRestart = new Map(devices.map((d) => [d.id, new Set(d.received.map((r) => r.index))]));
    const old = broker;
    old.broker.shutdown();
    restart = (async () => {
      await old.stop();
      broker = await startTlsBroker(await openStore(), port, { maxInflight: MAX_INFLIGHT });
    })();
  };
  devices.push(...await Promise.all(ids('res', N).map((id) => startDevice(defer, port, id, maybeRestart))));
  const pusher = await connect(tlsUrl(port), { ...clientOptions, ca: pki.ca, clientId: 'fw-pusher-b' });
  defer(() => pusher.end({ timeout: 1000 }));

  const watch = watchCampaign({ client: pusher, product: PRODUCT, releaseId, version: VERSION, devices: devices.map((d) => d.id), timeoutMs: 30_000 });
  await publishRelease({ client: pusher, product: PRODUCT, manifestEnvelope: envelope, imagePath });
  const summary = await watch;
  assert.ok(restart, 'the broker was restarted');
  await restart;

  assert.equal(summary.complete, true, JSON.stringify(summary));
  assert.deepEqual(summary.installed, devices.map((d) => d.id));
  const underway = [...atRestart!.values()].filter((s) => s.size < CHUNKS).length;
  assert.ok(underway >= N / 2, `the restart came mid-campaign (${underway} of ${N} devices were not done)`);
  let again = 0;
  for (const d of devices) {
    assertInstalled(d);
    assert.ok(d.reconnects.length >= 1, `${d.id} reconnected`);
    assert.ok(d.reconnects.every((present) => present), `${d.id}: its session survived the restart`);
    // A chunk comes twice only as the broker's redelivery of a PUBLISH it had in flight at the restart
    // (DUP set [MQTT-3.3.1-1]; the client had it, its PUBACK was lost), so at most the in-flight window —
    // never because the device asked for a chunk it had verified again.
    const seen = new Set<number>();
    const repeated = d.received.filter((r) => seen.has(r.index) || (seen.add(r.index), false));
    again += repeated.length;
    assert.ok(repeated.every((r) => r.dup), `${d.id}: only redeliveries: ${JSON.stringify(repeated)}`);
    assert.ok(repeated.length <= MAX_INFLIGHT, `${d.id}: ${repeated.length} chunks again, more than the ${MAX_INFLIGHT} in flight`);
  }
  t.diagnostic(`restart after ${[...atRestart!.values()].map((s) => s.size).join(",")} chunks; ${again} redeliveries in all (${N} devices, in-flight window ${MAX_INFLIGHT})`);
  await pusher.end();
});

/**
 * The device agent as a process of its own, killed with SIGKILL mid-transfer and started again on the
 * same state directory: it resumes from the staging json the killed process left (written atomically,
 * so never half) and receives exactly the chunks that json does not claim — none of the verified ones.
 * And the broker restarted under a live agent (same SQLite store, persistent session).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/index.js';
import { createTrustList, encodeTrustList, generateSigner, startAgent } from '../../src/firmware/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import type { TestBroker } from '../broker/helpers.js';
import { issue, makeCa, startTlsBroker, writeFiles } from '../support/test-pki.js';
import { listDir, makeRelease, publishChunks, publishManifest, terminal, waitStatus } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const built = (path: string): string => new URL(`../../src/${path}`, import.meta.url).href;

interface Child { proc: ChildProcess; lines: string[]; err: string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

const AGENT_SCRIPT = `
import { writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
const { connect } = await import(${JSON.stringify(built('client/index.js'))});
const { startAgent, parseTrustList } = await import(${JSON.stringify(built('firmware/index.js'))});
const { URL: url, DIR, TRUST, PRODUCT, CA } = process.env;
const print = (s) => writeSync(1, s + '\\n');
const client = await connect(url, { clientId: 'dev-kill', reconnect: false, ...(CA ? { ca: await readFile(CA) } : {}) });
client.on('message', (m) => {
  const hit = /\\/chunk\\/[0-9a-f]{32}\\/(\\d+)$/.exec(m.topic);
  if (hit && m.payload.length > 0) print('chunk ' + hit[1]);
});
const agent = await startAgent({
  client, product: PRODUCT, deviceId: 'dev-kill', stateDir: DIR, trust: parseTrustList(await readFile(TRUST)), runningVersion: '1.0.0',
  install: async (path) => print('install ' + path),
});
agent.on('status', (s) => print('status ' + s.state + (s.code ? ' ' + s.code : '')));
print('started ' + agent.status.state);
`;

function spawnAgent(script: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { proc, lines: [], err: '', exit: new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal }))) };
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    child.lines.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => { child.err += d.toString(); });
  return child;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, child?: Child, ms = 15_000): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    if (await cond()) return;
    await sleep(10);
  }
  assert.fail(`waiting for ${what}; child lines: ${child?.lines.slice(-5).join(' | ')} stderr: ${child?.err}`);
}

const chunksOf = (c: Child): number[] => c.lines.filter((l) => l.startsWith('chunk ')).map((l) => Number(l.slice(6)));

/** The chunk indexes a staging json claims as verified (undefined while there is none). */
async function verifiedIn(path: string): Promise<Set<number> | undefined> {
  let rec: { verified: string };
  try {
    rec = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
  const bits = Buffer.from(rec.verified, 'base64');
  const out = new Set<number>();
  for (let i = 0; i < bits.length * 8; i++) if (bits[i >> 3]! & (1 << (i & 7))) out.add(i);
  return out;
}

test('over TLS: an agent process killed with SIGKILL mid-transfer resumes after restart without receiving any chunk its staging had verified', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fwagent-kill-'));
  const script = join(dir, 'agent.mjs');
  await writeFile(script, AGENT_SCRIPT);
  const stateDir = join(dir, 'state');
  const signer = generateSigner();
  await writeFile(join(dir, 'trust.json'), encodeTrustList(createTrustList([signer])));
  // Over TLS, as a device would be: the server verified with the CA (SNI localhost).
  const ca = await makeCa('fw kill CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  const files = await writeFiles(dir, { 'ca.crt': ca.pem, 'server.crt': server.pem, 'server.key': server.keyPem });
  const b = await startTlsBroker({ certFile: files['server.crt'], keyFile: files['server.key'] });
  const url = `mqtts://localhost:${b.port}`;
  const pusher = await connect(url, { reconnect: false, ca: ca.pem });
  const children: Child[] = [];
  t.after(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exit));
    await pusher.end();
    await b.close();
  });
  const env = { URL: url, CA: files['ca.crt'], DIR: stateDir, TRUST: join(dir, 'trust.json'), PRODUCT: 'killed' };
  // Real time here (the manifest's dates must hold in the child, which uses the system clock).
  const rel = makeRelease(signer, { product: 'killed', version: '1.1.0', now: Date.now(), image: Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 13 + (i >> 9)) & 0xff)) });
  const n = rel.chunks.length;
  const json = join(stateDir, 'staging', `${rel.releaseId}.json`);

  // First half out, the manifest, then the second half trickling in while the process is killed.
  await publishChunks(pusher, rel, Array.from({ length: n / 2 }, (_, i) => i));
  await publishManifest(pusher, 'killed', rel.envelope);
  const first = spawnAgent(script, env);
  children.push(first);
  await until('a checkpoint of the first agent', async () => ((await verifiedIn(json))?.size ?? 0) > 0, first);
  for (let i = n / 2; i < n / 2 + 20; i++) await publishChunks(pusher, rel, [i]);
  first.proc.kill('SIGKILL');
  assert.equal((await first.exit).signal, 'SIGKILL');
  assert.ok(!first.lines.some((l) => l.startsWith('install')));

  const verified = (await verifiedIn(json))!;
  assert.ok(verified.size > 0 && verified.size < n, `verified at the kill: ${verified.size} of ${n}`);
  assert.ok(chunksOf(first).length >= verified.size);
  assert.deepEqual(await listDir(join(stateDir, 'ready')), []);

  await publishChunks(pusher, rel, Array.from({ length: n / 2 - 20 }, (_, i) => n / 2 + 20 + i));
  const second = spawnAgent(script, env);
  children.push(second);
  await until('the install by the restarted agent', () => second.lines.some((l) => l.startsWith('status installed') || l.startsWith('status failed')), second);
  assert.ok(second.lines.includes('started downloading'), second.lines.slice(0, 3).join(' | '));
  assert.ok(second.lines.includes('status installed'), second.lines.filter((l) => l.startsWith('status')).join(' | '));
  const again = chunksOf(second);
  assert.deepEqual(again.filter((i) => verified.has(i)), [], 'no verified chunk is received again');
  assert.equal(again.length, n - verified.size, 'each missing chunk exactly once');
  const ready = join(stateDir, 'ready', 'killed-1.1.0.bin');
  assert.ok(second.lines.includes(`install ${ready}`));
  assert.ok((await readFile(ready)).equals(rel.image));
  assert.deepEqual(await listDir(join(stateDir, 'staging')), []);
  second.proc.kill('SIGKILL');
});

/** A broker that has restored its store before it listens: a client reconnecting at once finds its session. */
async function restoredBroker(store: Store, port: number): Promise<TestBroker> {
  const broker = new Broker({ sysInterval: 0 }, { store });
  await broker.restore();
  const listener = await startListener(broker, { url: `mqtt://127.0.0.1:${port}` });
  return {
    broker, listener, port: listener.address.port, url: `mqtt://127.0.0.1:${listener.address.port}`,
    async close() {
      broker.shutdown();
      await listener.close();
    },
  };
}

test('the broker restarted mid-download (SQLite store, persistent session): the agent reconnects and finishes; a chunk from before the restart comes again only as a QoS 1 redelivery (DUP) of one whose PUBACK the broker had not stored', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fwagent-broker-'));
  const openStore = (): Promise<Store> => SqliteStore.open({ path: join(dir, 'moat.db') });
  let store = await openStore();
  let b = await restoredBroker(store, 0);
  const port = b.port;
  const signer = generateSigner();
  const rel = makeRelease(signer, { product: 'brokerdown', version: '1.1.0', now: Date.now(), image: Buffer.from(Array.from({ length: 150 * 1024 }, (_, i) => (i * 5 + (i >> 11)) & 0xff)) });
  const n = rel.chunks.length;
  let pusher = await connect(b.url, { reconnect: false });
  await publishChunks(pusher, rel, Array.from({ length: 100 }, (_, i) => i));
  await publishManifest(pusher, 'brokerdown', rel.envelope);
  await pusher.end();

  const client = await connect(b.url, { clientId: 'dev-br', clean: false, sessionExpiry: 300, reconnect: { initialDelay: 50, maxDelay: 200 } });
  const seen: Array<{ index: number; epoch: number; dup: boolean }> = [];
  let epoch = 0;
  client.on('message', (m) => {
    const hit = /\/chunk\/[0-9a-f]{32}\/(\d+)$/.exec(m.topic);
    if (hit && m.payload.length > 0) seen.push({ index: Number(hit[1]), epoch, dup: m.dup });
  });
  const agent = await startAgent({
    client, product: 'brokerdown', deviceId: 'dev-br', stateDir: join(dir, 'state'), trust: createTrustList([signer]),
    runningVersion: '1.0.0', install: async () => {},
  });
  t.after(async () => {
    await agent.close();
    await client.end({ timeout: 500 }).catch(() => {});
    await b.close();
    await store.close();
  });
  await until('the first 100 chunks', () => seen.length >= 100);
  await waitStatus(agent, (s) => s.state === 'downloading' && s.percent! >= 60);

  const reconnected = new Promise((r) => client.once('connect', r));
  await b.close();
  await store.close();
  epoch = 1;
  store = await openStore();
  b = await restoredBroker(store, port);
  await reconnected;
  assert.equal(client.info?.sessionPresent, true);
  pusher = await connect(b.url, { reconnect: false });
  t.after(() => pusher.end());
  await publishChunks(pusher, rel, Array.from({ length: n - 100 }, (_, i) => 100 + i));
  const s = await waitStatus(agent, terminal, 20_000);
  assert.equal(s.state, 'installed', JSON.stringify(s));
  const again = seen.filter((x) => x.epoch === 1 && x.index < 100);
  // At least once: chunks whose PUBACK had not reached the broker's store come again, with DUP, and
  // no more than its in-flight window; the agent's subscriptions ask for none of them.
  assert.ok(again.every((x) => x.dup), `only redeliveries: ${JSON.stringify(again)}`);
  assert.ok(again.length <= 64, `at most the in-flight window: ${again.length}`);
  const after = seen.filter((x) => x.epoch === 1 && x.index >= 100).map((x) => x.index);
  assert.deepEqual([...new Set(after)].sort((x, y) => x - y), Array.from({ length: n - 100 }, (_, i) => 100 + i));
  assert.ok((await readFile(join(dir, 'state', 'ready', 'brokerdown-1.1.0.bin'))).equals(rel.image));
});

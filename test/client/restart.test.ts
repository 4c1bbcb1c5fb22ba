/**
 * Processes killed with SIGKILL and started again: a client process with the SQLite in-flight store
 * (publisher and subscriber), and `moat broker --store sqlite` under two live clients. In every case
 * a QoS 2 message reaches the application exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Message, type MqttClient } from '../../src/client/index.js';
import { startBroker } from '../broker/helpers.js';
import { startCliBroker, type CliBroker } from '../support/cli-broker.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const built = (path: string): string => new URL(`../../src/${path}`, import.meta.url).href;

interface Child { proc: ChildProcess; out: string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

function spawnNode(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = {
    proc, out: '',
    exit: new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal }))),
  };
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => { child.out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (process.env.DEBUG_RESTART) process.stderr.write(err); });
  return child;
}

async function waitFor(child: Child, text: string, ms = 15_000): Promise<void> {
  for (let t = 0; t < ms && !child.out.includes(text); t += 20) await sleep(20);
  assert.ok(child.out.includes(text), `waiting for "${text}", got: ${child.out}`);
}

/** The client as a process of its own: ROLE=sub|pub, DIE=1 to SIGKILL itself at the worst moment. */
const CLIENT_SCRIPT = `
import { writeSync } from 'node:fs';
const { connect, MqttClient, MemoryInflightStore } = await import(${JSON.stringify(built('client/index.js'))});
const { SqliteInflightStore } = await import(${JSON.stringify(built('client/sqlite-store.js'))});
const { URL: url, DB, ID, ROLE, DIE, STORE } = process.env;
const store = STORE === 'memory' ? new MemoryInflightStore() : new SqliteInflightStore(DB);
const opts = { clientId: ID, clean: false, sessionExpiry: 300, reconnect: false, store };
const print = (s) => writeSync(1, s + '\\n');
if (ROLE === 'sub') {
  const c = new MqttClient(url, opts);
  c.on('message', (m) => {
    print('msg ' + m.payload.toString());
    if (m.payload.toString() === 'after') c.end().then(() => process.exit(0));
    // Delivered, and the PUBREC still corked in this tick: the broker never hears of it.
    else if (DIE) process.kill(process.pid, 'SIGKILL');
  });
  await c.start();
  if (!c.info.sessionPresent) await c.subscribe('rs/#', { qos: 2 });
  print('ready');
} else {
  if (DIE) {
    // The record is committed, the PUBLISH not yet written: the process dies between the two.
    const put = store.putOutgoing.bind(store);
    store.putOutgoing = (r) => { put(r); process.kill(process.pid, 'SIGKILL'); };
  }
  const c = await connect(url, opts);
  if (DIE) await c.publish('rs/t', 'exactly-once', { qos: 2 });
  while (c.inflight > 0) await new Promise((r) => setTimeout(r, 10));
  print('done');
  await c.end();
  process.exit(0);
}
`;

test('client processes killed (SIGKILL) and restarted with the SQLite in-flight store: a QoS 2 message is neither lost (publisher) nor delivered twice (subscriber)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-client-restart-'));
  const script = join(dir, 'client.mjs');
  writeFileSync(script, CLIENT_SCRIPT);
  const b = await startBroker();
  // STORE=memory makes both halves fail: kept for checking that this test can fail.
  const base = { URL: b.url, ...(process.env.RESTART_STORE ? { STORE: process.env.RESTART_STORE } : {}) };
  const sub = { ...base, ROLE: 'sub', ID: 'rs-sub', DB: join(dir, 'sub.db') };
  const pub = { ...base, ROLE: 'pub', ID: 'rs-pub', DB: join(dir, 'pub.db') };

  const s1 = spawnNode([script], { ...sub, DIE: '1' });
  await waitFor(s1, 'ready');
  const p1 = spawnNode([script], { ...pub, DIE: '1' });
  assert.equal((await p1.exit).signal, 'SIGKILL', 'the publisher died holding the QoS 2 message');
  await sleep(100);
  assert.equal(s1.out.includes('msg '), false, 'nothing was sent before it died');
  // The publisher again: its store still has the message; the resumed session sends it.
  const p2 = spawnNode([script], pub);
  await waitFor(p2, 'done');
  assert.equal((await p2.exit).code, 0);
  assert.equal((await s1.exit).signal, 'SIGKILL', 'the subscriber died after delivering, before its PUBREC left');
  // The subscriber again: the broker resends the PUBLISH (DUP); the store knows it was delivered.
  const s2 = spawnNode([script], sub);
  await waitFor(s2, 'ready');
  const marker = await connect(b.url, { reconnect: false });
  await marker.publish('rs/t', 'after', { qos: 2 }); // in order after any resend: the end of the test
  await marker.end();
  assert.equal((await s2.exit).code, 0);
  const delivered = (s1.out + s2.out).split('\n').filter((l) => l === 'msg exactly-once');
  assert.equal(delivered.length, 1, `exactly once: ${JSON.stringify([s1.out, s2.out])}`);
  assert.match(s2.out, /msg after/);
  await b.close();
});

/** `moat broker` from this build on `listen`, with SQLite in `dataDir`. */
const startSqliteBroker = (dataDir: string, listen: string): Promise<CliBroker> =>
  startCliBroker(['--listen', listen, '--data-dir', dataDir, '--store', 'sqlite'], { cwd: dataDir });

test('moat broker --store sqlite killed (SIGKILL) mid-stream of QoS 2 messages and restarted on the same port: each arrives exactly once, none lost', { timeout: 90_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'moat-client-broker-kill-'));
  let broker = await startSqliteBroker(dataDir, 'mqtt://127.0.0.1:0');
  const clients: MqttClient[] = [];
  // A failed assertion must not leave a broker and two reconnecting clients holding the file open.
  t.after(() => {
    for (const c of clients) void c.end({ timeout: 0 }).catch(() => {});
    broker.child.kill('SIGKILL');
  });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const reconnect = { initialDelay: 50, maxDelay: 300 };
  const sub = await connect(url, { clientId: 'kill-sub', sessionExpiry: 300, reconnect });
  clients.push(sub);
  await sub.subscribe('kill/#', { qos: 2 });
  const counts = new Map<string, number>();
  sub.on('message', (m: Message) => counts.set(m.payload.toString(), (counts.get(m.payload.toString()) ?? 0) + 1));
  const pub = await connect(url, { clientId: 'kill-pub', sessionExpiry: 300, reconnect });
  clients.push(pub);
  const N = 300;
  // Ten at a time, so that QoS 2 flows are under way whenever the broker dies.
  let nextId = 0;
  const worker = async (): Promise<void> => {
    while (nextId < N) await pub.publish('kill/t', `m${nextId++}`, { qos: 2 });
  };
  const all = Array.from({ length: 10 }, worker);
  for (let i = 0; i < 2000 && counts.size < N / 5; i++) await sleep(1);
  const pendingAtKill = pub.inflight + pub.queued;
  const deliveredAtKill = counts.size;
  broker.child.kill('SIGKILL');
  await new Promise((r) => broker.child.once('exit', r));
  broker = await startSqliteBroker(dataDir, url);
  await Promise.all(all);
  for (let i = 0; i < 1000 && counts.size < N; i++) await sleep(10);
  await sleep(300); // room for a duplicate to show up
  const missing = Array.from({ length: N }, (_, i) => `m${i}`).filter((m) => !counts.has(m));
  const twice = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
  assert.deepEqual(missing, [], 'none lost');
  assert.deepEqual(twice, [], 'none delivered twice');
  assert.ok(pendingAtKill > 0, `publisher had QoS 2 messages unacknowledged when the broker died (${pendingAtKill})`);
  assert.ok(deliveredAtKill < N, `subscriber had not received everything (${deliveredAtKill} of ${N})`);
  await Promise.all([sub.end(), pub.end()]);
  broker.child.kill('SIGTERM');
  await new Promise((r) => broker.child.once('exit', r));
});

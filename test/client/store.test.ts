/**
 * One contract for every InflightStore (memory, file, SQLite), and a process "restart" with the durable
 * ones: neither loss nor duplicate of a QoS 2 message, in either direction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { isMoatError, type PublishPacket } from '../../src/codec/index.js';
import { FileInflightStore, MemoryInflightStore, OutState, type InflightStore } from '../../src/client/index.js';
import { SqliteInflightStore } from '../../src/client/sqlite-store.js';
import { connectEngine, engineWith } from './fake.js';

const tmpFile = (name = 'inflight.json'): string => join(mkdtempSync(join(tmpdir(), 'moat-store-')), name);

const stores: Array<[string, () => InflightStore]> = [
  ['memory', () => new MemoryInflightStore()],
  ['file', () => new FileInflightStore(tmpFile())],
  ['sqlite', () => new SqliteInflightStore(tmpFile('inflight.db'))],
];

/** The durable stores, opened on a path; `close` is what the process's death does to the store (a lock released). */
const durable: Array<[string, string, (path: string) => InflightStore & { close?(): void }]> = [
  ['file', 'inflight.json', (path) => new FileInflightStore(path)],
  ['sqlite', 'inflight.db', (path) => new SqliteInflightStore(path)],
];
const close = (store: InflightStore): void => (store as { close?(): void }).close?.();

for (const [name, make] of stores) {
  test(`InflightStore contract (${name}): records in first-put order, state updates in place, incoming ids`, () => {
    const s = make();
    const rec = (packetId: number): Parameters<InflightStore['putOutgoing']>[0] => ({
      packetId, state: OutState.AwaitPuback, topic: `t/${packetId}`, payload: Buffer.from([packetId]), qos: 1, retain: false,
      properties: { correlationData: Buffer.from('cd'), userProperties: [['a', 'b']] },
    });
    s.putOutgoing(rec(5));
    s.putOutgoing(rec(2));
    s.putOutgoing({ ...rec(5), state: OutState.AwaitPubcomp });
    assert.deepEqual(s.outgoing().map((r) => [r.packetId, r.state]), [[5, OutState.AwaitPubcomp], [2, OutState.AwaitPuback]]);
    s.deleteOutgoing(5);
    assert.equal(s.getOutgoing(5), undefined);
    assert.deepEqual(s.getOutgoing(2)?.payload, Buffer.from([2]));
    s.addIncoming(9);
    assert.equal(s.hasIncoming(9), true);
    s.deleteIncoming(9);
    assert.equal(s.hasIncoming(9), false);
    s.addIncoming(1);
    s.clearIncoming();
    assert.equal(s.hasIncoming(1), false);
  });
}

for (const [name, file, open] of durable) {
  test(`${name} store: survives a restart with payload and properties intact`, () => {
    const path = tmpFile(file);
    const a = open(path);
    a.putOutgoing({ packetId: 3, state: OutState.AwaitPubrec, topic: 'x', payload: Buffer.from([0, 255]), qos: 2, retain: true,
      properties: { correlationData: Buffer.from('id'), contentType: 'bin' } });
    a.addIncoming(44);
    a.close?.();
    const b = open(path);
    const r = b.getOutgoing(3)!;
    assert.deepEqual([r.state, r.payload, r.retain, r.properties?.correlationData, r.properties?.contentType],
      [OutState.AwaitPubrec, Buffer.from([0, 255]), true, Buffer.from('id'), 'bin']);
    assert.equal(b.hasIncoming(44), true);
  });

  test(`restart with the ${name} store and a persistent session: a PUBREC'd QoS 2 message is released (PUBREL), not published again`, () => {
    const path = tmpFile(file);
    const before = engineWith({ store: open(path), clean: false, sessionExpiry: 3600 });
    connectEngine(before.engine, before.port);
    before.engine.outbound.publish({ topic: 'q2', payload: Buffer.from('once'), qos: 2, retain: false, resolve: () => {}, reject: () => {} });
    const [p] = before.port.take() as PublishPacket[];
    before.engine.receive({ type: 'pubrec', packetId: p!.packetId!, reasonCode: 0 });
    before.port.take();
    // The process dies here. A new one opens the same file and resumes the session.
    close(before.engine.outbound.store);
    const after = engineWith({ store: open(path), clean: false, sessionExpiry: 3600 });
    after.engine.start();
    after.engine.linkUp();
    after.port.take();
    after.engine.receive({ type: 'connack', sessionPresent: true, reasonCode: 0 });
    assert.deepEqual(after.port.take(), [{ type: 'pubrel', packetId: p!.packetId!, reasonCode: 0 }]);
    after.engine.receive({ type: 'pubcomp', packetId: p!.packetId!, reasonCode: 0 });
    close(after.engine.outbound.store);
    assert.equal(open(path).outgoing().length, 0);
  });

  test(`restart with the ${name} store: an incoming QoS 2 message resent after the restart is acknowledged, not delivered twice`, () => {
    const path = tmpFile(file);
    const pub: PublishPacket = { type: 'publish', topic: 'in', payload: Buffer.from('1'), qos: 2, retain: false, dup: false, packetId: 12 };
    const before = engineWith({ store: open(path), clean: false, sessionExpiry: 3600 });
    connectEngine(before.engine, before.port);
    before.engine.receive(pub);
    assert.equal(before.port.messages.length, 1);
    close(before.engine.outbound.store);
    const after = engineWith({ store: open(path), clean: false, sessionExpiry: 3600 });
    connectEngine(after.engine, after.port, { sessionPresent: true });
    after.engine.receive({ ...pub, dup: true });
    assert.equal(after.port.messages.length, 0);
    assert.deepEqual(after.port.take().map((x) => x.type), ['pubrec']);
  });
}

test('sqlite store: a second process on the same database is refused with MOAT_ERR_STORE_LOCKED; a file of another kind with MOAT_ERR_STORE_VERSION', () => {
  const path = tmpFile('inflight.db');
  const a = new SqliteInflightStore(path);
  a.addIncoming(1);
  assert.throws(() => new SqliteInflightStore(path), (e: unknown) => isMoatError(e, 'MOAT_ERR_STORE_LOCKED'));
  a.close();
  const b = new SqliteInflightStore(path);
  assert.equal(b.hasIncoming(1), true);
  b.close();
  assert.equal(statSync(path).mode & 0o777, 0o600, 'owner only');
  const other = tmpFile('other.db');
  const db = new Database(other);
  db.exec('CREATE TABLE t (x)');
  db.close();
  assert.throws(() => new SqliteInflightStore(other), (e: unknown) => isMoatError(e, 'MOAT_ERR_STORE_VERSION'));
});

const hasStrace = spawnSync('strace', ['-V']).status === 0;

test('file store: each change fsyncs the new file before the rename and the folder after it (strace); owner-only mode', { skip: !hasStrace && 'strace not installed' }, () => {
  const path = tmpFile();
  const trace = `${path}.strace`;
  const module = new URL('../../src/client/file-store.js', import.meta.url).href;
  const script = `const { FileInflightStore } = await import(${JSON.stringify(module)});
    new FileInflightStore(${JSON.stringify(path)}).addIncoming(7);`;
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', '-o', trace,
    process.execPath, '--input-type=module', '-e', script]);
  assert.equal(r.status, 0, r.stderr.toString());
  const lines = readFileSync(trace, 'utf8').split('\n');
  const at = (test: (l: string) => boolean, from = 0): number => lines.findIndex((l, i) => i >= from && test(l));
  const fdOf = (i: number): string => /= (\d+)$/.exec(lines[i]!.trim())?.[1] ?? 'none';
  const openTmp = at((l) => l.includes('openat(') && l.includes(`"${path}.tmp"`));
  assert.ok(openTmp >= 0, 'the temporary file is opened');
  const syncTmp = at((l) => new RegExp(`\\bf(data)?sync\\(${fdOf(openTmp)}\\b`).test(l), openTmp);
  const rename = at((l) => /\brename(at2?)?\(/.test(l) && l.includes(`"${path}"`), openTmp);
  assert.ok(syncTmp > openTmp && rename > syncTmp, 'fsync of the new file, then the rename');
  const openDir = at((l) => l.includes('openat(') && l.includes(`"${dirname(path)}"`), rename);
  assert.ok(openDir > rename, 'the folder is opened after the rename');
  assert.ok(at((l) => new RegExp(`\\bfsync\\(${fdOf(openDir)}\\b`).test(l), openDir) > openDir, 'and fsync\'d');
  assert.equal(statSync(path).mode & 0o777, 0o600, 'owner only');
});

/**
 * One contract for every InflightStore (memory, file), and a process "restart" with the file store:
 * neither loss nor duplicate of a QoS 2 message, in either direction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublishPacket } from '../../src/codec/index.js';
import { FileInflightStore, MemoryInflightStore, OutState, type InflightStore } from '../../src/client/index.js';
import { connectEngine, engineWith } from './fake.js';

const tmpFile = (): string => join(mkdtempSync(join(tmpdir(), 'moat-store-')), 'inflight.json');

const stores: Array<[string, () => InflightStore]> = [
  ['memory', () => new MemoryInflightStore()],
  ['file', () => new FileInflightStore(tmpFile())],
];

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

test('file store: survives a restart with payload and properties intact', () => {
  const path = tmpFile();
  const a = new FileInflightStore(path);
  a.putOutgoing({ packetId: 3, state: OutState.AwaitPubrec, topic: 'x', payload: Buffer.from([0, 255]), qos: 2, retain: true,
    properties: { correlationData: Buffer.from('id'), contentType: 'bin' } });
  a.addIncoming(44);
  const b = new FileInflightStore(path);
  const r = b.getOutgoing(3)!;
  assert.deepEqual([r.state, r.payload, r.retain, r.properties?.correlationData, r.properties?.contentType],
    [OutState.AwaitPubrec, Buffer.from([0, 255]), true, Buffer.from('id'), 'bin']);
  assert.equal(b.hasIncoming(44), true);
});

test('restart with the file store and a persistent session: a PUBREC\'d QoS 2 message is released (PUBREL), not published again', () => {
  const path = tmpFile();
  const before = engineWith({ store: new FileInflightStore(path), clean: false, sessionExpiry: 3600 });
  connectEngine(before.engine, before.port);
  before.engine.outbound.publish({ topic: 'q2', payload: Buffer.from('once'), qos: 2, retain: false, resolve: () => {}, reject: () => {} });
  const [p] = before.port.take() as PublishPacket[];
  before.engine.receive({ type: 'pubrec', packetId: p!.packetId!, reasonCode: 0 });
  before.port.take();
  // The process dies here. A new one opens the same file and resumes the session.
  const after = engineWith({ store: new FileInflightStore(path), clean: false, sessionExpiry: 3600 });
  after.engine.start();
  after.engine.linkUp();
  after.port.take();
  after.engine.receive({ type: 'connack', sessionPresent: true, reasonCode: 0 });
  assert.deepEqual(after.port.take(), [{ type: 'pubrel', packetId: p!.packetId!, reasonCode: 0 }]);
  after.engine.receive({ type: 'pubcomp', packetId: p!.packetId!, reasonCode: 0 });
  assert.equal(new FileInflightStore(path).outgoing().length, 0);
});

test('restart with the file store: an incoming QoS 2 message resent after the restart is acknowledged, not delivered twice', () => {
  const path = tmpFile();
  const pub: PublishPacket = { type: 'publish', topic: 'in', payload: Buffer.from('1'), qos: 2, retain: false, dup: false, packetId: 12 };
  const before = engineWith({ store: new FileInflightStore(path), clean: false, sessionExpiry: 3600 });
  connectEngine(before.engine, before.port);
  before.engine.receive(pub);
  assert.equal(before.port.messages.length, 1);
  const after = engineWith({ store: new FileInflightStore(path), clean: false, sessionExpiry: 3600 });
  connectEngine(after.engine, after.port, { sessionPresent: true });
  after.engine.receive({ ...pub, dup: true });
  assert.equal(after.port.messages.length, 0);
  assert.deepEqual(after.port.take().map((x) => x.type), ['pubrec']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OutQueue } from '../../src/broker/out-queue.js';
import type { Outgoing } from '../../src/broker/session.js';
import type { QoS } from '../../src/codec/index.js';

const out = (id: number, qos: QoS, size = 1): Outgoing => ({
  message: { topic: 't', payload: Buffer.alloc(size), qos, retain: false }, qos, retain: false,
  subscriptionIdentifiers: [], packetId: id, state: 1, seq: 0,
});

test('OutQueue behaves like a plain FIFO with "remove the oldest QoS 0" (model-based)', () => {
  type Cmd = { op: 'push'; qos: QoS; size: number } | { op: 'shift' } | { op: 'evict' } | { op: 'removeOdd' };
  const cmd = fc.oneof(
    fc.record({ op: fc.constant('push' as const), qos: fc.constantFrom<QoS>(0, 1, 2), size: fc.nat(9) }),
    fc.constant({ op: 'shift' as const }), fc.constant({ op: 'evict' as const }), fc.constant({ op: 'removeOdd' as const }),
  );
  fc.assert(fc.property(fc.array(cmd, { maxLength: 400 }), (cmds: Cmd[]) => {
    const q = new OutQueue();
    let model: Outgoing[] = [];
    let n = 0;
    for (const c of cmds) {
      if (c.op === 'push') {
        const o = out(n++, c.qos, c.size);
        q.push(o);
        model.push(o);
      } else if (c.op === 'shift') {
        assert.equal(q.shift(), model.shift());
      } else if (c.op === 'evict') {
        const i = model.findIndex((o) => o.qos === 0);
        assert.equal(q.evictOldestQos0(), i < 0 ? undefined : model.splice(i, 1)[0]);
      } else {
        q.removeWhere((o) => o.packetId % 2 === 1);
        model = model.filter((o) => o.packetId % 2 === 0);
      }
      assert.equal(q.size, model.length);
      assert.equal(q.bytes, model.reduce((s, o) => s + o.message.payload.length, 0));
      assert.equal(q.hasQos0, model.some((o) => o.qos === 0));
      assert.equal(q.peek(), model[0]);
    }
  }), { numRuns: 300 });
});

test('OutQueue: evicting QoS 0 from a full queue that never drains keeps memory bounded', () => {
  const q = new OutQueue();
  for (let i = 0; i < 1000; i++) q.push(out(i, 0));
  for (let i = 0; i < 100_000; i++) {
    q.evictOldestQos0();
    q.push(out(i, 0));
  }
  assert.equal(q.size, 1000);
  const items = (q as unknown as { items: unknown[] }).items;
  assert.ok(items.length <= 3 * 1000 + 1024, `backing array holds ${items.length} slots for 1000 entries`);
});

/**
 * Review (h-review): a broker restarted in the same process on the same MemoryStore (tests, embedding).
 * The memory store hands back the very Message objects the first broker stored, still carrying that
 * broker's `storeRefs`; restore adds to the stale count instead of starting from zero, so the message is
 * never released and stays in the store after its last entry is delivered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from '../../src/codec/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RawClient, sleep, startBroker } from '../broker/helpers.js';

const persistent: Partial<Extract<Packet, { type: 'connect' }>> = { clientId: 'refs', clean: false, properties: { sessionExpiryInterval: 3600 } };

test('a message delivered after an in-process restart is released from the memory store', async () => {
  const store = new MemoryStore();
  let b = await startBroker({}, { store });
  await b.broker.restore();
  const sub = await RawClient.connected(b.port, persistent);
  sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'refs/#', qos: 1 }] });
  await sub.expect('suback');
  sub.send({ type: 'disconnect', reasonCode: 0 });
  await sub.waitClosed();
  const pub = await RawClient.connected(b.port, { clientId: 'refs-pub' });
  pub.send({ type: 'publish', topic: 'refs/1', payload: Buffer.from('1'), qos: 1, retain: false, dup: false, packetId: 1 });
  await pub.expect('puback');
  pub.end();
  await b.close();
  await store.close();

  b = await startBroker({}, { store });
  await b.broker.restore();
  try {
    const back = await RawClient.connected(b.port, persistent);
    const p = await back.expect('publish');
    back.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
    await sleep(100);
    const { messages, entries } = await store.loadQueues();
    assert.equal(entries.size, 0, 'no entry left');
    assert.equal(messages.size, 0, 'the delivered message is still in the store: its refcount started from the old broker\'s');
    back.end();
  } finally {
    await b.close();
  }
});

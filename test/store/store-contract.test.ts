/**
 * The store contract: every implementation runs these tests unchanged. Each case writes through one
 * instance, then reads back through a reopened one (same file, same Redis prefix, same memory object),
 * so what is asserted is what survives a restart.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryState, type Message, type Store, type StoredEntry } from '../../src/store/types.js';
import { STORE_KINDS as KINDS } from './store-kinds.js';

const message = (over: Partial<Message> = {}): Message => ({ topic: 'a/b', payload: Buffer.from('hello'), qos: 1, retain: false, ...over });
const entry = (seq: number, messageId: number, over: Partial<StoredEntry> = {}): StoredEntry => ({
  seq, messageId, qos: 1, retain: false, subscriptionIdentifiers: [], packetId: 0, state: EntryState.Queued, ...over,
});

/** Writes with `write`, closes, reopens and returns the reopened store (closed by the caller). */
async function roundTrip(open: () => Promise<Store>, write: (s: Store) => Promise<void>): Promise<Store> {
  const first = await open();
  await write(first);
  await first.close();
  return open();
}

for (const kind of KINDS) {
  describe(`store contract (${kind.name})`, () => {
    test('sessions: put, replace and load with their subscriptions and expiry', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.sessions.putSession({ clientId: 'c1', expiryInterval: 60, subscriptions: [] });
        void st.sessions.putSession({ clientId: 'c2', expiryInterval: 0xffff_ffff, expiresAt: 1_700_000_000_000, subscriptions: [] });
        void st.sessions.putSession({ clientId: 'c1', expiryInterval: 120, expiresAt: 1_800_000_000_000, subscriptions: [] });
        void st.sessions.putSubscription('c1', 'a/+', { qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionIdentifier: 7 });
        void st.sessions.putSubscription('c1', 'b/#', { qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 });
        await st.sessions.putSubscription('c1', 'a/+', { qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 });
      });
      const sessions = (await s.sessions.loadSessions()).sort((a, b) => a.clientId.localeCompare(b.clientId));
      await s.close();
      assert.equal(sessions.length, 2);
      assert.deepEqual({ ...sessions[0]!, subscriptions: [...sessions[0]!.subscriptions].sort() }, {
        clientId: 'c1', expiryInterval: 120, expiresAt: 1_800_000_000_000,
        subscriptions: [
          ['a/+', { qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
          ['b/#', { qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 }],
        ],
      });
      assert.deepEqual(sessions[1], { clientId: 'c2', expiryInterval: 0xffff_ffff, expiresAt: 1_700_000_000_000, subscriptions: [] });
    });

    test('sessions: an expiry time can be cleared again (the client came back)', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.sessions.putSession({ clientId: 'c', expiryInterval: 60, expiresAt: 5, subscriptions: [] });
        await st.sessions.putSession({ clientId: 'c', expiryInterval: 60, subscriptions: [] });
      });
      const [one] = await s.sessions.loadSessions();
      await s.close();
      assert.deepEqual(one, { clientId: 'c', expiryInterval: 60, subscriptions: [] });
    });

    test('deleting a session deletes its subscriptions, entries and QoS 2 state, not other sessions\'', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        for (const id of ['gone', 'kept']) {
          void st.sessions.putSession({ clientId: id, expiryInterval: 60, subscriptions: [] });
          void st.sessions.putSubscription(id, 't', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
          void st.queues.putEntry(id, entry(1, 1));
          void st.qos2.putIncoming(id, 9);
        }
        void st.queues.putMessage(1, message());
        await st.sessions.deleteSession('gone');
      });
      const sessions = await s.sessions.loadSessions();
      const queues = await s.queues.loadQueues();
      const incoming = await s.qos2.loadIncoming();
      await s.close();
      assert.deepEqual(sessions.map((x) => x.clientId), ['kept']);
      assert.deepEqual([...queues.entries.keys()], ['kept']);
      assert.deepEqual([...incoming], [['kept', [9]]]);
      assert.equal(queues.messages.size, 1, 'messages are deleted by id, not by session');
    });

    test('subscriptions: delete removes one filter', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.sessions.putSession({ clientId: 'c', expiryInterval: 60, subscriptions: [] });
        void st.sessions.putSubscription('c', 'x', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
        void st.sessions.putSubscription('c', 'y', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
        await st.sessions.deleteSubscription('c', 'x');
      });
      const [c] = await s.sessions.loadSessions();
      await s.close();
      assert.deepEqual(c!.subscriptions.map(([f]) => f), ['y']);
    });

    test('messages keep topic, payload bytes, QoS, retain, v5 properties, expiry time and publisher', async () => {
      const full = message({
        topic: 'sensors/ü/temp', payload: Buffer.from([0, 1, 2, 255, 0]), qos: 2, retain: true, expiresAt: 1_900_000_000_123, publisherId: 'pub-1',
        properties: {
          payloadFormatIndicator: true, messageExpiryInterval: 30, contentType: 'application/json', responseTopic: 'r/1',
          correlationData: Buffer.from([9, 8, 7]), userProperties: [['k', 'v'], ['k', 'v2']],
        },
      });
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.queues.putMessage(1, full);
        void st.queues.putMessage(2, message({ qos: 0, payload: Buffer.alloc(0) }));
        await st.queues.putMessage(3, message({ payload: Buffer.alloc(300_000, 7) }));
      });
      const { messages } = await s.queues.loadQueues();
      await s.close();
      assert.deepEqual(messages.get(1), full);
      assert.deepEqual(messages.get(2), message({ qos: 0, payload: Buffer.alloc(0) }));
      assert.deepEqual(messages.get(3)!.payload, Buffer.alloc(300_000, 7));
    });

    test('entries load per session in seq order; put replaces state and packet id; delete removes', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.queues.putMessage(1, message());
        void st.queues.putEntry('c', entry(12, 1));
        void st.queues.putEntry('c', entry(3, 1, { qos: 2, subscriptionIdentifiers: [4, 5], retain: true }));
        void st.queues.putEntry('c', entry(7, 1));
        void st.queues.putEntry('c', entry(3, 1, { qos: 2, subscriptionIdentifiers: [4, 5], retain: true, packetId: 65535, state: EntryState.AwaitPubcomp }));
        void st.queues.putEntry('d', entry(8, 1));
        await st.queues.deleteEntry('c', 7);
      });
      const { entries } = await s.queues.loadQueues();
      await s.close();
      assert.deepEqual(entries.get('c'), [
        entry(3, 1, { qos: 2, subscriptionIdentifiers: [4, 5], retain: true, packetId: 65535, state: EntryState.AwaitPubcomp }),
        entry(12, 1),
      ]);
      assert.deepEqual(entries.get('d'), [entry(8, 1)]);
    });

    test('deleteMessage removes only that message', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.queues.putMessage(1, message({ topic: 'one' }));
        void st.queues.putMessage(2, message({ topic: 'two' }));
        await st.queues.deleteMessage(1);
      });
      const { messages } = await s.queues.loadQueues();
      await s.close();
      assert.deepEqual([...messages.keys()], [2]);
    });

    test('[MQTT-4.3.3-9] QoS 2 receive state: packet ids per session, put twice is once, delete', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.qos2.putIncoming('c', 1);
        void st.qos2.putIncoming('c', 1);
        void st.qos2.putIncoming('c', 65535);
        void st.qos2.putIncoming('c', 2);
        await st.qos2.deleteIncoming('c', 2);
      });
      const incoming = await s.qos2.loadIncoming();
      await s.close();
      assert.deepEqual([...incoming.get('c')!].sort((a, b) => a - b), [1, 65535]);
    });

    test('[MQTT-3.3.1-5] retained: one per topic, replaced, deleted', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.retained.putRetained(message({ topic: 'r/1', payload: Buffer.from('old'), retain: true }));
        void st.retained.putRetained(message({ topic: 'r/1', payload: Buffer.from('new'), retain: true, expiresAt: 5 }));
        void st.retained.putRetained(message({ topic: 'r/2', retain: true }));
        void st.retained.putRetained(message({ topic: 'r/3', retain: true }));
        await st.retained.deleteRetained('r/3');
      });
      const retained = (await s.retained.loadRetained()).sort((a, b) => a.topic.localeCompare(b.topic));
      await s.close();
      assert.deepEqual(retained, [
        message({ topic: 'r/1', payload: Buffer.from('new'), retain: true, expiresAt: 5 }),
        message({ topic: 'r/2', retain: true }),
      ]);
    });

    test('wills: live (no due time) and pending (due time), replaced and deleted', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.wills.putWill('live', { message: message({ topic: 'w/live' }), delay: 0 });
        void st.wills.putWill('pending', { message: message({ topic: 'w/old' }), delay: 5 });
        void st.wills.putWill('pending', { message: message({ topic: 'w/pending', properties: { contentType: 'text/plain' } }), delay: 30, publishAt: 1_700_000_030_000 });
        void st.wills.putWill('gone', { message: message(), delay: 0 });
        await st.wills.deleteWill('gone');
      });
      const wills = await s.wills.loadWills();
      await s.close();
      assert.deepEqual(Object.fromEntries(wills), {
        live: { message: message({ topic: 'w/live' }), delay: 0 },
        pending: { message: message({ topic: 'w/pending', properties: { contentType: 'text/plain' } }), delay: 30, publishAt: 1_700_000_030_000 },
      });
    });

    test('writes take effect in call order within one turn (delete then put, put then delete)', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.retained.putRetained(message({ topic: 'x', retain: true }));
        void st.retained.deleteRetained('x');
        void st.retained.deleteRetained('y');
        await st.retained.putRetained(message({ topic: 'y', retain: true }));
      });
      const topics = (await s.retained.loadRetained()).map((m) => m.topic);
      await s.close();
      assert.deepEqual(topics, ['y']);
    });

    test('an entry and its message put and deleted in one turn leave nothing; deleted in a later turn too', async () => {
      const s = await roundTrip(kind.fresh(), async (st) => {
        void st.queues.putMessage(1, message());
        void st.queues.putEntry('c', entry(1, 1), true);
        void st.queues.putEntry('c', entry(1, 1, { packetId: 3, state: EntryState.AwaitAck }));
        void st.queues.deleteEntry('c', 1);
        await st.queues.deleteMessage(1);
        // Put in one commit, updated and deleted in the next: the delete must reach the store.
        void st.queues.putMessage(2, message());
        await st.queues.putEntry('c', entry(2, 2), true);
        void st.queues.putEntry('c', entry(2, 2, { packetId: 4, state: EntryState.AwaitAck }));
        void st.queues.deleteEntry('c', 2);
        await st.queues.deleteMessage(2);
        // Put in one commit, updated in the next: the update is what stays.
        void st.queues.putMessage(3, message());
        await st.queues.putEntry('c', entry(3, 3), true);
        await st.queues.putEntry('c', entry(3, 3, { packetId: 5, state: EntryState.AwaitPubcomp }));
      });
      const { messages, entries } = await s.queues.loadQueues();
      await s.close();
      assert.deepEqual([...messages.keys()], [3]);
      assert.deepEqual(entries.get('c'), [entry(3, 3, { packetId: 5, state: EntryState.AwaitPubcomp })]);
    });

    test('group commit: writes of one turn share one promise; barrier() is pending until it resolves', async () => {
      const st = await kind.fresh()();
      const a = st.queues.putMessage(1, message());
      const b = st.retained.putRetained(message({ topic: 'r', retain: true }));
      const barrier = st.barrier();
      if (st.durable) {
        assert.equal(a, b, 'one commit for the writes of one turn');
        assert.ok(barrier, 'a durable store reports pending writes');
        await barrier;
        await new Promise((r) => setImmediate(r));
        assert.equal(st.barrier(), undefined, 'nothing pending once the commit and its waiters ran');
      } else {
        assert.equal(barrier, undefined, 'a memory store has nothing to wait for');
      }
      await Promise.all([a, b]);
      await st.close();
    });
  });
}

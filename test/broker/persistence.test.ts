/**
 * A broker stopped and started again on the same store (memory object, SQLite file, Redis prefix) finds
 * its persistent sessions, subscriptions, queued and in-flight messages, QoS 2 state and retained
 * messages again, over real sockets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from '../../src/codec/index.js';
import type { Store } from '../../src/store/types.js';
import { RawClient, startBroker, type TestBroker } from './helpers.js';
import { STORE_KINDS } from '../store/store-kinds.js';

const persistent = (clientId: string): Partial<Extract<Packet, { type: 'connect' }>> => ({
  clientId, clean: false, properties: { sessionExpiryInterval: 3600 },
});

/** Receives `n` PUBLISH packets, acknowledging each flow to its end (PUBACK; PUBREC, PUBREL, PUBCOMP). */
async function receiveAll(c: RawClient, n: number): Promise<Array<Extract<Packet, { type: 'publish' }>>> {
  const got: Array<Extract<Packet, { type: 'publish' }>> = [];
  let open = 0;
  while (got.length < n || open > 0) {
    const p = await c.next();
    if (!p) throw new Error('closed');
    if (p.type === 'publish') {
      got.push(p);
      if (p.qos === 1) c.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      if (p.qos === 2) {
        open++;
        c.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
      }
    } else if (p.type === 'pubrel') {
      open--;
      c.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
    } else throw new Error(`unexpected ${p.type}`);
  }
  return got;
}

async function start(open: () => Promise<Store>): Promise<TestBroker> {
  const store = await open();
  const b = await startBroker({}, { store });
  await b.broker.restore();
  return b;
}

async function stop(b: TestBroker): Promise<void> {
  await b.close();
  await b.broker.store.close();
}

for (const kind of STORE_KINDS) {
  describe(`restart on the same store (${kind.name})`, () => {
    test('[MQTT-3.1.2-5] [MQTT-4.4.0-1] an offline persistent session gets its QoS 1/2 messages, in order, after a restart', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const sub = await RawClient.connected(b.port, persistent('sub'));
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'r/#', qos: 2 }] });
      await sub.expect('suback');
      sub.send({ type: 'disconnect', reasonCode: 0 });
      await sub.waitClosed();
      const pub = await RawClient.connected(b.port, { clientId: 'pub' });
      for (let i = 1; i <= 6; i++) {
        pub.send({ type: 'publish', topic: `r/${i}`, payload: Buffer.from(String(i)), qos: i % 2 === 0 ? 2 : 1, retain: false, dup: false, packetId: i });
        await pub.expect(i % 2 === 0 ? 'pubrec' : 'puback');
      }
      pub.end();
      await stop(b);

      b = await start(open);
      const back = await RawClient.open(b.port);
      back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...persistent('sub') } as Packet);
      const ack = await back.expect('connack');
      assert.equal(ack.sessionPresent, true, 'session present after the restart');
      const got = await receiveAll(back, 6);
      assert.deepEqual(got.map((p) => p.payload.toString()), ['1', '2', '3', '4', '5', '6']);
      assert.deepEqual(got.map((p) => p.qos), [1, 2, 1, 2, 1, 2]);
      await back.quiet(200);
      back.send({ type: 'disconnect', reasonCode: 0 });
      await back.waitClosed();
      await stop(b);

      // Acknowledged deliveries are gone from the store: a third start has nothing to resend.
      b = await start(open);
      const third = await RawClient.open(b.port);
      third.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...persistent('sub') } as Packet);
      assert.equal((await third.expect('connack')).sessionPresent, true);
      await third.quiet(200);
      third.end();
      await stop(b);
    });

    test('subscriptions come back: a message published after the restart reaches the offline session', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const sub = await RawClient.connected(b.port, persistent('s2'));
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'keep/+', qos: 1 }], properties: { subscriptionIdentifier: 42 } });
      await sub.expect('suback');
      sub.send({ type: 'disconnect', reasonCode: 0 });
      await sub.waitClosed();
      await stop(b);
      b = await start(open);
      const pub = await RawClient.connected(b.port, { clientId: 'p2' });
      pub.send({ type: 'publish', topic: 'keep/x', payload: Buffer.from('after'), qos: 1, retain: false, dup: false, packetId: 1 });
      assert.equal((await pub.expect('puback')).reasonCode, 0, 'a subscriber matched');
      const back = await RawClient.connected(b.port, persistent('s2'));
      const p = await back.expect('publish');
      assert.equal(p.payload.toString(), 'after');
      assert.deepEqual(p.properties?.subscriptionIdentifiers, [42]);
      back.end();
      pub.end();
      await stop(b);
    });

    test('[MQTT-4.3.3-5] a QoS 2 message PUBREC\'d before the restart is released with PUBREL, never resent', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const sub = await RawClient.connected(b.port, persistent('s3'));
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'q2', qos: 2 }] });
      await sub.expect('suback');
      const pub = await RawClient.connected(b.port, { clientId: 'p3' });
      pub.send({ type: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, retain: false, dup: false, packetId: 5 });
      const p = await sub.expect('publish');
      sub.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
      await sub.expect('pubrel');
      await stop(b); // the subscriber never sent PUBCOMP
      pub.end();
      b = await start(open);
      const back = await RawClient.connected(b.port, persistent('s3'));
      const rel = await back.expect('pubrel');
      assert.equal(rel.packetId, p.packetId);
      back.send({ type: 'pubcomp', packetId: rel.packetId, reasonCode: 0 });
      await back.quiet(200);
      back.end();
      await stop(b);
    });

    test('[MQTT-4.3.3-9] a QoS 2 PUBLISH received before the restart is acknowledged again, not delivered twice', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const sub = await RawClient.connected(b.port, persistent('s4'));
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'dup', qos: 1 }] });
      await sub.expect('suback');
      const pub = await RawClient.connected(b.port, persistent('p4'));
      pub.send({ type: 'publish', topic: 'dup', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 9 });
      await pub.expect('pubrec');
      const first = await sub.expect('publish');
      sub.send({ type: 'puback', packetId: first.packetId!, reasonCode: 0 });
      await sub.quiet(100);
      await stop(b);
      b = await start(open);
      const sub2 = await RawClient.connected(b.port, persistent('s4'));
      const pub2 = await RawClient.connected(b.port, persistent('p4'));
      pub2.send({ type: 'publish', topic: 'dup', payload: Buffer.from('x'), qos: 2, retain: false, dup: true, packetId: 9 });
      assert.equal((await pub2.expect('pubrec')).packetId, 9);
      pub2.send({ type: 'pubrel', packetId: 9, reasonCode: 0 });
      assert.equal((await pub2.expect('pubcomp')).reasonCode, 0, 'the packet id was known');
      await sub2.quiet(200);
      sub2.end();
      pub2.end();
      await stop(b);
    });

    test('[MQTT-3.3.1-5] [MQTT-3.3.1-10] retained messages come back; a deleted one stays deleted', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const pub = await RawClient.connected(b.port, { clientId: 'p5' });
      for (const [topic, text] of [['ret/a', 'A'], ['ret/b', 'B'], ['ret/b', ''], ['ret/c', 'C1'], ['ret/c', 'C2']] as const) {
        pub.send({ type: 'publish', topic, payload: Buffer.from(text), qos: 1, retain: true, dup: false, packetId: 1 });
        await pub.expect('puback');
      }
      pub.end();
      await stop(b);
      b = await start(open);
      const sub = await RawClient.connected(b.port, { clientId: 's5' });
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'ret/#', qos: 1 }] });
      await sub.expect('suback');
      const got = new Map<string, string>();
      for (let i = 0; i < 2; i++) {
        const p = await sub.expect('publish');
        assert.equal(p.retain, true);
        got.set(p.topic, p.payload.toString());
        sub.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      }
      assert.deepEqual(Object.fromEntries(got), { 'ret/a': 'A', 'ret/c': 'C2' });
      await sub.quiet(150);
      sub.end();
      await stop(b);
    });

    test('[MQTT-3.1.2-23] a session whose expiry passed while the broker was down is gone', async () => {
      const open = kind.fresh();
      let b = await start(open);
      const c = await RawClient.connected(b.port, { clientId: 's6', clean: false, properties: { sessionExpiryInterval: 1 } });
      c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'x', qos: 1 }] });
      await c.expect('suback');
      c.send({ type: 'disconnect', reasonCode: 0 });
      await c.waitClosed();
      await stop(b);
      await new Promise((r) => setTimeout(r, 1100));
      b = await start(open);
      assert.equal(b.broker.sessions.has('s6'), false);
      const again = await RawClient.open(b.port);
      again.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 's6', clean: false, properties: { sessionExpiryInterval: 1 } });
      assert.equal((await again.expect('connack')).sessionPresent, false);
      again.end();
      await stop(b);
    });
  });
}


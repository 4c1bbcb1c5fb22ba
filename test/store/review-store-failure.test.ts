/**
 * Review (h-review): what a broker promises after a store commit failed. A Redis server of this test's own
 * (never the shared one) is made to refuse writes with `CONFIG SET maxmemory 1` (OOM on every write, so
 * the MULTI/EXEC of a batch aborts), then given back. Invariants: a CONNACK that says "no session" and a
 * PUBREC must each stand for a durable store state, so a restart on the same store agrees with them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Packet } from '../../src/codec/index.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { RawClient, sleep, startBroker, type TestBroker } from '../broker/helpers.js';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.js';

let redis: OwnRedis;
let admin: Redis;
let url = '';

before(async () => {
  redis = await startOwnRedis();
  ({ url, admin } = redis);
});

after(() => redis.stop());

const persistent = (clientId: string, clean = false): Partial<Extract<Packet, { type: 'connect' }>> => ({
  clientId, clean, properties: { sessionExpiryInterval: 3600 },
});

async function start(prefix: string): Promise<TestBroker> {
  const store = await RedisStore.open({ url, prefix });
  const b = await startBroker({}, { store });
  await b.broker.restore();
  return b;
}

async function stop(b: TestBroker): Promise<void> {
  await b.close();
  await b.broker.store.close();
}

/** Every write refused (OOM) until `writable()`. */
const refuseWrites = (): Promise<unknown> => admin.config('SET', 'maxmemory', '1');
const writable = (): Promise<unknown> => admin.config('SET', 'maxmemory', '0');

describe('review: acknowledgements after a failed store commit (Redis refusing writes)', { timeout: 30_000 }, () => {
  test('a CONNACK with Clean Start reporting no session is not contradicted after a restart [MQTT-3.1.2-4]', async () => {
    const prefix = `review-${process.pid}-cs:`;
    let b = await start(prefix);
    const old = await RawClient.connected(b.port, persistent('cs'));
    old.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'cs/#', qos: 1 }] });
    await old.expect('suback');
    old.send({ type: 'disconnect', reasonCode: 0 });
    await old.waitClosed();

    await refuseWrites();
    let toldClean = false;
    try {
      const c = await RawClient.open(b.port);
      c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 'cs', clean: true, properties: {} });
      const ack = await c.next(1500).catch(() => undefined);
      toldClean = ack?.type === 'connack' && ack.reasonCode === 0 && !ack.sessionPresent;
      c.end();
      await sleep(200);
    } finally {
      await writable();
    }
    await stop(b);

    b = await start(prefix);
    try {
      const back = await RawClient.open(b.port);
      back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...persistent('cs') } as Packet);
      const ack = await back.expect('connack');
      if (toldClean) {
        assert.equal(ack.sessionPresent, false, 'the client was told its session was discarded; the restart brought it back');
      }
      back.end();
    } finally {
      await stop(b);
    }
  });

  test('a publisher whose message wrote nothing is not failed by another client\'s failed write (acks wait per connection)', async () => {
    const b = await start(`review-${process.pid}-cp:`);
    try {
      const p = await RawClient.connected(b.port, { clientId: 'plain' }); // no session, no will, no subscribers
      await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      let answer: Packet | undefined;
      try {
        // Another client's CONNECT stores its will: a write now pending in the store (its CONNACK waits for it).
        const w = await RawClient.open(b.port);
        w.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 'will', clean: true,
          will: { topic: 'w/gone', payload: Buffer.from('x'), qos: 0, retain: false } });
        await sleep(100);
        p.send({ type: 'publish', topic: 'nobody/1', payload: Buffer.from('1'), qos: 1, retain: false, dup: false, packetId: 1 });
        await sleep(200);
        await refuseWrites();
        await admin.call('CLIENT', 'UNPAUSE');
        answer = await p.next(2000).catch(() => undefined);
        w.end();
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
        await writable();
      }
      assert.equal(answer?.type, 'puback', `got ${JSON.stringify(answer)}`);
      p.end();
    } finally {
      await stop(b);
    }
  });

  test('[MQTT-4.3.3-9] a QoS 2 message PUBREC\'d after a failed commit survives a restart', async () => {
    const prefix = `review-${process.pid}-q2:`;
    let b = await start(prefix);
    const sub = await RawClient.connected(b.port, persistent('offline-sub'));
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'q2/#', qos: 2 }] });
    await sub.expect('suback');
    sub.send({ type: 'disconnect', reasonCode: 0 });
    await sub.waitClosed();

    const publish: Packet = { type: 'publish', topic: 'q2/m', payload: Buffer.from('m'), qos: 2, retain: false, dup: false, packetId: 7 };
    let pubrec = false;
    const pub = await RawClient.connected(b.port, persistent('q2-pub'));
    await refuseWrites();
    try {
      pub.send(publish);
      const p = await pub.next(1500).catch(() => undefined);
      if (p?.type === 'pubrec' && p.reasonCode === 0) pubrec = true;
      pub.end();
      await sleep(100);
    } finally {
      await writable();
    }

    // The publisher comes back (session present) and resends, as [MQTT-4.4.0-1] tells it to.
    const again = await RawClient.open(b.port);
    again.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...persistent('q2-pub') } as Packet);
    const ack = await again.next(2000).catch(() => undefined);
    if (ack?.type === 'connack' && ack.reasonCode === 0) {
      again.send({ ...publish, dup: true } as Packet);
      const p = await again.next(2000).catch(() => undefined);
      if (p?.type === 'pubrec' && p.reasonCode === 0) pubrec = true;
    }
    again.end();
    await sleep(100);
    await stop(b);

    b = await start(prefix);
    try {
      const back = await RawClient.open(b.port);
      back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...persistent('offline-sub') } as Packet);
      await back.expect('connack');
      const got = await back.next(1000).catch(() => undefined);
      if (pubrec) {
        assert.equal(got?.type, 'publish', 'the publisher holds a PUBREC for q2/m, but the offline session never gets it');
      }
      back.end();
    } finally {
      await stop(b);
    }
  });
});

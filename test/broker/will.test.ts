/**
 * Conformance over real sockets: the Will Message (3.1.2.5–3.1.2.7, 3.1.3.2–3.1.3.4): when it is
 * published and when not, retain, QoS, the v5 Will Delay Interval, will properties, and wills on session
 * takeover. Time runs on an injected clock.
 * Each test name starts with the spec statement it checks (MQTT 5 ids unless marked 3.1.1).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnackPacket, ConnectPacket, Packet, ProtocolVersion, PublishPacket, QoS, Will } from '../../src/codec/index.js';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import type { Clock } from '../../src/broker/types.js';
import { RawClient, sleep, startBroker, type TestBroker } from './helpers.js';

import { FakeClock, VNAME, ALL, idSeq, uid, connectOf, until, Ctx, withBroker, drainUntilClosed, closedSilently, staysOpen, persistent } from './clock-harness.js';

// ---------------------------------------------------------------- will helpers

function willOf(topic: string, payload = 'gone', more: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(payload), qos: 0, retain: false, ...more };
}

/** Drops the socket (no DISCONNECT) and waits until the broker noticed. */
async function drop(x: Ctx, c: RawClient, clientId: string): Promise<void> {
  c.end();
  await until(() => ![...x.broker.connections].some((k) => k.clientId === clientId), `broker to see ${clientId} leave`);
}

/** A subscriber of any version on `filter`. */
async function subscriberV(x: Ctx, v: ProtocolVersion, filter: string, qos: QoS = 1, retainAsPublished = false): Promise<RawClient> {
  const c = await x.connected(v, { clientId: uid('sub') });
  c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos, retainAsPublished }] });
  assert.deepEqual((await c.expect('suback')).reasonCodes, [qos]);
  return c;
}

async function expectWill(c: RawClient, topic: string, payload = 'gone', timeoutMs = 1500): Promise<PublishPacket> {
  const p = await c.expect('publish', timeoutMs);
  assert.equal(p.topic, topic);
  assert.equal(p.payload.toString(), payload);
  if (p.qos > 0) c.send({ type: 'puback', packetId: p.packetId! });
  return p;
}

// ---------------------------------------------------------------- when the will is published

describe('will: when it is published', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.2-7] [MQTT-3.1.2-8] the will, stored with the session at CONNECT, is published when the connection closes without DISCONNECT (socket dropped) (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('will/#', 1);
        const id = uid('w');
        const c = await x.connected(v, { clientId: id, will: willOf(`will/${id}`, 'bye', { qos: 1 }) });
        await sub.quiet(50); // nothing while the client is there
        await drop(x, c, id);
        const p = await expectWill(sub, `will/${id}`, 'bye');
        assert.equal(p.qos, 1);
        assert.equal(p.retain, false);
        await sub.quiet(80); // once
      }));

    test(`[MQTT-3.1.2-8] the will is published when the server closes the connection on keep alive timeout (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('will/#');
        const id = uid('ka');
        const c = await x.connected(v, { clientId: id, keepAlive: 2, will: willOf(`will/${id}`) });
        x.clock.advance(3000);
        await c.waitClosed();
        await expectWill(sub, `will/${id}`);
      }));

    test(`[MQTT-3.1.2-8] [MQTT-3.1.0-2] the will is published when the server closes the connection for a protocol error (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('will/#');
        const id = uid('pe');
        const c = await x.connected(v, { clientId: id, will: willOf(`will/${id}`) });
        c.send(connectOf(v, { clientId: id }));
        await c.waitClosed();
        await expectWill(sub, `will/${id}`);
      }));

    test(`[MQTT-3.1.2-10] [MQTT-3.14.4-3] no will after a normal DISCONNECT (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('will/#');
        const id = uid('ok');
        const c = await x.connected(v, { clientId: id, will: willOf(`will/${id}`) });
        c.send({ type: 'disconnect', reasonCode: 0 });
        await c.waitClosed();
        await sub.quiet(150);
      }));
  }

  test('[3.14.2.1] v5 DISCONNECT with Reason Code 0x04 (Disconnect with Will Message) publishes the will', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('will/#');
      const id = uid('dw');
      const c = await x.connected(5, { clientId: id, will: willOf(`will/${id}`, 'asked for') });
      c.send({ type: 'disconnect', reasonCode: 0x04 });
      await c.waitClosed();
      await expectWill(sub, `will/${id}`, 'asked for');
    }));

  test('[MQTT-3.1.2-8] [MQTT-3.1.2-10] v5 DISCONNECT with an error Reason Code (0x80, 0x83) does not delete the will: it is published', () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('will/#');
        for (const code of [0x80, 0x83]) {
          const id = uid('err');
          const c = await x.connected(5, { clientId: id, will: willOf(`will/${id}`, `after 0x${code.toString(16)}`) });
          c.send({ type: 'disconnect', reasonCode: code });
          await c.waitClosed();
          await expectWill(sub, `will/${id}`, `after 0x${code.toString(16)}`, 500);
        }
      }));

  test('[3.1.2.5] a refused CONNECT never publishes its will', () =>
    withBroker({ allowAnonymous: false }, { hooks: { authenticate: [(r) => (r.username === 'sub' ? { verdict: 'allow' } : undefined)] } }, async (x) => {
      const sub = await x.connected(5, { clientId: uid('sub'), username: 'sub' });
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'will/#', qos: 0 }] });
      await sub.expect('suback');
      for (const v of ALL) {
        const { c, ack } = await x.attempt(v, { clientId: uid('anon'), will: willOf('will/refused') });
        assert.notEqual(ack.reasonCode, 0);
        await c.waitClosed();
      }
      await sub.quiet(120);
    }));
});

// ---------------------------------------------------------------- retain and QoS

describe('will: retain and QoS', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.2-15] will retain 1: published as a retained message (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const live5 = await subscriberV(x, 5, 'wr/#', 1);
        const live5rap = await subscriberV(x, 5, 'wr/#', 1, true);
        const live4 = await subscriberV(x, 4, 'wr/#', 1);
        const id = uid('wr');
        const c = await x.connected(v, { clientId: id, will: willOf(`wr/${id}`, 'last words', { qos: 1, retain: true }) });
        await drop(x, c, id);
        // Live subscribers: RETAIN 0 unless Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13]; 3.1.1 [MQTT-3.3.1-9].
        assert.equal((await expectWill(live5, `wr/${id}`, 'last words')).retain, false);
        assert.equal((await expectWill(live5rap, `wr/${id}`, 'last words')).retain, true);
        assert.equal((await expectWill(live4, `wr/${id}`, 'last words')).retain, false);
        // A later subscriber gets it as a retained message.
        for (const sv of ALL) {
          const late = await subscriberV(x, sv, `wr/${id}`, 1);
          const p = await expectWill(late, `wr/${id}`, 'last words');
          assert.equal(p.retain, true);
        }
      }));

    test(`[MQTT-3.1.2-14] will retain 0: published as a non-retained message (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const live = await subscriberV(x, 5, 'wn/#', 1, true);
        const id = uid('wn');
        const c = await x.connected(v, { clientId: id, will: willOf(`wn/${id}`, 'plain', { qos: 1 }) });
        await drop(x, c, id);
        assert.equal((await expectWill(live, `wn/${id}`, 'plain')).retain, false);
        const late = await subscriberV(x, 5, `wn/${id}`, 1);
        await late.quiet(80);
        assert.equal(x.broker.retained.size, 0);
      }));

    test(`[3.1.2.6] [MQTT-3.8.4-8] will QoS: delivered at the lower of the will QoS and the subscription QoS (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const subs = [await subscriberV(x, 5, 'wq/#', 0), await subscriberV(x, 5, 'wq/#', 1), await subscriberV(x, 5, 'wq/#', 2)];
        const id = uid('wq');
        const c = await x.connected(v, { clientId: id, will: willOf(`wq/${id}/2`, 'q2', { qos: 2 }) });
        await drop(x, c, id);
        for (const [i, s] of subs.entries()) {
          const p = await s.expect('publish');
          assert.equal(p.qos, i, `subscription QoS ${i}`);
          if (p.qos === 1) s.send({ type: 'puback', packetId: p.packetId! });
          if (p.qos === 2) s.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
        }
        const id1 = uid('wq');
        const c1 = await x.connected(v, { clientId: id1, will: willOf(`wq/${id1}/1`, 'q1', { qos: 1 }) });
        await drop(x, c1, id1);
        await subs[2]!.expect('pubrel');
        const p = await subs[2]!.expect('publish');
        assert.equal(p.qos, 1, 'QoS 2 subscription, QoS 1 will');
      }));
  }

  test('[MQTT-3.3.1-6] [MQTT-3.3.1-7] a retained will with an empty payload removes the retained message of its topic', () =>
    withBroker({}, {}, async (x) => {
      const pub = await x.connected(5, { clientId: uid('pub') });
      pub.send({ type: 'publish', topic: 'wr/empty', payload: Buffer.from('old state'), qos: 1, retain: true, dup: false, packetId: 1 });
      await pub.expect('puback');
      assert.equal(x.broker.retained.size, 1);
      const id = uid('we');
      const c = await x.connected(5, { clientId: id, will: willOf('wr/empty', '', { retain: true }) });
      await drop(x, c, id);
      await until(() => x.broker.retained.size === 0, 'the retained message to be removed');
      const late = await subscriberV(x, 5, 'wr/empty', 1);
      await late.quiet(80);
    }));

  test('[MQTT-3.2.2-12] v5: a will QoS above Maximum QoS gets CONNACK 0x9B and is closed', () =>
    withBroker({ maximumQoS: 1 }, {}, async (x) => {
      const { c, ack } = await x.attempt(5, { will: willOf('wq/too', 'x', { qos: 2 }) });
      assert.equal(ack.reasonCode, 0x9b);
      await c.waitClosed();
    }));

  test('[MQTT-3.2.2-13] v5: a retained will when Retain is not available gets CONNACK 0x9A and is closed', () =>
    withBroker({ retainAvailable: false }, {}, async (x) => {
      const { c, ack } = await x.attempt(5, { will: willOf('wr/no', 'x', { retain: true }) });
      assert.equal(ack.reasonCode, 0x9a);
      await c.waitClosed();
    }));

  test('[MQTT-3.2.2-12] [MQTT-3.2.2-13] 3.1.1: an unsupported will QoS or retain is refused and closed (no CONNACK 0)', () =>
    withBroker({ maximumQoS: 1, retainAvailable: false }, {}, async (x) => {
      for (const will of [willOf('wq/too', 'x', { qos: 2 }), willOf('wr/no', 'x', { retain: true })]) {
        const c = await x.open(4);
        c.send(connectOf(4, { will }));
        const got = await drainUntilClosed(c);
        assert.ok(got.every((p) => p.type === 'connack' && p.reasonCode !== 0), JSON.stringify(got));
      }
    }));
});

// ---------------------------------------------------------------- Will Delay Interval (v5)

describe('will: Will Delay Interval (v5)', () => {
  const delayed = (id: string, delay: number, expiry = 60): Partial<ConnectPacket> => ({
    ...persistent(5, id, expiry), will: willOf(`wd/${id}`, 'late', { properties: { willDelayInterval: delay } }),
  });

  test('[3.1.3.2.2] [MQTT-3.1.2-8] the will is published only once the Will Delay Interval has passed', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 5));
      await drop(x, c, id);
      await sub.quiet(80);
      x.clock.advance(4_999);
      await sub.quiet(80);
      x.clock.advance(1);
      await expectWill(sub, `wd/${id}`, 'late');
    }));

  test('[MQTT-3.1.3-9] reconnecting with Clean Start 0 before the Will Delay Interval cancels the will', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 5));
      await drop(x, c, id);
      x.clock.advance(3_000);
      const back = await x.attempt(5, persistent(5, id));
      assert.equal(back.ack.sessionPresent, true);
      x.clock.advance(60_000);
      await sub.quiet(120);
      back.c.send({ type: 'disconnect', reasonCode: 0 });
      await back.c.waitClosed();
      x.clock.advance(60_000);
      await sub.quiet(80);
    }));

  test('[MQTT-3.1.2-8] a Will Delay longer than the Session Expiry Interval: the will is published when the session ends', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 30, 5));
      await drop(x, c, id);
      x.clock.advance(4_999);
      await sub.quiet(80);
      x.clock.advance(1);
      await expectWill(sub, `wd/${id}`, 'late');
      x.clock.advance(60_000);
      await sub.quiet(80); // once
    }));

  test('[MQTT-3.1.2-8] Session Expiry 0 with a Will Delay: the session ends at close, the will is published at once', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, { clientId: id, will: willOf(`wd/${id}`, 'late', { properties: { willDelayInterval: 30 } }) });
      await drop(x, c, id);
      await expectWill(sub, `wd/${id}`, 'late');
    }));

  test('[MQTT-3.1.2-8] reconnecting with Clean Start 1 before the delay ends the old session: the will is published at once', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 30));
      await drop(x, c, id);
      await sub.quiet(60);
      const fresh = await x.attempt(5, { ...persistent(5, id), clean: true });
      assert.equal(fresh.ack.sessionPresent, false);
      await expectWill(sub, `wd/${id}`, 'late');
      x.clock.advance(60_000);
      await sub.quiet(80); // once
    }));

  test('[3.14.2.1] [3.1.3.2.2] DISCONNECT 0x04 with a Will Delay: the will waits for the delay too', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 5));
      c.send({ type: 'disconnect', reasonCode: 0x04 });
      await c.waitClosed();
      await sub.quiet(60);
      x.clock.advance(5_000);
      await expectWill(sub, `wd/${id}`, 'late');
    }));

  test('[3.14.2.2.2] [MQTT-3.1.2-8] DISCONNECT 0x04 setting Session Expiry 0: the session ends, the will goes at once despite its delay', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wd/#');
      const id = uid('wd');
      const c = await x.connected(5, delayed(id, 30));
      c.send({ type: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } });
      await c.waitClosed();
      await expectWill(sub, `wd/${id}`, 'late');
    }));
});

// ---------------------------------------------------------------- will properties (v5)

describe('will: properties (v5)', () => {
  test('[MQTT-3.1.3-10] [3.1.3.2] will properties reach the subscriber: payload format, content type, response topic, correlation data, user properties in order, expiry', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wp/#');
      const id = uid('wp');
      const userProperties: Array<[string, string]> = [['z', '1'], ['a', '2'], ['z', '3'], ['m', '']];
      const c = await x.connected(5, {
        clientId: id,
        will: willOf(`wp/${id}`, '{"state":"offline"}', {
          properties: {
            payloadFormatIndicator: true, messageExpiryInterval: 60, contentType: 'application/json',
            responseTopic: `wp/${id}/reply`, correlationData: Buffer.from([0, 1, 2, 0xff]), userProperties,
          },
        }),
      });
      await drop(x, c, id);
      const p = await expectWill(sub, `wp/${id}`, '{"state":"offline"}');
      assert.equal(p.properties?.payloadFormatIndicator, true);
      assert.equal(p.properties?.contentType, 'application/json');
      assert.equal(p.properties?.responseTopic, `wp/${id}/reply`);
      assert.deepEqual(p.properties?.correlationData, Buffer.from([0, 1, 2, 0xff]));
      assert.deepEqual(p.properties?.userProperties, userProperties);
      assert.equal(p.properties?.messageExpiryInterval, 60);
      assert.equal((p.properties as Record<string, unknown> | undefined)?.['willDelayInterval'], undefined);
    }));

  test('[3.1.3.2.4] the will\'s Message Expiry Interval counts from its publication, not from CONNECT', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wp/#');
      const id = uid('wp');
      const c = await x.connected(5, {
        ...persistent(5, id),
        will: willOf(`wp/${id}`, 'x', { properties: { willDelayInterval: 20, messageExpiryInterval: 30 } }),
      });
      x.clock.advance(15_000); // connected a while before it drops
      await drop(x, c, id);
      x.clock.advance(20_000);
      const p = await expectWill(sub, `wp/${id}`, 'x');
      assert.equal(p.properties?.messageExpiryInterval, 30);
    }));

  test('[MQTT-3.3.2-5] a will waiting for an offline subscriber expires with its Message Expiry Interval', () =>
    withBroker({}, {}, async (x) => {
      const sid = uid('offsub');
      const sub = await x.connected(5, persistent(5, sid, 600));
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'wx/#', qos: 1 }] });
      await sub.expect('suback');
      await drop(x, sub, sid);
      const id1 = uid('wx');
      const a = await x.connected(5, { clientId: id1, will: willOf(`wx/${id1}`, 'short', { qos: 1, properties: { messageExpiryInterval: 10 } }) });
      const id2 = uid('wx');
      const b = await x.connected(5, { clientId: id2, will: willOf(`wx/${id2}`, 'long', { qos: 1, properties: { messageExpiryInterval: 100 } }) });
      await drop(x, a, id1);
      await drop(x, b, id2);
      x.clock.advance(11_000);
      const back = await x.attempt(5, persistent(5, sid, 600));
      assert.equal(back.ack.sessionPresent, true);
      const p = await expectWill(back.c, `wx/${id2}`, 'long');
      assert.equal(p.properties?.messageExpiryInterval, 89);
      await back.c.quiet(80);
    }));

  test('[3.1.3.2] a v5 will reaches a 3.1.1 subscriber without its properties', () =>
    withBroker({}, {}, async (x) => {
      const sub = await subscriberV(x, 4, 'wp/#', 1);
      const id = uid('wp');
      const c = await x.connected(5, { clientId: id, will: willOf(`wp/${id}`, 'v5 will', { qos: 1, properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } }) });
      await drop(x, c, id);
      const p = await expectWill(sub, `wp/${id}`, 'v5 will');
      assert.equal(p.properties, undefined);
    }));
});

// ---------------------------------------------------------------- takeover

describe('will: session takeover', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.4-3] [MQTT-3.1.2-8] the taken-over connection's will is published (new connection Clean Start 1) (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('wt/#');
        const id = uid('wt');
        const old = await x.connected(v, { clientId: id, will: willOf(`wt/${id}`, 'taken over') });
        await x.connected(v, { clientId: id, clean: true });
        await old.waitClosed();
        await expectWill(sub, `wt/${id}`, 'taken over');
        await sub.quiet(80); // once
      }));
  }

  for (const v of [3, 4] as const) {
    test(`[MQTT-3.1.4-3] [MQTT-3.1.2-8] ${VNAME[v]}: taken over by a Clean Session 0 connection, the old will is published (no delay exists)`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('wt/#');
        const id = uid('wt');
        const old = await x.connected(v, { ...persistent(v, id), will: willOf(`wt/${id}`, 'taken over') });
        const fresh = await x.attempt(v, persistent(v, id));
        assert.equal(fresh.ack.sessionPresent, true);
        await old.waitClosed();
        await expectWill(sub, `wt/${id}`, 'taken over');
      }));
  }

  test('[MQTT-3.1.3-9] v5: taken over by a Clean Start 0 connection within the Will Delay Interval, the old will is not published', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wt/#');
      const id = uid('wt');
      const old = await x.connected(5, { ...persistent(5, id), will: willOf(`wt/${id}`, 'taken over', { properties: { willDelayInterval: 10 } }) });
      const fresh = await x.attempt(5, persistent(5, id));
      assert.equal(fresh.ack.sessionPresent, true);
      assert.equal((await old.expect('disconnect')).reasonCode, 0x8e);
      x.clock.advance(60_000);
      await sub.quiet(120);
    }));

  test('[MQTT-3.1.2-8] v5: taken over by a Clean Start 0 connection, a will without delay is published at once', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wt/#');
      const id = uid('wt');
      const old = await x.connected(5, { ...persistent(5, id), will: willOf(`wt/${id}`, 'taken over') });
      const fresh = await x.attempt(5, persistent(5, id));
      assert.equal(fresh.ack.sessionPresent, true);
      await old.waitClosed();
      await expectWill(sub, `wt/${id}`, 'taken over');
    }));

  test('[MQTT-3.1.2-8] v5: taken over by a Clean Start 1 connection, the old session ends and a delayed will is published at once', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wt/#');
      const id = uid('wt');
      const old = await x.connected(5, { ...persistent(5, id), will: willOf(`wt/${id}`, 'taken over', { properties: { willDelayInterval: 10 } }) });
      const fresh = await x.attempt(5, { ...persistent(5, id), clean: true });
      assert.equal(fresh.ack.sessionPresent, false);
      await old.waitClosed();
      await expectWill(sub, `wt/${id}`, 'taken over');
      x.clock.advance(60_000);
      await sub.quiet(80); // once
    }));

  test('[MQTT-3.1.2-8] v5: the new connection\'s own will replaces the old one (the old will does not come back later)', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('wt/#');
      const id = uid('wt');
      await x.connected(5, { ...persistent(5, id), will: willOf(`wt/${id}/old`, 'old', { properties: { willDelayInterval: 10 } }) });
      const fresh = await x.connected(5, { ...persistent(5, id), will: willOf(`wt/${id}/new`, 'new', { properties: { willDelayInterval: 10 } }) });
      x.clock.advance(20_000);
      await sub.quiet(80);
      await drop(x, fresh, id);
      x.clock.advance(10_000);
      await expectWill(sub, `wt/${id}/new`, 'new');
      await sub.quiet(80);
    }));
});

// ---------------------------------------------------------------- authorization of the will topic

describe('will: authorization', () => {
  test('[5.4.2] [4.7.2] a will on a $SYS topic is never published nor retained (clients do not publish into $SYS)', () =>
    withBroker({}, {}, async (x) => {
      const sub = await subscriberV(x, 5, '$SYS/#', 0);
      for (const v of ALL) {
        const id = uid('sys');
        const { c, ack } = await x.attempt(v, { clientId: id, will: willOf(`$SYS/broker/${id}`, 'forged', { retain: true }) });
        if (ack.reasonCode === 0) await drop(x, c, id); // refusing the CONNECT is fine too
        else await c.waitClosed();
      }
      await sub.quiet(120);
      assert.equal(x.broker.retained.match('$SYS/#', x.clock.now()).length, 0, 'forged retained $SYS message');
    }));

  test('[5.4.2] the authorizePublish hooks apply to the will: a will on a topic the client may not publish to is not delivered', () => {
    const asked: string[] = [];
    const authorizePublish = [(_c: unknown, m: { topic: string }) => {
      asked.push(m.topic);
      return !m.topic.startsWith('locked/');
    }];
    return withBroker({}, { hooks: { authorizePublish } }, async (x) => {
      const sub = await subscriberV(x, 5, 'locked/#', 0);
      // Sanity: the hook is in force for a plain PUBLISH.
      const p = await x.connected(5, { clientId: uid('p') });
      p.send({ type: 'publish', topic: 'locked/direct', payload: Buffer.from('no'), qos: 1, retain: false, dup: false, packetId: 1 });
      assert.equal((await p.expect('puback')).reasonCode, 0x87);
      for (const v of ALL) {
        const id = uid('lw');
        const { c, ack } = await x.attempt(v, { clientId: id, will: willOf(`locked/${id}`, 'smuggled') });
        if (ack.reasonCode === 0) await drop(x, c, id); // refusing the CONNECT (0x87) is fine too
        else await c.waitClosed();
      }
      await sub.quiet(120);
      assert.ok(asked.some((t) => t.startsWith('locked/will') || t.startsWith('locked/lw')), `hook never asked about a will topic: ${asked.join(', ')}`);
    });
  });
});

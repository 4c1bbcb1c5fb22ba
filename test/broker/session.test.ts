/**
 * Conformance over real sockets: sessions (4.1) — Clean Start and Session Present (3.1.2.4, 3.2.2.1.1),
 * session takeover (3.1.4), Session Expiry Interval (3.1.2.11.2, 3.14.2.2.2), messages kept for an
 * offline session and resent on resumption (4.4). Time runs on an injected clock.
 * Each test name starts with the spec statement it checks (MQTT 5 ids unless marked 3.1.1).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnackPacket, ConnectPacket, Packet, ProtocolVersion, PublishPacket, QoS } from '../../src/codec/index.js';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import type { Clock } from '../../src/broker/types.js';
import { RawClient, sleep, startBroker, type TestBroker } from './helpers.js';

import { FakeClock, VNAME, ALL, idSeq, uid, connectOf, until, Ctx, withBroker, drainUntilClosed, closedSilently, staysOpen, persistent } from './clock-harness.js';

// ---------------------------------------------------------------- session helpers

async function subscribe(c: RawClient, filter: string, qos: QoS): Promise<void> {
  c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  assert.deepEqual((await c.expect('suback')).reasonCodes, [qos]);
}

/** A v5 publisher that completes each flow before returning. */
async function publisher(x: Ctx): Promise<(topic: string, payload: string, qos: QoS) => Promise<void>> {
  const p = await x.connected(5, { clientId: uid('pub') });
  let id = 0;
  return async (topic, payload, qos) => {
    const packetId = ++id;
    p.send({ type: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, ...(qos > 0 ? { packetId } : {}) });
    if (qos === 1) assert.equal((await p.expect('puback')).packetId, packetId);
    if (qos === 2) {
      await p.expect('pubrec');
      p.send({ type: 'pubrel', packetId, reasonCode: 0 });
      await p.expect('pubcomp');
    }
    if (qos === 0) await sleep(10);
  };
}

/** Ends the connection the friendly way (DISCONNECT 0x00) and waits for the server to close it. */
async function leave(c: RawClient): Promise<void> {
  c.send({ type: 'disconnect', reasonCode: 0 });
  await c.waitClosed();
}

/** Drops the socket (no DISCONNECT) and waits until the broker noticed. */
async function drop(x: Ctx, c: RawClient, clientId: string): Promise<void> {
  c.end();
  await until(() => ![...x.broker.connections].some((k) => k.clientId === clientId), `broker to see ${clientId} leave`);
}

async function expectPublish(c: RawClient, want: { topic?: string; payload: string; qos?: QoS; dup?: boolean; packetId?: number }): Promise<PublishPacket> {
  const p = await c.expect('publish');
  assert.equal(p.payload.toString(), want.payload);
  if (want.topic !== undefined) assert.equal(p.topic, want.topic);
  if (want.qos !== undefined) assert.equal(p.qos, want.qos);
  if (want.dup !== undefined) assert.equal(p.dup, want.dup, `DUP of "${want.payload}"`);
  if (want.packetId !== undefined) assert.equal(p.packetId, want.packetId);
  return p;
}

// ---------------------------------------------------------------- Clean Start, Session Present

describe('clean start and session present', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.2-6] [MQTT-3.2.2-3] Clean Start 0 without a session creates one: Session Present 0 (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('fresh');
        const { ack } = await x.attempt(v, persistent(v, id));
        assert.equal(ack.reasonCode, 0);
        assert.equal(ack.sessionPresent, false);
        assert.equal(x.broker.sessions.has(id), true);
      }));

    test(`[MQTT-3.1.2-5] [MQTT-3.2.2-3] Clean Start 0 resumes the session: Session Present 1, subscriptions survive (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('keep');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `keep/${id}/#`, 1);
        await leave(a);
        const { c, ack } = await x.attempt(v, persistent(v, id));
        assert.equal(ack.reasonCode, 0);
        assert.equal(ack.sessionPresent, true);
        const pub = await publisher(x);
        await pub(`keep/${id}/x`, 'still subscribed', 1);
        const p = await expectPublish(c, { topic: `keep/${id}/x`, payload: 'still subscribed', qos: 1, dup: false });
        c.send({ type: 'puback', packetId: p.packetId! });
      }));

    test(`[MQTT-3.1.2-4] [MQTT-3.2.2-2] Clean Start 1 discards the session: Session Present 0, no subscriptions, no queued messages (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('wipe');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `wipe/${id}`, 1);
        await leave(a);
        const pub = await publisher(x);
        await pub(`wipe/${id}`, 'queued while offline', 1);
        const fields = { ...persistent(v, id), clean: true };
        const { c, ack } = await x.attempt(v, fields);
        assert.equal(ack.reasonCode, 0);
        assert.equal(ack.sessionPresent, false);
        await c.quiet(100); // the queued message went with the old session
        await pub(`wipe/${id}`, 'after clean start', 1);
        await c.quiet(100); // and so did the subscription
      }));
  }

  test('[MQTT-3.2.2-6] a refused CONNECT has Session Present 0 even when a session exists, and leaves the session alone', () =>
    withBroker({}, { hooks: { authenticate: [(r) => (r.username === 'mallory' ? { verdict: 'deny' } : undefined)] } }, async (x) => {
      const id = uid('victim');
      const owner = await x.connected(5, persistent(5, id));
      await subscribe(owner, `victim/${id}`, 1);
      const { c, ack } = await x.attempt(5, { ...persistent(5, id), username: 'mallory' });
      assert.equal(ack.reasonCode, 0x86);
      assert.equal(ack.sessionPresent, false);
      await c.waitClosed();
      // [3.1.4] takeover happens only after validation succeeded: the owner is still connected and subscribed.
      await staysOpen(owner);
      const pub = await publisher(x);
      await pub(`victim/${id}`, 'still mine', 1);
      await expectPublish(owner, { payload: 'still mine' });
    }));
});

// ---------------------------------------------------------------- takeover

describe('session takeover', () => {
  test('[MQTT-3.1.4-3] a second connection with the same client id: the old one gets DISCONNECT 0x8E and is closed (MQTT 5)', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('dup');
      const old = await x.connected(5, { clientId: id });
      const fresh = await x.connected(5, { clientId: id });
      const got = await drainUntilClosed(old);
      assert.equal(got.length, 1, JSON.stringify(got));
      const d = got[0] as Extract<Packet, { type: 'disconnect' }>;
      assert.equal(d.type, 'disconnect');
      assert.equal(d.reasonCode, 0x8e);
      assert.equal(d.properties?.sessionExpiryInterval, undefined, '[MQTT-3.14.2-2] no Session Expiry Interval from the server');
      await subscribe(fresh, 'dup/ok', 0);
      await staysOpen(fresh);
    }));

  for (const v of [3, 4] as const) {
    test(`3.1.1 [MQTT-3.1.4-2] a second connection with the same client id: the old one is closed without a packet (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('dup');
        const old = await x.connected(v, { clientId: id });
        const fresh = await x.connected(v, { clientId: id });
        await closedSilently(old);
        await subscribe(fresh, 'dup/ok', 0);
        await staysOpen(fresh);
      }));
  }

  test('[MQTT-3.1.4-3] takeover across protocol versions: v5 old gets 0x8E from a 3.1.1 newcomer, 3.1.1 old is just closed by a v5 one', () =>
    withBroker({}, {}, async (x) => {
      const a = uid('mix');
      const old5 = await x.connected(5, { clientId: a });
      await x.connected(4, { clientId: a });
      assert.equal((await old5.expect('disconnect')).reasonCode, 0x8e);
      await old5.waitClosed();
      const b = uid('mix');
      const old4 = await x.connected(4, { clientId: b });
      await x.connected(5, { clientId: b });
      await closedSilently(old4);
    }));

  for (const v of ALL) {
    test(`[MQTT-3.1.4-3] [MQTT-3.1.2-5] takeover with Clean Start 0 continues the session: Session Present 1, subscriptions move over (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('move');
        const old = await x.connected(v, persistent(v, id));
        await subscribe(old, `move/${id}`, 1);
        const { c, ack } = await x.attempt(v, persistent(v, id));
        assert.equal(ack.sessionPresent, true);
        await old.waitClosed();
        const pub = await publisher(x);
        await pub(`move/${id}`, 'to the new one', 1);
        await expectPublish(c, { payload: 'to the new one', qos: 1, dup: false });
      }));

    test(`[MQTT-3.1.4-3] [MQTT-3.1.2-4] takeover with Clean Start 1 starts afresh: Session Present 0, old subscriptions gone (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('reset');
        const old = await x.connected(v, persistent(v, id));
        await subscribe(old, `reset/${id}`, 1);
        const { c, ack } = await x.attempt(v, { ...persistent(v, id), clean: true });
        assert.equal(ack.sessionPresent, false);
        await old.waitClosed();
        const pub = await publisher(x);
        await pub(`reset/${id}`, 'nobody', 1);
        await c.quiet(100);
      }));
  }
});

// ---------------------------------------------------------------- Session Expiry Interval

describe('session expiry', () => {
  test('[3.1.2.11.2] v5 Session Expiry Interval absent (0): the session ends when the connection closes', () =>
    withBroker({}, {}, async (x) => {
      for (const how of ['disconnect', 'drop'] as const) {
        const id = uid('zero');
        const a = await x.connected(5, { clientId: id, clean: false });
        await subscribe(a, `zero/${id}`, 1);
        if (how === 'disconnect') await leave(a);
        else await drop(x, a, id);
        const pub = await publisher(x);
        await pub(`zero/${id}`, 'lost', 1);
        const { c, ack } = await x.attempt(5, { clientId: id, clean: false });
        assert.equal(ack.sessionPresent, false, `after ${how}`);
        await c.quiet(80);
      }
    }));

  test('[MQTT-3.1.2-23] [MQTT-4.1.0-2] v5 Session Expiry Interval > 0: the session is kept after close and discarded once the interval passed', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('exp');
      const a = await x.connected(5, persistent(5, id, 10));
      await subscribe(a, `exp/${id}`, 1);
      await drop(x, a, id);
      x.clock.advance(9_999);
      const b = await x.attempt(5, persistent(5, id, 10));
      assert.equal(b.ack.sessionPresent, true, 'session gone before its interval');
      await drop(x, b.c, id);
      x.clock.advance(10_000);
      const c = await x.attempt(5, persistent(5, id, 10));
      assert.equal(c.ack.sessionPresent, false, 'session kept past its interval');
      const pub = await publisher(x);
      await pub(`exp/${id}`, 'unsubscribed', 1);
      await c.c.quiet(80);
    }));

  test('[3.2.2.3.2] the server caps the Session Expiry Interval at maxSessionExpiry, announces it in CONNACK and applies it', () =>
    withBroker({ limits: { maxSessionExpiry: 5 } }, {}, async (x) => {
      const id = uid('cap');
      const a = await x.attempt(5, persistent(5, id, 3600));
      assert.equal(a.ack.properties?.sessionExpiryInterval, 5);
      await drop(x, a.c, id);
      x.clock.advance(4_999);
      const b = await x.attempt(5, persistent(5, id, 3600));
      assert.equal(b.ack.sessionPresent, true);
      await drop(x, b.c, id);
      x.clock.advance(5_000);
      const c = await x.attempt(5, persistent(5, id, 3600));
      assert.equal(c.ack.sessionPresent, false);
      // Within the cap: no Session Expiry Interval in CONNACK (the client's value applies).
      const d = await x.attempt(5, persistent(5, uid('cap'), 5));
      assert.equal(d.ack.properties?.sessionExpiryInterval, undefined);
    }));

  for (const v of [3, 4] as const) {
    test(`[3.1.2.11.2] ${VNAME[v]} Clean Session 0 sessions are kept, bounded by maxSessionExpiry (broker policy)`, () =>
      withBroker({ limits: { maxSessionExpiry: 100 } }, {}, async (x) => {
        const id = uid('v4exp');
        const a = await x.connected(v, persistent(v, id));
        await drop(x, a, id);
        x.clock.advance(99_999);
        const b = await x.attempt(v, persistent(v, id));
        assert.equal(b.ack.sessionPresent, true);
        await drop(x, b.c, id);
        x.clock.advance(100_000);
        const c = await x.attempt(v, persistent(v, id));
        assert.equal(c.ack.sessionPresent, false);
      }));

    test(`3.1.1 [MQTT-3.1.2-6] ${VNAME[v]} Clean Session 1: the session ends with the connection`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('v4clean');
        const a = await x.connected(v, { protocolVersion: v, clientId: id, clean: true });
        await subscribe(a, `v4clean/${id}`, 1);
        await leave(a);
        const { ack } = await x.attempt(v, persistent(v, id));
        assert.equal(ack.sessionPresent, false);
      }));
  }

  test('[3.14.2.2.2] DISCONNECT with Session Expiry Interval 0 ends a session that was to be kept', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('dis0');
      const a = await x.connected(5, persistent(5, id, 60));
      await subscribe(a, `dis0/${id}`, 1);
      a.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
      await a.waitClosed();
      const { ack } = await x.attempt(5, persistent(5, id, 60));
      assert.equal(ack.sessionPresent, false);
    }));

  test('[3.14.2.2.2] DISCONNECT may lengthen the Session Expiry Interval (10 s → 100 s)', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('dis100');
      const a = await x.connected(5, persistent(5, id, 10));
      a.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 100 } });
      await a.waitClosed();
      x.clock.advance(50_000);
      const b = await x.attempt(5, persistent(5, id, 10));
      assert.equal(b.ack.sessionPresent, true, 'ended at the CONNECT interval instead of the DISCONNECT one');
      b.c.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 100 } });
      await b.c.waitClosed();
      x.clock.advance(100_000);
      const c = await x.attempt(5, persistent(5, id, 10));
      assert.equal(c.ack.sessionPresent, false);
    }));

  test('[3.14.2.2.2] [MQTT-3.14.2-2] DISCONNECT setting a Session Expiry Interval after CONNECT had 0 is a Protocol Error: DISCONNECT 0x82, no session kept', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('raise');
      const a = await x.connected(5, { clientId: id, clean: true });
      await subscribe(a, `raise/${id}`, 1);
      a.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
      const got = await drainUntilClosed(a);
      assert.equal(got.length, 1, JSON.stringify(got));
      const d = got[0] as Extract<Packet, { type: 'disconnect' }>;
      assert.equal(d.type, 'disconnect');
      assert.equal(d.reasonCode, 0x82);
      // [MQTT-3.14.2-2] the server never sends a Session Expiry Interval on DISCONNECT.
      assert.equal(d.properties?.sessionExpiryInterval, undefined);
      const { ack } = await x.attempt(5, persistent(5, id));
      assert.equal(ack.sessionPresent, false);
    }));
});

// ---------------------------------------------------------------- messages across connections

describe('offline messages and resending', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.2-5] [MQTT-4.6.0-5] QoS 1 and 2 messages published while a session is offline are delivered on reconnect, in order (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('off');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `off/${id}/#`, 2);
        await leave(a);
        const pub = await publisher(x);
        await pub(`off/${id}/a`, 'm1', 1);
        await pub(`off/${id}/a`, 'm2', 1);
        await pub(`off/${id}/b`, 'm3', 2);
        const { c, ack } = await x.attempt(v, persistent(v, id));
        assert.equal(ack.sessionPresent, true);
        const p1 = await expectPublish(c, { topic: `off/${id}/a`, payload: 'm1', qos: 1, dup: false });
        const p2 = await expectPublish(c, { topic: `off/${id}/a`, payload: 'm2', qos: 1, dup: false });
        const p3 = await expectPublish(c, { topic: `off/${id}/b`, payload: 'm3', qos: 2, dup: false });
        assert.equal(new Set([p1.packetId, p2.packetId, p3.packetId]).size, 3, 'packet ids in use must differ');
        c.send({ type: 'puback', packetId: p1.packetId! });
        c.send({ type: 'puback', packetId: p2.packetId! });
        c.send({ type: 'pubrec', packetId: p3.packetId!, reasonCode: 0 });
        assert.equal((await c.expect('pubrel')).packetId, p3.packetId);
        c.send({ type: 'pubcomp', packetId: p3.packetId!, reasonCode: 0 });
        await c.quiet(80);
      }));

    test(`[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged QoS 1 PUBLISH is resent with DUP 1 and the same packet id on resumption, and only then (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('re1');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `re1/${id}`, 1);
        const pub = await publisher(x);
        await pub(`re1/${id}`, 'ack me', 1);
        const first = await expectPublish(a, { payload: 'ack me', qos: 1, dup: false });
        await a.quiet(150); // [MQTT-4.4.0-1] no resending while the connection lives
        await drop(x, a, id);
        const b = await x.attempt(v, persistent(v, id));
        assert.equal(b.ack.sessionPresent, true);
        await expectPublish(b.c, { topic: `re1/${id}`, payload: 'ack me', qos: 1, dup: true, packetId: first.packetId! });
        b.c.send({ type: 'puback', packetId: first.packetId! });
        await b.c.quiet(50);
        await drop(x, b.c, id);
        const c = await x.attempt(v, persistent(v, id));
        assert.equal(c.ack.sessionPresent, true);
        await c.c.quiet(100); // acknowledged: never resent again
      }));

    test(`[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged QoS 2 PUBLISH (no PUBREC) is resent with DUP 1 and the same packet id (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('re2');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `re2/${id}`, 2);
        const pub = await publisher(x);
        await pub(`re2/${id}`, 'exactly once', 2);
        const first = await expectPublish(a, { payload: 'exactly once', qos: 2, dup: false });
        await drop(x, a, id);
        const b = await x.attempt(v, persistent(v, id));
        await expectPublish(b.c, { payload: 'exactly once', qos: 2, dup: true, packetId: first.packetId! });
        b.c.send({ type: 'pubrec', packetId: first.packetId!, reasonCode: 0 });
        assert.equal((await b.c.expect('pubrel')).packetId, first.packetId);
        b.c.send({ type: 'pubcomp', packetId: first.packetId!, reasonCode: 0 });
        await b.c.quiet(80);
      }));

    test(`[MQTT-4.4.0-1] [MQTT-4.3.3-6] a QoS 2 flow that got PUBREC: PUBREL is resent on resumption, not the PUBLISH (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('rel');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `rel/${id}`, 2);
        const pub = await publisher(x);
        await pub(`rel/${id}`, 'half way', 2);
        const first = await expectPublish(a, { payload: 'half way', qos: 2 });
        a.send({ type: 'pubrec', packetId: first.packetId!, reasonCode: 0 });
        assert.equal((await a.expect('pubrel')).packetId, first.packetId);
        await drop(x, a, id); // no PUBCOMP
        const b = await x.attempt(v, persistent(v, id));
        assert.equal(b.ack.sessionPresent, true);
        const again = await b.c.next();
        assert.deepEqual(again && [again.type, (again as { packetId?: number }).packetId], ['pubrel', first.packetId]);
        b.c.send({ type: 'pubcomp', packetId: first.packetId!, reasonCode: 0 });
        await b.c.quiet(80);
        await drop(x, b.c, id);
        const c = await x.attempt(v, persistent(v, id));
        await c.c.quiet(100); // completed: nothing left to resend
      }));

    test(`[MQTT-4.4.0-1] [MQTT-4.6.0-5] on resumption unacknowledged messages are resent first, in order, then queued ones follow (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('ord');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `ord/${id}`, 1);
        const pub = await publisher(x);
        await pub(`ord/${id}`, 'one', 1);
        await pub(`ord/${id}`, 'two', 1);
        const p1 = await expectPublish(a, { payload: 'one', dup: false });
        const p2 = await expectPublish(a, { payload: 'two', dup: false });
        await drop(x, a, id);
        await pub(`ord/${id}`, 'three', 1);
        const b = await x.attempt(v, persistent(v, id));
        await expectPublish(b.c, { payload: 'one', dup: true, packetId: p1.packetId! });
        await expectPublish(b.c, { payload: 'two', dup: true, packetId: p2.packetId! });
        await expectPublish(b.c, { payload: 'three', dup: false });
      }));
  }

  test('[MQTT-4.4.0-1] [MQTT-3.1.4-3] takeover with Clean Start 0 resends the old connection\'s unacknowledged PUBLISH with DUP', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('tk');
      const a = await x.connected(5, persistent(5, id));
      await subscribe(a, `tk/${id}`, 1);
      const pub = await publisher(x);
      await pub(`tk/${id}`, 'in flight', 1);
      const first = await expectPublish(a, { payload: 'in flight', dup: false });
      const b = await x.attempt(5, persistent(5, id));
      assert.equal(b.ack.sessionPresent, true);
      await expectPublish(b.c, { payload: 'in flight', dup: true, packetId: first.packetId! });
    }));

  for (const v of [4, 5] as const) {
    test(`[MQTT-3.1.2-4] Clean Start 1 drops unacknowledged messages: nothing is resent (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = uid('drop');
        const a = await x.connected(v, persistent(v, id));
        await subscribe(a, `drop/${id}`, 1);
        const pub = await publisher(x);
        await pub(`drop/${id}`, 'forget me', 1);
        await expectPublish(a, { payload: 'forget me' });
        await drop(x, a, id);
        const b = await x.attempt(v, { ...persistent(v, id), clean: true });
        assert.equal(b.ack.sessionPresent, false);
        await b.c.quiet(120);
      }));
  }

  for (const v of [4, 5] as const) {
    test(`[4.1] [MQTT-4.3.3-10] a QoS 2 PUBLISH received before a reconnect and resent with DUP after it is delivered once (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const sub = await x.subscriber('in2/#', 2);
        const id = uid('in2');
        const a = await x.connected(v, persistent(v, id));
        a.send({ type: 'publish', topic: `in2/${id}`, payload: Buffer.from('once'), qos: 2, retain: false, dup: false, packetId: 9 });
        assert.equal((await a.expect('pubrec')).packetId, 9);
        const p = await sub.expect('publish');
        sub.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
        await sub.expect('pubrel');
        sub.send({ type: 'pubcomp', packetId: p.packetId!, reasonCode: 0 });
        await drop(x, a, id);
        const b = await x.attempt(v, persistent(v, id));
        assert.equal(b.ack.sessionPresent, true);
        // The client resends the PUBLISH (it never saw the PUBREC... or did and resends PUBREL): both are safe.
        b.c.send({ type: 'publish', topic: `in2/${id}`, payload: Buffer.from('once'), qos: 2, retain: false, dup: true, packetId: 9 });
        assert.equal((await b.c.expect('pubrec')).packetId, 9);
        b.c.send({ type: 'pubrel', packetId: 9, reasonCode: 0 });
        const comp = await b.c.expect('pubcomp');
        assert.equal(comp.packetId, 9);
        assert.equal(comp.reasonCode ?? 0, 0);
        await sub.quiet(100); // not delivered a second time
      }));
  }

  test('[4.9] [MQTT-3.3.4-7] a PUBREL completing the previous connection\'s QoS 2 flow does not raise the Receive Maximum quota of the new one', () =>
    withBroker({ limits: { receiveMaximum: 1 } }, {}, async (x) => {
      const id = uid('quota');
      const a = await x.connected(5, persistent(5, id));
      a.send({ type: 'publish', topic: `quota/${id}`, payload: Buffer.from('1'), qos: 2, retain: false, dup: false, packetId: 1 });
      await a.expect('pubrec');
      await drop(x, a, id);
      const b = await x.attempt(5, persistent(5, id));
      assert.equal(b.ack.properties?.receiveMaximum, 1);
      b.c.send({ type: 'pubrel', packetId: 1, reasonCode: 0 });
      assert.equal((await b.c.expect('pubcomp')).reasonCode ?? 0, 0);
      // Quota is 1: one unacknowledged QoS 2 PUBLISH is fine, a second one exceeds Receive Maximum (3.3.4: DISCONNECT 0x93).
      b.c.send({ type: 'publish', topic: `quota/${id}`, payload: Buffer.from('2'), qos: 2, retain: false, dup: false, packetId: 2 });
      await b.c.expect('pubrec');
      b.c.send({ type: 'publish', topic: `quota/${id}`, payload: Buffer.from('3'), qos: 2, retain: false, dup: false, packetId: 3 });
      const answer = await b.c.next();
      assert.deepEqual(answer && [answer.type, (answer as { reasonCode?: number }).reasonCode], ['disconnect', 0x93],
        `answer to a 2nd unacknowledged QoS 2 PUBLISH with Receive Maximum 1: ${JSON.stringify(answer)}`);
      await b.c.waitClosed();
    }));

  test('[MQTT-4.3.2-1] packet ids of a resumed session do not collide with the ones still in flight', () =>
    withBroker({}, {}, async (x) => {
      const id = uid('ids');
      const a = await x.connected(5, persistent(5, id));
      await subscribe(a, `ids/${id}`, 1);
      const pub = await publisher(x);
      await pub(`ids/${id}`, 'a', 1);
      const pa = await expectPublish(a, { payload: 'a' });
      await drop(x, a, id);
      const b = await x.attempt(5, persistent(5, id));
      await expectPublish(b.c, { payload: 'a', dup: true, packetId: pa.packetId! });
      await pub(`ids/${id}`, 'b', 1);
      const pb = await expectPublish(b.c, { payload: 'b', dup: false });
      assert.notEqual(pb.packetId, pa.packetId);
    }));
});

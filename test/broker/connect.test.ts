/**
 * Conformance over real sockets: CONNECT (3.1), CONNACK (3.2), keep alive (3.1.2.10, 3.12), the anonymous
 * policy, authentication hooks and v5 enhanced authentication (4.12). Time runs on an injected clock.
 * Each test name starts with the spec statement it checks (MQTT 5 ids unless marked 3.1.1).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  PacketDecoder, encodePacket,
  type ConnackPacket, type ConnectPacket, type Packet, type ProtocolVersion, type QoS,
} from '../../src/codec/index.js';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import type { AuthenticateRequest, EnhancedAuthHandler, EnhancedAuthStep } from '../../src/broker/hooks.js';
import type { Clock } from '../../src/broker/types.js';
import { RawClient, sleep, startBroker, type TestBroker } from './helpers.js';
import { startListener } from '../../src/broker/listeners.js';

import { FakeClock, VNAME, ALL, idSeq, uid, connectOf, until, Ctx, withBroker, drainUntilClosed, closedSilently, staysOpen, persistent } from './clock-harness.js';

/** Offset of the Connect Flags byte in an encoded CONNECT (short packets: 1-byte remaining length). */
function flagsOffset(bytes: Buffer): number {
  assert.ok(bytes[1]! < 128, 'test CONNECT must be short');
  const nameLen = bytes.readUInt16BE(2);
  return 2 + 2 + nameLen + 1;
}

// ---------------------------------------------------------------- CONNECT first, second CONNECT, timeout

describe('CONNECT ordering and timeout', () => {
  test('[MQTT-3.1.0-1] a PINGREQ before CONNECT closes the connection without an answer', () =>
    withBroker({}, {}, async (x) => {
      const c = await x.open(5);
      c.write('c000');
      await closedSilently(c);
    }));

  test('[MQTT-3.1.0-1] a PUBLISH before CONNECT closes the connection and is not routed', () =>
    withBroker({}, {}, async (x) => {
      const sub = await x.subscriber('first/#');
      for (const v of ALL) {
        const c = await x.open(v);
        c.write(encodePacket({ type: 'publish', topic: 'first/x', payload: Buffer.from('sneaky'), qos: 0, retain: false, dup: false }, v));
        await closedSilently(c);
      }
      await sub.quiet(100);
    }));

  for (const v of ALL) {
    test(`[MQTT-3.1.0-2] a second CONNECT is a protocol error and closes the connection (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const c = await x.connected(v);
        c.send(connectOf(v, { clientId: uid() }));
        const got = await drainUntilClosed(c);
        if (v === 5) {
          // [MQTT-4.13.1-1] with a Reason Code: DISCONNECT 0x82 Protocol Error, then close.
          assert.equal(got.length, 1, JSON.stringify(got));
          assert.equal(got[0]!.type, 'disconnect');
          assert.equal((got[0] as Extract<Packet, { type: 'disconnect' }>).reasonCode, 0x82);
        } else {
          assert.deepEqual(got, []);
        }
      }));
  }

  for (const v of ALL) {
    test(`[3.1.4] a connection that sends no CONNECT within connectTimeoutMs is closed (${VNAME[v]})`, () =>
      withBroker({ limits: { connectTimeoutMs: 5000 } }, {}, async (x) => {
        const c = await x.open(v);
        await until(() => x.live === 1, 'broker to accept the socket');
        x.clock.advance(4999);
        await staysOpen(c);
        x.clock.advance(1);
        await closedSilently(c);
      }));
  }

  test('[3.1.4] a CONNECT that stops half way is closed at connectTimeoutMs', () =>
    withBroker({ limits: { connectTimeoutMs: 5000 } }, {}, async (x) => {
      const c = await x.open(4);
      const bytes = encodePacket(connectOf(4), 4);
      c.write(bytes.subarray(0, 8));
      await until(() => x.live === 1, 'broker to accept the socket');
      await sleep(20);
      x.clock.advance(5000);
      await closedSilently(c);
    }));

  test('[3.1.4] the connect timeout no longer applies once CONNACK was sent', () =>
    withBroker({ limits: { connectTimeoutMs: 5000 } }, {}, async (x) => {
      const c = await x.connected(4);
      x.clock.advance(60_000);
      await staysOpen(c);
    }));
});

// ---------------------------------------------------------------- protocol name, level, reserved flag

describe('protocol name, level and flags', () => {
  /** A 3.1.1 CONNECT with its Protocol Level byte replaced. */
  function withLevel(level: number, name: 'MQTT' | 'MQIsdp' = 'MQTT'): Buffer {
    const b = encodePacket(connectOf(4, { protocolName: 'MQTT' }), 4);
    if (name === 'MQIsdp') {
      const v3 = encodePacket(connectOf(3), 3);
      v3[2 + 2 + 6] = level;
      return v3;
    }
    b[2 + 2 + 4] = level;
    return b;
  }

  async function rawAnswer(x: Ctx, bytes: Buffer): Promise<{ hex: string; closed: boolean }> {
    const c = await x.open(4);
    const seen: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => seen.push(d));
    c.write(bytes);
    await c.waitClosed(2000);
    return { hex: Buffer.concat(seen).toString('hex'), closed: c.closed };
  }

  for (const level of [6, 0, 2]) {
    test(`[MQTT-3.1.2-2] 3.1.1 [MQTT-3.1.2-2] unsupported Protocol Level ${level} gets CONNACK return code 1 (0x84 mapped) and is closed`, () =>
      withBroker({}, {}, async (x) => {
        // The broker cannot know which version such a client speaks: it answers in the 3.1.1 form,
        // the only one a 3.x client can read (20 02 00 01).
        const r = await rawAnswer(x, withLevel(level));
        assert.equal(r.hex, '20020001');
        assert.equal(r.closed, true);
      }));
  }

  test('3.1.1 [MQTT-3.1.2-2] protocol name "MQTT" with level 3 (the 3.1 level) is refused with return code 1 and closed', () =>
    withBroker({}, {}, async (x) => {
      const r = await rawAnswer(x, withLevel(3));
      assert.equal(r.hex, '20020001');
    }));

  test('3.1.1 [MQTT-3.1.2-2] protocol name "MQIsdp" with level 4 is refused with return code 1 and closed', () =>
    withBroker({}, {}, async (x) => {
      const r = await rawAnswer(x, withLevel(4, 'MQIsdp'));
      assert.equal(r.hex, '20020001');
    }));

  test('[MQTT-3.1.2-1] an unknown protocol name is not accepted: at most a CONNACK refusal, then closed', () =>
    withBroker({}, {}, async (x) => {
      const b = encodePacket(connectOf(4), 4);
      b.write('MQTX', 4, 'latin1');
      const r = await rawAnswer(x, b);
      assert.ok(r.hex === '' || r.hex === '20020001', `answer ${r.hex}`);
    }));

  for (const v of ALL) {
    test(`[MQTT-3.1.2-3] a CONNECT with the reserved flag set is malformed and closes the connection (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        // Same bytes accepted with the flag clear: only the reserved bit makes the difference.
        const good = encodePacket(connectOf(v, { clientId: 'resv' + v }), v);
        const ok = await x.open(v);
        ok.write(good);
        assert.equal((await ok.expect('connack')).reasonCode, 0);
        ok.end();
        const bad = Buffer.from(good);
        bad[flagsOffset(bad)]! |= 0x01;
        const c = await x.open(v);
        c.write(bad);
        const got = await drainUntilClosed(c);
        // 3.x: no CONNACK exists for this; v5 may send CONNACK 0x81 Malformed Packet [4.13].
        if (v === 5) assert.ok(got.length === 0 || (got.length === 1 && got[0]!.type === 'connack' && got[0].reasonCode === 0x81), JSON.stringify(got));
        else assert.deepEqual(got, []);
      }));
  }

  test('[MQTT-3.1.2-11] [MQTT-3.1.2-13] will QoS or will retain set without the will flag closes the connection', () =>
    withBroker({}, {}, async (x) => {
      for (const bit of [0x08, 0x20]) {
        const b = encodePacket(connectOf(4), 4);
        b[flagsOffset(b)]! |= bit;
        const c = await x.open(4);
        c.write(b);
        await closedSilently(c);
      }
    }));
});

// ---------------------------------------------------------------- client identifier

describe('client identifier', () => {
  test('[MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] v5 empty client id: the server assigns a unique one in CONNACK', () =>
    withBroker({}, {}, async (x) => {
      const a = await x.attempt(5, { clientId: '', clean: true });
      const b = await x.attempt(5, { clientId: '', clean: true });
      const idA = a.ack.properties?.assignedClientIdentifier;
      const idB = b.ack.properties?.assignedClientIdentifier;
      assert.equal(a.ack.reasonCode, 0);
      assert.equal(b.ack.reasonCode, 0);
      assert.ok(idA && idA.length > 0, 'no Assigned Client Identifier');
      assert.ok(idB && idB.length > 0, 'no Assigned Client Identifier');
      assert.notEqual(idA, idB);
      // Both stay connected: neither took the other's session over.
      await staysOpen(a.c);
      assert.equal(a.c.closed, false);
    }));

  test('[MQTT-3.1.3-7] v5: the assigned client id identifies the session (resumable with Clean Start 0)', () =>
    withBroker({}, {}, async (x) => {
      const first = await x.attempt(5, { clientId: '', clean: true, properties: { sessionExpiryInterval: 60 } });
      const id = first.ack.properties?.assignedClientIdentifier;
      assert.ok(id);
      first.c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'assigned/t', qos: 1 }] });
      await first.c.expect('suback');
      first.c.send({ type: 'disconnect', reasonCode: 0 });
      await first.c.waitClosed();
      const again = await x.attempt(5, { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal(again.ack.reasonCode, 0);
      assert.equal(again.ack.sessionPresent, true);
      assert.equal(again.ack.properties?.assignedClientIdentifier, undefined, 'an id the client sent is not assigned again');
    }));

  test('3.1.1 [MQTT-3.1.3-8] empty client id with Clean Session 0 is refused with return code 2 and closed', () =>
    withBroker({}, {}, async (x) => {
      const { c, ack } = await x.attempt(4, { clientId: '', clean: false });
      assert.equal(ack.reasonCode, 2);
      assert.equal(ack.sessionPresent, false);
      await closedSilently(c);
    }));

  test('3.1.1 [MQTT-3.1.3-6] empty client id with Clean Session 1 is accepted with a unique id', () =>
    withBroker({}, {}, async (x) => {
      const a = await x.connected(4, { clientId: '', clean: true });
      const b = await x.connected(4, { clientId: '', clean: true });
      // Were both given the same id, b would have taken a's session over and a would be closed.
      await staysOpen(a);
      await staysOpen(b);
      assert.equal(x.broker.sessions.size, 2);
    }));

  test('3.1.1 [MQTT-3.1.3-8] MQTT 3.1: an empty client id is refused with return code 2 and closed', () =>
    withBroker({}, {}, async (x) => {
      const { c, ack } = await x.attempt(3, { clientId: '', clean: true });
      assert.equal(ack.reasonCode, 2);
      await closedSilently(c);
    }));

  for (const v of ALL) {
    test(`[MQTT-3.1.3-5] a 23-character alphanumeric client id is accepted (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const id = `Az09${v}${"x".repeat(30)}`.slice(0, 23);
        assert.equal(id.length, 23);
        await x.connected(v, { clientId: id });
      }));

    test(`[MQTT-3.1.3-8] a client id longer than maxClientIdLength is refused (0x85 / return code 2) (${VNAME[v]})`, () =>
      withBroker({ limits: { maxClientIdLength: 10 } }, {}, async (x) => {
        await x.connected(v, { clientId: 'a'.repeat(10) });
        const { c, ack } = await x.attempt(v, { clientId: 'a'.repeat(11) });
        assert.equal(ack.reasonCode, v === 5 ? 0x85 : 2);
        await closedSilently(c);
      }));
  }
});

// ---------------------------------------------------------------- keep alive

describe('keep alive', () => {
  for (const v of ALL) {
    test(`[MQTT-3.1.2-22] no packet within 1.5 x Keep Alive closes the connection (${VNAME[v]}${v === 5 ? ': DISCONNECT 0x8D first' : ''})`, () =>
      withBroker({}, {}, async (x) => {
        const c = await x.connected(v, { keepAlive: 10 });
        x.clock.advance(14_999);
        await staysOpen(c);
        x.clock.advance(1);
        const got = await drainUntilClosed(c);
        if (v === 5) assert.deepEqual(got.map((p) => [p.type, (p as { reasonCode?: number }).reasonCode]), [['disconnect', 0x8d]]);
        else assert.deepEqual(got, []);
      }));

    test(`[MQTT-3.12.4-1] [MQTT-3.1.2-22] PINGREQ gets PINGRESP and keeps the connection alive (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const c = await x.connected(v, { keepAlive: 10 });
        x.clock.advance(10_000);
        c.send({ type: 'pingreq' });
        await c.expect('pingresp');
        x.clock.advance(14_999); // 24.999 s since CONNECT, 14.999 s since the PINGREQ
        await staysOpen(c);
        x.clock.advance(1);
        await c.waitClosed();
      }));
  }

  test('[MQTT-3.1.2-22] any control packet (SUBSCRIBE, PUBLISH) counts as activity, not only PINGREQ', () =>
    withBroker({}, {}, async (x) => {
      const c = await x.connected(4, { keepAlive: 4 });
      x.clock.advance(5000);
      c.send({ type: 'subscribe', packetId: 7, subscriptions: [{ topicFilter: 'ka/x', qos: 0 }] });
      await c.expect('suback');
      x.clock.advance(5000);
      c.send({ type: 'publish', topic: 'ka/y', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 3 });
      await c.expect('puback');
      x.clock.advance(5999);
      await staysOpen(c);
      x.clock.advance(1);
      await c.waitClosed();
    }));

  for (const v of ALL) {
    test(`[3.1.2.10] Keep Alive 0 turns the mechanism off (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        const c = await x.connected(v, { keepAlive: 0 });
        x.clock.advance(24 * 3600_000);
        await staysOpen(c);
      }));
  }

  test('[MQTT-3.2.2-21] v5: Keep Alive above maxKeepAlive gets Server Keep Alive, and the server enforces it', () =>
    withBroker({ limits: { maxKeepAlive: 30 } }, {}, async (x) => {
      const { c, ack } = await x.attempt(5, { keepAlive: 600 });
      assert.equal(ack.reasonCode, 0);
      assert.equal(ack.properties?.serverKeepAlive, 30);
      x.clock.advance(44_999);
      await staysOpen(c);
      x.clock.advance(1);
      const d = await c.expect('disconnect');
      assert.equal(d.reasonCode, 0x8d);
      await c.waitClosed();
    }));

  test('[MQTT-3.2.2-21] v5: Keep Alive 0 with a maxKeepAlive set gets Server Keep Alive', () =>
    withBroker({ limits: { maxKeepAlive: 30 } }, {}, async (x) => {
      const { c, ack } = await x.attempt(5, { keepAlive: 0 });
      assert.equal(ack.properties?.serverKeepAlive, 30);
      x.clock.advance(45_000);
      await c.expect('disconnect');
    }));

  test('[MQTT-3.2.2-22] v5: Keep Alive within maxKeepAlive: no Server Keep Alive, the client\'s value applies', () =>
    withBroker({ limits: { maxKeepAlive: 30 } }, {}, async (x) => {
      const { c, ack } = await x.attempt(5, { keepAlive: 20 });
      assert.equal(ack.properties?.serverKeepAlive, undefined);
      x.clock.advance(29_999);
      await staysOpen(c);
      x.clock.advance(1);
      assert.equal((await c.expect('disconnect')).reasonCode, 0x8d);
    }));

  for (const v of [3, 4] as const) {
    test(`[3.1.2.10] ${VNAME[v]}: Keep Alive above maxKeepAlive is refused with return code 2 (no Server Keep Alive exists)`, () =>
      withBroker({ limits: { maxKeepAlive: 30 } }, {}, async (x) => {
        await x.connected(v, { keepAlive: 30 });
        const { c, ack } = await x.attempt(v, { keepAlive: 31 });
        assert.equal(ack.reasonCode, 2);
        await closedSilently(c);
        const zero = await x.attempt(v, { keepAlive: 0 });
        assert.equal(zero.ack.reasonCode, 2, 'Keep Alive 0 (never) exceeds any maximum too');
      }));
  }
});

// ---------------------------------------------------------------- anonymous policy and authenticate hooks

function nonLoopbackIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** CONNECT to host:port over a plain socket; the first packet back (or undefined when closed first). */
async function connectFrom(host: string, port: number, packet: ConnectPacket): Promise<Packet | undefined> {
  const s = netConnect(port, host);
  const decoder = new PacketDecoder({ protocolVersion: packet.protocolVersion });
  try {
    return await new Promise<Packet | undefined>((resolve, reject) => {
      s.on('connect', () => s.write(encodePacket(packet, packet.protocolVersion)));
      s.on('data', (d: Buffer) => decoder.write(d, (p) => resolve(p)));
      s.on('close', () => resolve(undefined));
      s.on('error', reject);
      setTimeout(() => reject(new Error('no answer')), 2000).unref();
    });
  } finally {
    s.destroy();
  }
}

describe('anonymous policy', () => {
  for (const v of ALL) {
    test(`[5.4.1] default allowAnonymous 'loopback' lets an anonymous client in from 127.0.0.1 (${VNAME[v]})`, () =>
      withBroker({}, {}, async (x) => {
        assert.equal(x.broker.options.allowAnonymous, 'loopback');
        await x.connected(v);
      }));
  }

  const ip = nonLoopbackIPv4();
  test('[5.4.1] default allowAnonymous \'loopback\' refuses an anonymous client from a non-loopback address (0x87 / return code 5)',
    { skip: ip ? false : 'no non-loopback IPv4 interface' }, async () => {
      const tb = await startBroker({}, {}, { url: `mqtt://${ip}:0` });
      try {
        const a5 = await connectFrom(ip!, tb.port, connectOf(5));
        assert.deepEqual(a5 && [a5.type, (a5 as ConnackPacket).reasonCode], ['connack', 0x87]);
        const a4 = await connectFrom(ip!, tb.port, connectOf(4));
        assert.deepEqual(a4 && [a4.type, (a4 as ConnackPacket).reasonCode], ['connack', 5]);
      } finally {
        await tb.close();
      }
      // allowAnonymous true opens it up.
      const open = await startBroker({ allowAnonymous: true }, {}, { url: `mqtt://${ip}:0` });
      try {
        const a = await connectFrom(ip!, open.port, connectOf(5));
        assert.deepEqual(a && [a.type, (a as ConnackPacket).reasonCode], ['connack', 0]);
      } finally {
        await open.close();
      }
    });

  test('[5.4.1] \'loopback\' goes by the listener: one bound to all addresses refuses anonymous clients even from 127.0.0.1 and ::1', async (t) => {
    let tb: TestBroker;
    try {
      tb = await startBroker({}, {}, { url: 'mqtt://[::]:0' });
    } catch {
      t.skip('no IPv6 listener possible here');
      return;
    }
    try {
      const a = await connectFrom('127.0.0.1', tb.port, connectOf(5));
      assert.deepEqual(a && [a.type, (a as ConnackPacket).reasonCode], ['connack', 0x87]);
      const b = await connectFrom('::1', tb.port, connectOf(4));
      assert.deepEqual(b && [b.type, (b as ConnackPacket).reasonCode], ['connack', 5]);
      // The same broker through a listener bound to loopback: admitted.
      const local = await startListener(tb.broker, { url: 'mqtt://127.0.0.1:0' });
      try {
        const c = await connectFrom('127.0.0.1', local.address.port, connectOf(5));
        assert.deepEqual(c && [c.type, (c as ConnackPacket).reasonCode], ['connack', 0]);
      } finally {
        await local.close();
      }
    } finally {
      await tb.close();
    }
  });

  for (const v of ALL) {
    test(`[MQTT-3.2.2-7] allowAnonymous false refuses: no user name 0x87 / 5, user name and password 0x86 / 4, then closed (${VNAME[v]})`, () =>
      withBroker({ allowAnonymous: false }, {}, async (x) => {
        const anon = await x.attempt(v);
        assert.equal(anon.ack.reasonCode, v === 5 ? 0x87 : 5);
        assert.equal(anon.ack.sessionPresent, false);
        await closedSilently(anon.c);
        const named = await x.attempt(v, { username: 'u', password: Buffer.from('p') });
        assert.equal(named.ack.reasonCode, v === 5 ? 0x86 : 4);
        await closedSilently(named.c);
        assert.equal(x.broker.sessions.size, 0);
      }));
  }

  test('[MQTT-3.1.4-6] a refused CONNECT: PUBLISH pipelined behind it is not processed', () =>
    withBroker({ allowAnonymous: false }, {}, async (x) => {
      const c = await x.open(4);
      const connect = encodePacket(connectOf(4), 4);
      const pub = encodePacket({ type: 'publish', topic: 'refused/r', payload: Buffer.from('x'), qos: 0, retain: true, dup: false }, 4);
      c.write(Buffer.concat([connect, pub]));
      assert.equal((await c.expect('connack')).reasonCode, 5);
      await closedSilently(c);
      assert.equal(x.broker.retained.size, 0, 'the retained PUBLISH behind a refused CONNECT was stored');
    }));
});

describe('authenticate hooks', () => {
  for (const v of ALL) {
    test(`[MQTT-3.2.2-7] an authenticate hook that denies gives its reason code (0x8A Banned; 3.x: return code 5) and closes (${VNAME[v]})`, () => {
      const seen: AuthenticateRequest[] = [];
      const hook = (req: AuthenticateRequest) => {
        seen.push(req);
        return req.username === 'banned' ? { verdict: 'deny' as const, reasonCode: 0x8a } : undefined;
      };
      return withBroker({}, { hooks: { authenticate: [hook] } }, async (x) => {
        const { c, ack } = await x.attempt(v, { clientId: 'hooked', username: 'banned', password: Buffer.from('pw') });
        assert.equal(ack.reasonCode, v === 5 ? 0x8a : 5);
        await closedSilently(c);
        assert.equal(seen.length, 1);
        assert.equal(seen[0]!.clientId, 'hooked');
        assert.equal(seen[0]!.username, 'banned');
        assert.equal(seen[0]!.password?.toString(), 'pw');
        assert.equal(seen[0]!.protocolVersion, v);
        assert.match(seen[0]!.remoteAddress, /127\.0\.0\.1/);
        // No opinion: the anonymous policy (loopback) lets the next one in.
        await x.connected(v, { username: 'someone' });
      });
    });

    test(`[MQTT-3.2.2-7] a deny without a reason code is 0x86 Bad User Name or Password (3.x: return code 4) (${VNAME[v]})`, () =>
      withBroker({}, { hooks: { authenticate: [() => ({ verdict: 'deny' })] } }, async (x) => {
        const { c, ack } = await x.attempt(v, { username: 'u' });
        assert.equal(ack.reasonCode, v === 5 ? 0x86 : 4);
        await closedSilently(c);
      }));
  }

  for (const kind of ['throws', 'rejects'] as const) {
    test(`[5.4.1] an authenticate hook that ${kind} refuses the connection (fails closed)`, () => {
      const hook = kind === 'throws'
        ? () => { throw new Error('directory down'); }
        : async () => { throw new Error('directory down'); };
      return withBroker({ allowAnonymous: true }, { hooks: { authenticate: [hook] } }, async (x) => {
        for (const v of ALL) {
          const c = await x.open(v);
          c.send(connectOf(v, { username: 'u' }));
          const got = await drainUntilClosed(c);
          assert.ok(got.every((p) => p.type === 'connack' && p.reasonCode >= (v === 5 ? 0x80 : 1)), `${VNAME[v]}: ${JSON.stringify(got)}`);
        }
        assert.equal(x.broker.sessions.size, 0);
      });
    });
  }

  test('[5.4.1] a hook that allows lets a client in although allowAnonymous is false', () =>
    withBroker({ allowAnonymous: false }, {
      hooks: { authenticate: [(r) => (r.username === 'alice' && r.password?.toString() === 'secret' ? { verdict: 'allow' } : undefined)] },
    }, async (x) => {
      for (const v of ALL) await x.connected(v, { username: 'alice', password: Buffer.from('secret') });
      const wrong = await x.attempt(5, { username: 'alice', password: Buffer.from('nope') });
      assert.equal(wrong.ack.reasonCode, 0x86);
    }));

  test('[5.4.1] one deny wins over another hook\'s allow', () =>
    withBroker({}, { hooks: { authenticate: [() => ({ verdict: 'allow' }), () => ({ verdict: 'deny', reasonCode: 0x87 })] } }, async (x) => {
      const { ack } = await x.attempt(5, { username: 'u' });
      assert.equal(ack.reasonCode, 0x87);
    }));

  for (const v of [4, 5] as const) {
    test(`[3.1.4] an async authenticate hook: CONNACK waits for it, packets pipelined behind CONNECT are handled after (${VNAME[v]})`, () => {
      let calls = 0;
      const hook = async (req: AuthenticateRequest) => {
        calls++;
        await sleep(40);
        return req.username === 'good' ? { verdict: 'allow' as const } : { verdict: 'deny' as const, reasonCode: 0x8a };
      };
      return withBroker({ allowAnonymous: false }, { hooks: { authenticate: [hook] } }, async (x) => {
        const c = await x.open(v);
        c.write(Buffer.concat([
          encodePacket(connectOf(v, { username: 'good' }), v),
          encodePacket({ type: 'subscribe', packetId: 5, subscriptions: [{ topicFilter: 'async/t', qos: 1 }] }, v),
          encodePacket({ type: 'pingreq' }, v),
        ]));
        assert.equal((await c.expect('connack')).reasonCode, 0);
        assert.equal((await c.expect('suback')).packetId, 5);
        await c.expect('pingresp');
        assert.equal(calls, 1);

        // Denied asynchronously: the retained PUBLISH behind the CONNECT is never processed [MQTT-3.1.4-6].
        const bad = await x.open(v);
        bad.write(Buffer.concat([
          encodePacket(connectOf(v, { username: 'evil' }), v),
          encodePacket({ type: 'publish', topic: 'async/t', payload: Buffer.from('x'), qos: 0, retain: true, dup: false }, v),
        ]));
        assert.equal((await bad.expect('connack')).reasonCode, v === 5 ? 0x8a : 5);
        await closedSilently(bad);
        await c.quiet(50);
        assert.equal(x.broker.retained.size, 0);
      });
    });
  }

  test('[3.1.4] a client leaving during an async authenticate hook aborts its signal and gets no session', () => {
    let aborted = false;
    const hook = (_r: AuthenticateRequest, signal: AbortSignal) => new Promise<{ verdict: 'allow' }>((resolve) => {
      signal.addEventListener('abort', () => {
        aborted = true;
      });
      setTimeout(() => resolve({ verdict: 'allow' }), 80);
    });
    return withBroker({}, { hooks: { authenticate: [hook] } }, async (x) => {
      const c = await x.open(5);
      c.send(connectOf(5, { clientId: 'leaver', properties: { sessionExpiryInterval: 60 } }));
      await sleep(20);
      c.end();
      await until(() => aborted, 'the hook signal to abort');
      await sleep(100);
      assert.equal(x.broker.sessions.has('leaver'), false);
    });
  });
});

// ---------------------------------------------------------------- v5 enhanced authentication

describe('enhanced authentication (v5)', () => {
  const METHOD = 'X-TEST-2STEP';
  function twoStep(log: Array<Pick<EnhancedAuthStep, 'reauthenticate'> & { data: string | undefined }>): EnhancedAuthHandler {
    return {
      method: METHOD,
      async step(s) {
        log.push({ data: s.data?.toString(), reauthenticate: s.reauthenticate });
        await sleep(1);
        if (s.state['challenged'] !== true) {
          if (s.data?.toString() !== 'hello') return { result: 'fail', reasonCode: 0x8c };
          s.state['challenged'] = true;
          return { result: 'continue', data: Buffer.from('challenge') };
        }
        return s.data?.toString() === 'response'
          ? { result: 'success', data: Buffer.from('welcome') }
          : { result: 'fail' };
      },
    };
  }
  const deps = (log: Parameters<typeof twoStep>[0]): BrokerDeps => ({ hooks: { enhancedAuth: new Map([[METHOD, twoStep(log)]]) } });
  const authConnect = (data: string, f: Partial<ConnectPacket> = {}): ConnectPacket =>
    connectOf(5, { ...f, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(data) } });

  test('[MQTT-4.12.0-2] [MQTT-4.12.0-5] a 2-step AUTH exchange: AUTH 0x18 challenge, then CONNACK 0 with the same method', () => {
    const log: Parameters<typeof twoStep>[0] = [];
    return withBroker({ allowAnonymous: false }, deps(log), async (x) => {
      const c = await x.open(5);
      c.send(authConnect('hello'));
      const challenge = await c.expect('auth');
      assert.equal(challenge.reasonCode, 0x18);
      assert.equal(challenge.properties?.authenticationMethod, METHOD);
      assert.equal(challenge.properties?.authenticationData?.toString(), 'challenge');
      c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('response') } });
      const ack = await c.expect('connack');
      assert.equal(ack.reasonCode, 0);
      assert.equal(ack.properties?.authenticationMethod, METHOD);
      assert.equal(ack.properties?.authenticationData?.toString(), 'welcome');
      assert.deepEqual(log, [{ data: 'hello', reauthenticate: false }, { data: 'response', reauthenticate: false }]);
      // Connected for real.
      c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'ea/t', qos: 0 }] });
      await c.expect('suback');
    });
  });

  test('[MQTT-4.12.0-4] a failed exchange gets a CONNACK refusal (0x87 Not authorized by default) and is closed', () => {
    const log: Parameters<typeof twoStep>[0] = [];
    return withBroker({}, deps(log), async (x) => {
      const c = await x.open(5);
      c.send(authConnect('hello'));
      await c.expect('auth');
      c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('wrong') } });
      const ack = await c.expect('connack');
      assert.equal(ack.reasonCode, 0x87);
      await closedSilently(c);
    });
  });

  test('[MQTT-4.12.0-1] an unknown Authentication Method gets CONNACK 0x8C and is closed', () =>
    withBroker({}, deps([]), async (x) => {
      const c = await x.open(5);
      c.send(connectOf(5, { properties: { authenticationMethod: 'NOPE' } }));
      const ack = await c.expect('connack');
      assert.equal(ack.reasonCode, 0x8c);
      await closedSilently(c);
    }));

  test('[MQTT-3.1.2-30] a PUBLISH during the AUTH exchange is a protocol error: closed, not routed', () =>
    withBroker({}, deps([]), async (x) => {
      const sub = await x.subscriber('ea/#');
      const c = await x.open(5);
      c.send(authConnect('hello'));
      await c.expect('auth');
      c.send({ type: 'publish', topic: 'ea/x', payload: Buffer.from('early'), qos: 0, retain: false, dup: false });
      const got = await drainUntilClosed(c);
      assert.ok(got.every((p) => p.type === 'connack' && p.reasonCode >= 0x80), JSON.stringify(got));
      await sub.quiet(80);
    }));

  test('[3.1.4] the connect timeout also ends an AUTH exchange the client does not finish', () =>
    withBroker({ limits: { connectTimeoutMs: 5000 } }, deps([]), async (x) => {
      const c = await x.open(5);
      c.send(authConnect('hello'));
      await c.expect('auth');
      x.clock.advance(5000);
      await c.waitClosed();
      assert.equal(x.broker.sessions.size, 0);
    }));

  test('[4.12.1] re-authentication: AUTH 0x19 runs the exchange again and ends with AUTH 0x00', () => {
    const log: Parameters<typeof twoStep>[0] = [];
    return withBroker({}, deps(log), async (x) => {
      const c = await x.open(5);
      c.send(authConnect('hello'));
      await c.expect('auth');
      c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('response') } });
      assert.equal((await c.expect('connack')).reasonCode, 0);
      c.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('hello') } });
      const ch = await c.expect('auth');
      assert.equal(ch.reasonCode, 0x18);
      c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('response') } });
      const done = await c.expect('auth');
      assert.equal(done.reasonCode, 0x00);
      assert.equal(done.properties?.authenticationMethod, METHOD);
      assert.deepEqual(log.slice(2).map((s) => s.reauthenticate), [true, true]);
    });
  });

  test('[MQTT-4.12.0-7] an AUTH from a client that connected without an Authentication Method is a protocol error (DISCONNECT 0x82)', () =>
    withBroker({}, deps([]), async (x) => {
      const c = await x.connected(5);
      c.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
      const got = await drainUntilClosed(c);
      assert.deepEqual(got.map((p) => [p.type, (p as { reasonCode?: number }).reasonCode]), [['disconnect', 0x82]]);
    }));

  test('[MQTT-4.12.0-6] without an Authentication Method the CONNACK carries none', () =>
    withBroker({}, deps([]), async (x) => {
      const { ack } = await x.attempt(5);
      assert.equal(ack.reasonCode, 0);
      assert.equal(ack.properties?.authenticationMethod, undefined);
      assert.equal(ack.properties?.authenticationData, undefined);
    }));
});

/**
 * Publishing over real sockets (spec 3.3, 4.3, 4.6): QoS 0/1/2 flows in both directions with exact
 * packets, duplicates, unknown packet identifiers, delivered QoS, ordering, reason codes of the acks,
 * Maximum QoS and the $SYS invariant. Every case runs for MQTT 3.1.1 and 5 unless it is 5-only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { QoS } from '../../src/codec/index.js';
import {
  VERSIONS, env, expectServerClose, publish, receive, receiveOne, sendPublish, subscribe, tag, text,
} from './conformance-util.js';

describe('publish: QoS flows', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-4.3.1-1] a QoS 0 message is forwarded as QoS 0 with DUP 0 and no packet identifier ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      assert.deepEqual(await subscribe(sub, 'a/b', 2), [2]);
      sendPublish(pub, 'a/b', 'zero');
      const p = await sub.expect('publish');
      assert.equal(p.topic, 'a/b');
      assert.equal(text(p), 'zero');
      assert.equal(p.qos, 0);
      assert.equal(p.dup, false);
      assert.equal(p.retain, false);
      assert.equal(p.packetId, undefined);
      await pub.quiet(100); // QoS 0: nothing comes back to the publisher
    });

    test(`[MQTT-4.3.2-4] a QoS 1 PUBLISH from a client gets a PUBACK with its packet identifier ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 1);
      sendPublish(pub, 'a/b', 'one', { qos: 1, packetId: 4242 });
      const ack = await pub.expect('puback');
      assert.equal(ack.packetId, 4242);
      if (v === 5) assert.equal(ack.reasonCode, 0x00);
      const p = await receiveOne(sub);
      assert.equal(text(p), 'one');
    });

    test(`[MQTT-4.3.2-2] the broker sends QoS 1 with a fresh non-zero packet identifier and DUP 0, and stops once acknowledged ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 1);
      await publish(pub, 'a/b', 'm1', { qos: 1 });
      await publish(pub, 'a/b', 'm2', { qos: 1 });
      const [p1, p2] = await receive(sub, 2, false);
      for (const p of [p1!, p2!]) {
        assert.equal(p.qos, 1);
        assert.equal(p.dup, false);
        assert.ok(p.packetId !== undefined && p.packetId > 0, 'non-zero packet identifier [MQTT-2.2.1-4]');
      }
      assert.notEqual(p1!.packetId, p2!.packetId, 'packet identifiers in use are not reused [MQTT-4.3.2-1]');
      sub.send({ type: 'puback', packetId: p1!.packetId!, reasonCode: 0 });
      sub.send({ type: 'puback', packetId: p2!.packetId!, reasonCode: 0 });
      await sub.quiet(200); // acknowledged: never resent on this connection [MQTT-4.4.0-1]
    });

    test(`[MQTT-3.3.1-3] the DUP flag of a forwarded PUBLISH is the broker's own: a first transmission with DUP 1 is forwarded with DUP 0 ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'd', 2);
      await publish(pub, 'd', 'q1', { qos: 1, dup: true });
      await publish(pub, 'd', 'q2', { qos: 2, dup: true });
      const got = await receive(sub, 2);
      assert.deepEqual(got.map((p) => [text(p), p.qos, p.dup]), [['q1', 1, false], ['q2', 2, false]]);
    });

    test(`[MQTT-4.3.3-8] a QoS 2 PUBLISH gets PUBREC, and its PUBREL gets PUBCOMP [MQTT-4.3.3-11] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 2);
      const id = sendPublish(pub, 'a/b', 'two', { qos: 2 });
      const rec = await pub.expect('pubrec');
      assert.equal(rec.packetId, id);
      if (v === 5) assert.equal(rec.reasonCode, 0x00);
      pub.send({ type: 'pubrel', packetId: id, reasonCode: 0 });
      const comp = await pub.expect('pubcomp');
      assert.equal(comp.packetId, id);
      if (v === 5) assert.equal(comp.reasonCode, 0x00);
      const got = await receive(sub, 1);
      assert.equal(text(got[0]!), 'two');
      await sub.quiet(100);
    });

    test(`[MQTT-4.3.3-4] outbound QoS 2: PUBLISH with DUP 0, PUBREC answered by PUBREL with the same identifier, PUBCOMP ends it ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 2);
      await publish(pub, 'a/b', 'two', { qos: 2 });
      const p = await sub.expect('publish');
      assert.equal(p.qos, 2);
      assert.equal(p.dup, false, '[MQTT-4.3.3-2]');
      assert.ok(p.packetId! > 0);
      await sub.quiet(100); // unacknowledged, but not resent on this connection
      sub.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
      const rel = await sub.expect('pubrel');
      assert.equal(rel.packetId, p.packetId);
      sub.send({ type: 'pubcomp', packetId: p.packetId!, reasonCode: 0 });
      await sub.quiet(150); // done: neither PUBLISH nor PUBREL again [MQTT-4.3.3-6]
    });

    test(`[MQTT-4.3.3-10] a resent QoS 2 PUBLISH (DUP) before PUBREL is acknowledged again and delivered once ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 2);
      sendPublish(pub, 'a/b', 'once', { qos: 2, packetId: 7 });
      assert.equal((await pub.expect('pubrec')).packetId, 7);
      sendPublish(pub, 'a/b', 'once', { qos: 2, packetId: 7, dup: true });
      const again = await pub.expect('pubrec');
      assert.equal(again.packetId, 7);
      if (v === 5) assert.equal(again.reasonCode, 0x00);
      pub.send({ type: 'pubrel', packetId: 7, reasonCode: 0 });
      assert.equal((await pub.expect('pubcomp')).packetId, 7);
      const got = await receive(sub, 1);
      assert.equal(text(got[0]!), 'once');
      await sub.quiet(200); // not a second copy
    });

    test(`[MQTT-4.3.3-12] after PUBCOMP, a QoS 2 PUBLISH with the same packet identifier is a new message ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 2);
      await publish(pub, 'a/b', 'first', { qos: 2, packetId: 9 });
      await publish(pub, 'a/b', 'second', { qos: 2, packetId: 9 });
      const got = await receive(sub, 2);
      assert.deepEqual(got.map(text), ['first', 'second']);
    });

    test(`[MQTT-4.3.2-5] after PUBACK, a QoS 1 PUBLISH with the same packet identifier is a new message even with DUP ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'a/b', 1);
      await publish(pub, 'a/b', 'first', { qos: 1, packetId: 3 });
      await publish(pub, 'a/b', 'second', { qos: 1, packetId: 3, dup: true });
      const got = await receive(sub, 2);
      assert.deepEqual(got.map(text), ['first', 'second']);
    });

    test(`[MQTT-4.3.3-11] a PUBREL for an unknown packet identifier gets PUBCOMP${v === 5 ? ' 0x92 Packet Identifier not found' : ''} ${tag(v)}`, async (t) => {
      const e = await env(t);
      const c = await e.client(v);
      c.send({ type: 'pubrel', packetId: 321, reasonCode: 0 });
      const comp = await c.expect('pubcomp');
      assert.equal(comp.packetId, 321);
      if (v === 5) assert.equal(comp.reasonCode, 0x92);
      // The connection stays usable.
      const ack = await publish(c, 'x', 'y', { qos: 1 });
      assert.equal(ack?.type, 'puback');
    });

    test(`[MQTT-3.8.4-8] the delivered QoS is the minimum of the published QoS and the granted QoS ${tag(v)}`, async (t) => {
      const e = await env(t);
      const subs = [await e.client(v), await e.client(v), await e.client(v)];
      for (const [granted, s] of subs.entries()) assert.deepEqual(await subscribe(s, 'q', granted as QoS), [granted]);
      const pub = await e.client(v);
      for (const q of [0, 1, 2] as const) await publish(pub, 'q', `q${q}`, { qos: q });
      for (const [granted, s] of subs.entries()) {
        const got = await receive(s, 3);
        assert.deepEqual(got.map((p) => [text(p), p.qos]), [0, 1, 2].map((q) => [`q${q}`, Math.min(q, granted)]),
          `subscriber granted QoS ${granted}`);
      }
    });

    test(`[MQTT-4.6.0-5] 100 numbered QoS 1 messages on one topic arrive in the order they were published ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      const pub = await e.client(v);
      await subscribe(sub, 'seq', 1);
      for (let i = 0; i < 100; i++) sendPublish(pub, 'seq', String(i), { qos: 1 });
      const got = await receive(sub, 100);
      assert.deepEqual(got.map(text), Array.from({ length: 100 }, (_, i) => String(i)));
      for (let i = 0; i < 100; i++) assert.equal((await pub.expect('puback')).packetId, i + 1, 'PUBACKs in order');
    });

    test(`[4.3] MQTT.js publisher and subscriber exchange QoS 0, 1 and 2 messages ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.mqttjs(v);
      const pub = await e.mqttjs(v);
      const got: Array<[string, number]> = [];
      const all = new Promise<void>((resolve) => sub.on('message', (_topic, payload, packet) => {
        got.push([payload.toString(), packet.qos]);
        if (got.length === 3) resolve();
      }));
      await sub.subscribeAsync('lib/#', { qos: 2 });
      for (const qos of [0, 1, 2] as const) await pub.publishAsync(`lib/${qos}`, `m${qos}`, { qos });
      await all;
      assert.deepEqual(got.sort(), [['m0', 0], ['m1', 1], ['m2', 2]]);
    });
  }

  test('[3.3.3] payloads from 0 bytes to 200 KB arrive byte for byte at every QoS, to 3.1.1 and 5 subscribers with different packet variants', async (t) => {
    const e = await env(t);
    const subs = [
      await e.client(4), await e.client(5), await e.client(5, { properties: { topicAliasMaximum: 3 } }), await e.client(5),
    ];
    for (const [i, s] of subs.entries()) await subscribe(s, 'big/#', i === 0 ? 1 : 2, i === 3 ? { subscriptionIdentifier: 7 } : undefined);
    const pub = await e.client(5);
    const sizes = [0, 1, 2047, 2048, 70_000, 200_000];
    const payloads = sizes.map((n, i) => Buffer.from(Array.from({ length: n }, (_, k) => (k * 31 + i) & 0xff)));
    const sent: Array<[number, number]> = [];
    for (const [i, payload] of payloads.entries()) {
      for (const qos of [0, 1, 2] as const) {
        await publish(pub, `big/${i}`, payload, { qos, properties: { userProperties: [['n', String(i)]] } });
        sent.push([i, qos]);
      }
    }
    for (const [k, s] of subs.entries()) {
      const got = await receive(s, sent.length, true, 2000);
      for (const [j, p] of got.entries()) {
        const [i, qos] = sent[j]!;
        assert.ok(p.payload.equals(payloads[i]!), `subscriber ${k}: payload ${i} (${sizes[i]} bytes) at QoS ${qos}`);
        assert.equal(p.qos, Math.min(qos, k === 0 ? 1 : 2));
        if (s.version === 5) assert.deepEqual(p.properties?.userProperties, [['n', String(i)]]);
      }
    }
  });

  test('[MQTT-4.3.3-9] after a PUBREC with a failure code, the same packet identifier starts a new message (MQTT 5)', async (t) => {
    let calls = 0;
    const e = await env(t, {}, { hooks: { authorizePublish: [() => ++calls > 1] } });
    const sub = await e.client(5);
    const pub = await e.client(5);
    await subscribe(sub, 'a/b', 2);
    sendPublish(pub, 'a/b', 'refused', { qos: 2, packetId: 5 });
    const rec = await pub.expect('pubrec');
    assert.equal(rec.reasonCode, 0x87);
    // No PUBREL: the flow ended with the failure. The same id again is a new message and is accepted.
    const ack = await publish(pub, 'a/b', 'accepted', { qos: 2, packetId: 5 });
    assert.equal(ack?.reasonCode, 0x00);
    const got = await receive(sub, 1);
    assert.equal(text(got[0]!), 'accepted');
    await sub.quiet(100);
  });

  test('[4.3.3] a PUBREC for a packet identifier the broker does not hold gets PUBREL 0x92 Packet Identifier not found (MQTT 5)', async (t) => {
    const e = await env(t);
    const c = await e.client(5);
    c.send({ type: 'pubrec', packetId: 77, reasonCode: 0 });
    const rel = await c.expect('pubrel');
    assert.equal(rel.packetId, 77);
    assert.equal(rel.reasonCode, 0x92);
  });
});

describe('publish: acknowledgement reason codes and refusals', () => {
  test('[3.4.2.1] PUBACK and PUBREC carry 0x10 No matching subscribers when nobody subscribes (MQTT 5)', async (t) => {
    const e = await env(t);
    const pub = await e.client(5);
    assert.equal((await publish(pub, 'nobody/here', 'x', { qos: 1 }))?.reasonCode, 0x10);
    assert.equal((await publish(pub, 'nobody/here', 'x', { qos: 2 }))?.reasonCode, 0x10);
    const sub = await e.client(5);
    await subscribe(sub, 'nobody/#', 1);
    assert.equal((await publish(pub, 'nobody/here', 'x', { qos: 1 }))?.reasonCode, 0x00, 'with a subscriber: Success');
  });

  test('[3.4.2.1] with no subscribers a 3.1.1 publisher still gets a plain PUBACK (MQTT 3.1.1)', async (t) => {
    const e = await env(t);
    const pub = await e.client(4);
    const ack = await publish(pub, 'nobody/here', 'x', { qos: 1 });
    assert.equal(ack?.type, 'puback');
    assert.equal(ack?.reasonCode, undefined, '3.1.1 PUBACK has no reason code');
  });

  test('[MQTT-3.2.2-11] a PUBLISH above the announced Maximum QoS gets DISCONNECT 0x9B QoS not supported (MQTT 5)', async (t) => {
    const e = await env(t, { maximumQoS: 1 });
    const c = await e.open(5);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'maxqos' });
    const connack = await c.expect('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.maximumQoS, 1, 'Maximum QoS announced in CONNACK [MQTT-3.2.2-9]');
    const ok = await publish(c, 't', 'fine', { qos: 1 });
    assert.equal(ok?.type, 'puback');
    sendPublish(c, 't', 'too high', { qos: 2 });
    await expectServerClose(c, 5, 0x9b);
  });

  test('[3.2.2.3.4] a QoS 2 PUBLISH to a broker limited to QoS 1 closes a 3.1.1 connection (MQTT 3.1.1)', async (t) => {
    const e = await env(t, { maximumQoS: 1 });
    const sub = await e.client(4);
    await subscribe(sub, '#', 1);
    const c = await e.client(4);
    sendPublish(c, 't', 'too high', { qos: 2 });
    await expectServerClose(c, 4, 0x9b);
    await sub.quiet(100);
  });

  for (const v of VERSIONS) {
    test(`[MQTT-3.2.2-10] a broker with Maximum QoS 1 accepts SUBSCRIBE for QoS 2 and grants QoS 1 ${tag(v)}`, async (t) => {
      const e = await env(t, { maximumQoS: 1 });
      const sub = await e.client(v);
      assert.deepEqual(await subscribe(sub, ['a', 'b', 'c'].map((f, i) => ({ topicFilter: f, qos: i as QoS }))), [0, 1, 1]);
    });

    test(`[4.7.2] a client PUBLISH to $SYS/x is refused${v === 5 ? ' with 0x87 Not authorized' : ' (positive ack, 3.1.1 [MQTT-3.3.5-2])'} and never delivered or retained ${tag(v)}`, async (t) => {
      const e = await env(t);
      const watcher = await e.client(v);
      await subscribe(watcher, ['$SYS/#', '#']);
      const pub = await e.client(v);
      sendPublish(pub, '$SYS/x', 'forged0');
      const a1 = await publish(pub, '$SYS/x', 'forged1', { qos: 1 });
      const a2 = await publish(pub, '$SYS/x', 'forged2', { qos: 2, retain: true });
      assert.equal(a1?.type, 'puback');
      assert.equal(a2?.type, 'pubrec');
      if (v === 5) {
        assert.equal(a1?.reasonCode, 0x87);
        assert.equal(a2?.reasonCode, 0x87);
      }
      await watcher.quiet(150);
      const late = await e.client(v);
      await subscribe(late, '$SYS/x');
      await late.quiet(150); // nothing retained
      // The refusal is about $SYS only: the same client still publishes elsewhere.
      await publish(pub, 'not-sys', 'ok', { qos: 1 });
      assert.equal(text(await receiveOne(watcher)), 'ok');
    });
  }

  for (const v of VERSIONS) {
    test(`[MQTT-2.2.1-5] PUBACK, PUBREC and PUBCOMP carry the client's packet identifier exactly, up to 65535 ${tag(v)}`, async (t) => {
      const e = await env(t);
      const c = await e.client(v);
      for (const id of [1, 0x7fff, 0xffff]) {
        assert.equal((await publish(c, 'id', 'x', { qos: 1, packetId: id }))?.packetId, id);
        assert.equal((await publish(c, 'id', 'x', { qos: 2, packetId: id }))?.packetId, id); // PUBCOMP checked inside
      }
    });
  }
});

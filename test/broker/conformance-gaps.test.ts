/**
 * Normative statements the other broker tests exercised without naming them, or did not exercise:
 * CONNACK first and once, a refusing CONNACK then the close, nothing after a DISCONNECT, Maximum QoS in
 * CONNACK, the server's own packet identifiers, ordered topics, other packets while the send quota is
 * zero, and retained messages outliving their publisher's session. Raw clients over real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePacket } from '../../src/codec/index.js';
import {
  VERSIONS, env, publish, receive, sendPublish, subscribe, tag, unsubscribe,
} from './conformance-util.js';

for (const v of VERSIONS) {
  test(`[MQTT-3.2.0-1] [MQTT-3.1.4-5] CONNECT, SUBSCRIBE and PUBLISH in one write: a CONNACK 0x00 comes first, then the SUBACK ${tag(v)}`, async (t) => {
    const e = await env(t);
    const c = await e.open(v);
    c.write(Buffer.concat([
      encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean: true, keepAlive: 0, clientId: 'eager' }, v),
      encodePacket({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'eager/t', qos: 1 }] }, v),
      encodePacket({ type: 'publish', topic: 'eager/t', payload: Buffer.from('x'), qos: 1, packetId: 2, retain: false, dup: false }, v),
    ]));
    const first = await c.next();
    assert.equal(first?.type, 'connack');
    assert.equal(first?.type === 'connack' ? first.reasonCode : undefined, 0);
    const rest = [await c.next(), await c.next(), await c.next()].map((p) => p?.type).sort();
    assert.deepEqual(rest, ['puback', 'publish', 'suback'], 'the packets sent with the CONNECT are handled after it');
  });

  test(`[MQTT-3.2.0-2] a second CONNECT gets no second CONNACK: the connection is closed${v === 5 ? ' after DISCONNECT 0x82 [MQTT-3.14.4-1] [MQTT-3.14.4-2]' : ''} ${tag(v)}`, async (t) => {
    const e = await env(t);
    const c = await e.client(v, { clientId: 'twice' });
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean: true, keepAlive: 0, clientId: 'twice' });
    // Nothing may follow the server's DISCONNECT: after it, only the close.
    const after: string[] = [];
    for (let p = await c.next(); p; p = await c.next()) after.push(p.type === 'disconnect' ? `disconnect 0x${(p.reasonCode ?? 0).toString(16)}` : p.type);
    assert.deepEqual(after, v === 5 ? ['disconnect 0x82'] : []);
    await c.waitClosed();
  });

  test(`[MQTT-3.2.2-8] [MQTT-4.13.2-1] [MQTT-3.14.0-1] a refusing CONNACK (0x80 or more) is followed by the close, not by a DISCONNECT ${tag(v)}`, async (t) => {
    const e = await env(t, {}, { hooks: { authenticate: [() => ({ verdict: 'deny' })] } });
    const c = await e.open(v);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean: true, keepAlive: 0, clientId: 'refused', username: 'u', password: Buffer.from('p') });
    const ack = await c.expect('connack');
    assert.equal(ack.reasonCode, v === 5 ? 0x86 : 4);
    // Even a packet the client sends on regardless gets no answer: the server closes.
    c.send({ type: 'pingreq' });
    assert.equal(await c.next(), undefined, 'no packet after the refusing CONNACK');
    await c.waitClosed();
  });
}

test('[MQTT-3.2.2-9] a broker configured for QoS 1 says Maximum QoS 1 in CONNACK, and grants at most QoS 1 (MQTT 5)', async (t) => {
  const e = await env(t, { maximumQoS: 1 });
  const c = await e.open(5);
  c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'maxqos' });
  const ack = await c.expect('connack');
  assert.equal(ack.properties?.maximumQoS, 1);
  assert.deepEqual(await subscribe(c, 'q/#', 2), [1]);
});

for (const v of VERSIONS) {
  test(`[MQTT-2.2.1-4] the server's QoS 1 PUBLISHes carry non-zero packet identifiers, none reused while unacknowledged ${tag(v)}`, async (t) => {
    const e = await env(t);
    const sub = await e.client(v, { clientId: 'ids' });
    await subscribe(sub, 'ids/#', 1);
    const pub = await e.client(v);
    for (let i = 0; i < 20; i++) await publish(pub, `ids/${i}`, `m${i}`, { qos: 1 });
    const got = await receive(sub, 20, false);
    const ids = got.map((p) => p.packetId!);
    assert.ok(ids.every((id) => id > 0 && id <= 0xffff), ids.join(','));
    assert.equal(new Set(ids).size, ids.length, `distinct while none is acknowledged: ${ids.join(',')}`);
  });

  test(`[MQTT-4.6.0-6] [MQTT-3.3.2-3] messages on one topic reach a subscriber in the order published, under the topic name that matched its filter ${tag(v)}`, async (t) => {
    const e = await env(t);
    const sub = await e.client(v);
    await subscribe(sub, 'order/+/x', 1);
    const pub = await e.client(v);
    for (let i = 0; i < 40; i++) sendPublish(pub, 'order/a/x', String(i), { qos: (i % 2) as 0 | 1 });
    const got = await receive(sub, 40);
    assert.deepEqual(got.map((p) => p.payload.toString()), Array.from({ length: 40 }, (_, i) => String(i)));
    assert.ok(got.every((p) => p.topic === 'order/a/x'));
  });

  test(`[MQTT-4.1.0-1] a retained message outlives the session of the client that published it ${tag(v)}`, async (t) => {
    const e = await env(t);
    const pub = await e.client(v, { clientId: 'gone', clean: true });
    await publish(pub, 'kept/r', 'still here', { qos: 1, retain: true });
    pub.end();
    await new Promise((r) => setTimeout(r, 50));
    const sub = await e.client(v, { clientId: 'later' });
    await subscribe(sub, 'kept/#', 1);
    const [m] = await receive(sub, 1);
    assert.deepEqual([m!.topic, m!.payload.toString(), m!.retain], ['kept/r', 'still here', true]);
  });
}

test('[MQTT-4.9.0-3] [MQTT-3.3.4-10] with its send quota at zero (Receive Maximum 1, one QoS 1 unacknowledged) the server still answers PINGREQ, SUBSCRIBE and UNSUBSCRIBE at once; the next PUBLISH waits for the PUBACK (MQTT 5)', async (t) => {
  const e = await env(t);
  const sub = await e.client(5, { clientId: 'quota', properties: { receiveMaximum: 1 } });
  await subscribe(sub, 'quota/t', 1);
  const pub = await e.client(5);
  await publish(pub, 'quota/t', 'one', { qos: 1 });
  await publish(pub, 'quota/t', 'two', { qos: 1 });
  const [first] = await receive(sub, 1, false);
  assert.equal(first!.payload.toString(), 'one');
  sub.send({ type: 'pingreq' });
  assert.equal((await sub.next(1000))?.type, 'pingresp', 'PINGRESP while the quota is zero');
  assert.deepEqual(await subscribe(sub, 'other/#', 1), [1], 'SUBACK while the quota is zero');
  assert.deepEqual(await unsubscribe(sub, 'other/#'), [0], 'UNSUBACK while the quota is zero');
  await sub.quiet(100); // 'two' is held: the quota is still zero
  sub.send({ type: 'puback', packetId: first!.packetId!, reasonCode: 0 });
  const [second] = await receive(sub, 1);
  assert.equal(second!.payload.toString(), 'two');
});

/**
 * MQTT 5 features over real sockets: Topic Aliases both ways, Receive Maximum both ways (flow control,
 * spec 4.9), Maximum Packet Size both ways, Message Expiry Interval, properties passed through unaltered,
 * and request/response between two MQTT.js clients.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PublishPacket } from '../../src/codec/index.js';
import { sleep } from './helpers.js';
import {
  VERSIONS, env, expectServerClose, pkt, publish, receive, receiveOne, sendPublish, str, subscribe, tag, text,
} from './conformance-util.js';

/** Resolves the topic of PUBLISH packets that may use topic aliases, as a client must. */
function aliasResolver(): (p: PublishPacket) => string {
  const map = new Map<number, string>();
  return (p) => {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    if (p.topic !== '') map.set(alias, p.topic);
    const topic = map.get(alias);
    assert.ok(topic !== undefined, `alias ${alias} used before it was set`);
    return topic;
  };
}

describe('v5: topic aliases', () => {
  test('[MQTT-3.3.2-12] a client sets a Topic Alias with a topic name and then publishes with the alias and an empty topic (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'alias/#', 1);
    const pub = await e.client(5);
    await publish(pub, 'alias/long/topic', 'first', { qos: 1, properties: { topicAlias: 1 } });
    await publish(pub, '', 'second', { qos: 1, properties: { topicAlias: 1 } });
    // Re-mapping the same alias to another topic [3.3.2.3.4].
    await publish(pub, 'alias/other', 'third', { qos: 1, properties: { topicAlias: 1 } });
    await publish(pub, '', 'fourth', { qos: 1, properties: { topicAlias: 1 } });
    const got = await receive(sub, 4);
    assert.deepEqual(got.map((p) => [p.topic, text(p)]), [
      ['alias/long/topic', 'first'], ['alias/long/topic', 'second'], ['alias/other', 'third'], ['alias/other', 'fourth'],
    ]);
    assert.ok(got.every((p) => p.properties?.topicAlias === undefined), 'the publisher\'s alias is not forwarded');
  });

  test('[MQTT-3.3.2-9] a Topic Alias above the Topic Alias Maximum in CONNACK gets DISCONNECT 0x94 Topic Alias invalid (MQTT 5)', async (t) => {
    const e = await env(t, { limits: { topicAliasMaximum: 4 } });
    const c = await e.open(5);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: '' });
    const connack = await c.expect('connack');
    assert.equal(connack.properties?.topicAliasMaximum, 4);
    await publish(c, 'ok', 'x', { qos: 1, properties: { topicAlias: 4 } });
    sendPublish(c, 'too/high', 'x', { properties: { topicAlias: 5 } });
    await expectServerClose(c, 5, 0x94);
  });

  test('[MQTT-3.3.2-8] a Topic Alias of 0 gets DISCONNECT 0x94 Topic Alias invalid (MQTT 5)', async (t) => {
    const e = await env(t);
    const c = await e.client(5);
    // PUBLISH QoS 0, topic "a", properties: Topic Alias (0x23) = 0, payload "x".
    c.write(pkt(0x30, `${str('a')} 03 23 0000 78`));
    await expectServerClose(c, 5, 0x94);
  });

  test('[3.3.4] an empty topic name with a Topic Alias the client never set gets DISCONNECT 0x82 Protocol Error (MQTT 5)', async (t) => {
    const e = await env(t);
    const c = await e.client(5);
    sendPublish(c, '', 'x', { properties: { topicAlias: 3 } });
    await expectServerClose(c, 5, 0x82);
  });

  test('[MQTT-3.3.2-7] Topic Alias mappings do not carry over to a new connection (MQTT 5)', async (t) => {
    const e = await env(t);
    const fields = { clientId: 'aliaser', clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await e.client(5, fields);
    await publish(first, 'kept/topic', 'x', { qos: 1, properties: { topicAlias: 2 } });
    first.send({ type: 'disconnect', reasonCode: 0 });
    await first.waitClosed();
    const second = await e.client(5, fields);
    sendPublish(second, '', 'x', { properties: { topicAlias: 2 } });
    await expectServerClose(second, 5, 0x82);
  });

  test('[MQTT-3.1.2-26] [MQTT-3.3.2-11] with the client\'s Topic Alias Maximum set, the broker sends a topic once, then the alias with an empty topic; aliases stay within the maximum (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { topicAliasMaximum: 2 } });
    await subscribe(sub, 'ta/#', 1);
    const pub = await e.client(5);
    const topics = ['ta/one', 'ta/one', 'ta/two', 'ta/two', 'ta/three', 'ta/three', 'ta/one'];
    for (const [i, topic] of topics.entries()) await publish(pub, topic, String(i), { qos: 1 });
    const got = await receive(sub, topics.length);
    const resolve = aliasResolver();
    assert.deepEqual(got.map(resolve), topics, 'every message resolves to its topic');
    for (const p of got) {
      const alias = p.properties?.topicAlias;
      if (alias !== undefined) assert.ok(alias >= 1 && alias <= 2, `alias ${alias} within 1..2`);
    }
    const [a, b] = got;
    assert.equal(a!.topic, 'ta/one');
    assert.ok(a!.properties?.topicAlias !== undefined, 'first message on a topic sets an alias');
    assert.equal(b!.topic, '', 'second message on the same topic has an empty topic name');
    assert.equal(b!.properties?.topicAlias, a!.properties?.topicAlias, 'and the same alias');
  });

  test('[MQTT-3.1.2-25] a message discarded as too large does not establish its Topic Alias: the next one on that topic carries the name (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { maximumPacketSize: 80, topicAliasMaximum: 5 } });
    await subscribe(sub, 'big/#', 1);
    const pub = await e.client(5);
    await publish(pub, 'big/a', 'L'.repeat(100), { qos: 1 }); // discarded
    await publish(pub, 'big/b', 'b1', { qos: 1 });
    await publish(pub, 'big/a', 'a1', { qos: 1 });
    await publish(pub, 'big/a', 'a2', { qos: 1 });
    await publish(pub, 'big/b', 'b2', { qos: 1 });
    const got = await receive(sub, 4);
    const resolve = aliasResolver();
    assert.deepEqual(got.map((p) => `${resolve(p)}:${text(p)}`), ['big/b:b1', 'big/a:a1', 'big/a:a2', 'big/b:b2']);
    const aliases = got.map((p) => p.properties?.topicAlias);
    assert.notEqual(aliases[0], aliases[1], 'two topics, two aliases');
  });

  for (const v of VERSIONS) {
    test(`[MQTT-3.1.2-27] without a Topic Alias Maximum from the client, the broker sends no Topic Alias ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, 'ta/#', 1);
      const pub = await e.client(5);
      for (let i = 0; i < 3; i++) await publish(pub, 'ta/same', String(i), { qos: 1, properties: { topicAlias: 1 } });
      const got = await receive(sub, 3);
      assert.ok(got.every((p) => p.topic === 'ta/same' && p.properties?.topicAlias === undefined));
    });
  }
});

describe('v5: Receive Maximum (flow control)', () => {
  test('[MQTT-3.3.4-9] the broker sends no more unacknowledged QoS 1 PUBLISH than the client\'s Receive Maximum; an ack lets the next go (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { receiveMaximum: 2 } });
    await subscribe(sub, 'rm', 1);
    const pub = await e.client(5);
    for (let i = 0; i < 4; i++) await publish(pub, 'rm', String(i), { qos: 1 });
    const first = await receive(sub, 2, false);
    assert.deepEqual(first.map(text), ['0', '1']);
    await sub.quiet(200);
    // [MQTT-3.3.4-10] [MQTT-4.9.0-3] other packets still flow while the quota is zero.
    sub.send({ type: 'pingreq' });
    await sub.expect('pingresp');
    sub.send({ type: 'puback', packetId: first[0]!.packetId!, reasonCode: 0 });
    const third = await receive(sub, 1, false);
    assert.equal(text(third[0]!), '2');
    await sub.quiet(150);
    sub.send({ type: 'puback', packetId: first[1]!.packetId!, reasonCode: 0 });
    sub.send({ type: 'puback', packetId: third[0]!.packetId!, reasonCode: 0 });
    assert.equal(text(await receiveOne(sub)), '3');
  });

  test('[MQTT-4.9.0-2] a QoS 2 message holds the send quota until PUBCOMP, not just PUBREC (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, 'rm2', 2);
    const pub = await e.client(5);
    await publish(pub, 'rm2', 'a', { qos: 2 });
    await publish(pub, 'rm2', 'b', { qos: 2 });
    const a = await sub.expect('publish');
    assert.equal(text(a), 'a');
    sub.send({ type: 'pubrec', packetId: a.packetId!, reasonCode: 0 });
    assert.equal((await sub.expect('pubrel')).packetId, a.packetId);
    await sub.quiet(150);
    sub.send({ type: 'pubcomp', packetId: a.packetId!, reasonCode: 0 });
    assert.equal(text(await receiveOne(sub)), 'b');
  });

  test('[MQTT-3.3.4-7] more unacknowledged QoS 2 PUBLISH than the broker\'s Receive Maximum gets DISCONNECT 0x93; PUBREL frees the quota (MQTT 5)', async (t) => {
    const e = await env(t, { limits: { receiveMaximum: 2 } });
    const c = await e.open(5);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: '' });
    assert.equal((await c.expect('connack')).properties?.receiveMaximum, 2, 'announced in CONNACK');
    sendPublish(c, 'x', '1', { qos: 2, packetId: 1 });
    sendPublish(c, 'x', '2', { qos: 2, packetId: 2 });
    assert.equal((await c.expect('pubrec')).packetId, 1);
    assert.equal((await c.expect('pubrec')).packetId, 2);
    c.send({ type: 'pubrel', packetId: 1, reasonCode: 0 });
    assert.equal((await c.expect('pubcomp')).packetId, 1);
    // One slot free again: a third is fine, a fourth exceeds the maximum.
    sendPublish(c, 'x', '3', { qos: 2, packetId: 3 });
    assert.equal((await c.expect('pubrec')).packetId, 3);
    sendPublish(c, 'x', '4', { qos: 2, packetId: 4 });
    await expectServerClose(c, 5, 0x93);
  });
});

describe('v5: Maximum Packet Size', () => {
  test('[MQTT-3.1.2-24] a message larger than the client\'s Maximum Packet Size is not sent, and is treated as delivered [MQTT-3.1.2-25] (MQTT 5)', async (t) => {
    const e = await env(t);
    // Receive Maximum 1: if the discarded QoS 1 message stayed in flight, nothing after it would come.
    const sub = await e.client(5, { properties: { maximumPacketSize: 100, receiveMaximum: 1 } });
    await subscribe(sub, 'mps', 1);
    const pub = await e.client(5);
    await publish(pub, 'mps', 'small 1', { qos: 1 });
    await publish(pub, 'mps', 'L'.repeat(200), { qos: 1 });
    await publish(pub, 'mps', 'B'.repeat(95), { qos: 0 }); // 2 + 5 + 1 + 95 bytes: just too large too
    await publish(pub, 'mps', 'small 2', { qos: 1 });
    const got = await receive(sub, 2);
    assert.deepEqual(got.map(text), ['small 1', 'small 2']);
    await sub.quiet(100);
  });

  test('[MQTT-3.1.2-25] each discarded over-size message is counted once in broker.stats.droppedTooLarge (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { maximumPacketSize: 64 } });
    await subscribe(sub, 'mps', 1);
    const pub = await e.client(5);
    await publish(pub, 'mps', 'L'.repeat(100), { qos: 1 });
    await publish(pub, 'mps', 'L'.repeat(100), { qos: 0 });
    await publish(pub, 'mps', 'ok', { qos: 1 });
    assert.equal(text(await receiveOne(sub)), 'ok');
    assert.equal(e.broker.stats.droppedTooLarge, 2);
  });

  for (const v of VERSIONS) {
    test(`[MQTT-3.2.2-15] a packet larger than the broker's Maximum Packet Size ${v === 5 ? 'gets DISCONNECT 0x95 Packet too large' : 'closes the connection'} ${tag(v)}`, async (t) => {
      const e = await env(t, { limits: { maxPacketSize: 1024 } });
      const c = await e.open(v);
      c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean: true, keepAlive: 0, clientId: '' });
      const connack = await c.expect('connack');
      if (v === 5) assert.equal(connack.properties?.maximumPacketSize, 1024, 'announced in CONNACK');
      await publish(c, 'big', 'x'.repeat(1000), { qos: 1 }); // 1012 bytes: fits
      sendPublish(c, 'big', 'x'.repeat(1100), { qos: 1 });
      await expectServerClose(c, v, 0x95);
    });
  }
});

describe('v5: Message Expiry Interval', () => {
  test('[MQTT-3.3.2-6] a message forwarded at once carries the Message Expiry Interval it was published with (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'exp', 1);
    const pub = await e.client(5);
    await publish(pub, 'exp', 'x', { qos: 1, properties: { messageExpiryInterval: 30 } });
    await publish(pub, 'exp', 'y', { qos: 1 });
    const [x, y] = await receive(sub, 2);
    assert.equal(x!.properties?.messageExpiryInterval, 30);
    assert.equal(y!.properties?.messageExpiryInterval, undefined, 'no expiry when none was published');
  });

  test('[MQTT-3.3.2-5] a message that expires while its subscriber is offline is dropped; one that waited is sent with the interval minus the wait [MQTT-3.3.2-6] (MQTT 5)', async (t) => {
    const e = await env(t);
    const fields = { clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 60 } };
    const sub = await e.client(5, fields);
    await subscribe(sub, 'exp/#', 1);
    sub.send({ type: 'disconnect', reasonCode: 0 });
    await sub.waitClosed();
    const pub = await e.client(5);
    await publish(pub, 'exp/a', 'expires', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, 'exp/b', 'no expiry', { qos: 1 });
    await publish(pub, 'exp/c', 'waits', { qos: 1, properties: { messageExpiryInterval: 4 } });
    await sleep(1100);
    const back = await e.client(5, fields);
    const got = await receive(back, 2);
    assert.deepEqual(got.map(text), ['no expiry', 'waits']);
    assert.equal(got[0]!.properties?.messageExpiryInterval, undefined);
    const left = got[1]!.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left >= 2 && left <= 3, `remaining interval ${left}: 4 s minus the 1.1 s waited`);
    await back.quiet(100);
  });
  test('[MQTT-3.3.2-5] a message held behind a full Receive Maximum window expires there; another is sent with its remaining interval [MQTT-3.3.2-6] (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, 'win', 1);
    const pub = await e.client(5);
    await publish(pub, 'win', 'in flight', { qos: 1 });
    await publish(pub, 'win', 'expires', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, 'win', 'waits', { qos: 1, properties: { messageExpiryInterval: 4 } });
    const first = (await receive(sub, 1, false))[0]!;
    assert.equal(text(first), 'in flight');
    await sleep(1100);
    sub.send({ type: 'puback', packetId: first.packetId!, reasonCode: 0 });
    const next = await receiveOne(sub);
    assert.equal(text(next), 'waits');
    const left = next.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left >= 2 && left <= 3, `remaining interval ${left}: 4 s minus the 1.1 s waited`);
    await sub.quiet(100);
  });
});

describe('v5: properties and request/response', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.3.2-17] User Properties in order, Content Type, Payload Format Indicator, Response Topic and Correlation Data reach subscribers unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-18] [MQTT-3.3.2-20] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub5 = await e.client(5);
      const subV = await e.client(v);
      for (const s of [sub5, subV]) await subscribe(s, 'props', 2);
      const pub = await e.client(5);
      const properties = {
        payloadFormatIndicator: true,
        contentType: 'application/json; charset=utf-8',
        responseTopic: 'reply/to/me',
        correlationData: Buffer.from([0, 1, 2, 0xfe, 0xff]),
        userProperties: [['z', 'last?'], ['a', '1'], ['a', '2'], ['emoji', '\u{1F600}']] as Array<[string, string]>,
      };
      const payload = Buffer.from('{"n":1}');
      await publish(pub, 'props', payload, { qos: 2, properties });
      for (const s of [sub5, subV]) {
        const p = await receiveOne(s);
        assert.deepEqual(p.payload, payload, 'payload unaltered');
        if (s.version !== 5) {
          assert.equal(p.properties, undefined, 'a 3.1.1 subscriber gets the message without properties');
          continue;
        }
        assert.equal(p.properties?.payloadFormatIndicator, true);
        assert.equal(p.properties?.contentType, properties.contentType);
        assert.equal(p.properties?.responseTopic, properties.responseTopic);
        assert.deepEqual(p.properties?.correlationData, properties.correlationData);
        assert.deepEqual(p.properties?.userProperties, properties.userProperties);
      }
    });
  }

  test('[4.10] request/response: a responder answers on the Response Topic with the Correlation Data (two MQTT.js v5 clients)', async (t) => {
    const e = await env(t);
    const responder = await e.mqttjs(5, { clientId: 'responder' });
    const requester = await e.mqttjs(5, { clientId: 'requester' });
    responder.on('message', (_topic, payload, packet) => {
      const props = packet.properties;
      if (!props?.responseTopic) return;
      responder.publish(props.responseTopic, `echo:${payload.toString()}`, {
        qos: 1, properties: { correlationData: props.correlationData },
      });
    });
    await responder.subscribeAsync('service/echo', { qos: 1 });
    await requester.subscribeAsync('replies/requester', { qos: 1 });
    const answers = new Map<string, string>();
    const done = new Promise<void>((resolve) => requester.on('message', (topic, payload, packet) => {
      assert.equal(topic, 'replies/requester');
      answers.set(packet.properties?.correlationData?.toString() ?? '?', payload.toString());
      if (answers.size === 2) resolve();
    }));
    for (const id of ['req-1', 'req-2']) {
      await requester.publishAsync('service/echo', `hello ${id}`, {
        qos: 1, properties: { responseTopic: 'replies/requester', correlationData: Buffer.from(id) },
      });
    }
    await done;
    assert.deepEqual([...answers].sort(), [['req-1', 'echo:hello req-1'], ['req-2', 'echo:hello req-2']]);
  });
});

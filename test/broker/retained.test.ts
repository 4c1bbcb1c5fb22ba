/**
 * Retained messages over real sockets (spec 3.3.1.3, 3.8.3.1, 3.3.2.3.3): stored, replaced, deleted by an
 * empty payload, sent on subscription with RETAIN 1, Retain Handling 0/1/2, RETAIN 0 on live forwarding,
 * and Message Expiry of a retained message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from './helpers.js';
import { VERSIONS, env, expectServerClose, publish, receive, receiveOne, sendPublish, subscribe, tag, text } from './conformance-util.js';

describe('retained messages', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.3.1-5] a retained message is stored and sent to a later subscriber with RETAIN 1 [MQTT-3.3.1-9] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, 'r/a', 'kept', { qos: 2, retain: true });
      const sub = await e.client(v);
      assert.deepEqual(await subscribe(sub, 'r/a', 1), [1]); // SUBACK comes first
      const p = await receiveOne(sub);
      assert.equal(p.topic, 'r/a');
      assert.equal(text(p), 'kept');
      assert.equal(p.retain, true);
      assert.equal(p.qos, 1, 'at the lower of the stored QoS and the granted QoS [MQTT-3.8.4-8]');
      await sub.quiet(100);
    });

    test(`[MQTT-3.3.1-5] a new retained message on the same topic replaces the stored one ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      for (const payload of ['v1', 'v2', 'v3']) await publish(pub, 'r/a', payload, { qos: 1, retain: true });
      const sub = await e.client(v);
      await subscribe(sub, 'r/a', 1);
      assert.equal(text(await receiveOne(sub)), 'v3');
      await sub.quiet(100);
    });

    test(`[MQTT-3.3.1-6] an empty retained PUBLISH is forwarded normally and removes the retained message; it is not stored itself [MQTT-3.3.1-7] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, 'r/a', 'kept', { qos: 1, retain: true });
      await publish(pub, 'r/b', 'other', { qos: 1, retain: true });
      const live = await e.client(v);
      await subscribe(live, 'r/a', 1);
      assert.equal(text(await receiveOne(live)), 'kept');
      await publish(pub, 'r/a', '', { qos: 1, retain: true });
      const forwarded = await receiveOne(live);
      assert.equal(forwarded.payload.length, 0, 'the empty message itself reaches current subscribers');
      const late = await e.client(v);
      await subscribe(late, 'r/#', 1);
      const got = await receive(late, 1);
      assert.deepEqual(got.map((p) => p.topic), ['r/b'], 'r/a has no retained message, empty or not');
      await late.quiet(100);
    });

    test(`[MQTT-3.3.1-8] a PUBLISH with RETAIN 0 neither stores nor replaces the retained message ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, 'r/a', 'retained', { qos: 1, retain: true });
      await publish(pub, 'r/a', 'not retained', { qos: 1 });
      await publish(pub, 'r/b', 'not retained either', { qos: 1 });
      const sub = await e.client(v);
      await subscribe(sub, 'r/#', 1);
      const got = await receive(sub, 1);
      assert.deepEqual(got.map((p) => [p.topic, text(p)]), [['r/a', 'retained']]);
      await sub.quiet(100);
    });

    test(`[MQTT-3.3.1-9] a wildcard subscription gets every matching retained message, each with RETAIN 1 ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      for (const topic of ['home/kitchen/temp', 'home/hall/temp', 'home/kitchen/light', 'office/temp']) {
        await publish(pub, topic, topic, { qos: 1, retain: true });
      }
      const sub = await e.client(v);
      await subscribe(sub, 'home/+/temp', 1);
      const got = await receive(sub, 2);
      assert.deepEqual(got.map((p) => p.topic).sort(), ['home/hall/temp', 'home/kitchen/temp']);
      assert.ok(got.every((p) => p.retain));
      await sub.quiet(100);
    });

    test(`[MQTT-3.3.1-12] a live message matching an established subscription is forwarded with RETAIN 0 (3.1.1 [MQTT-3.3.1-9]) ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, 'r/live', 1);
      const pub = await e.client(v);
      await publish(pub, 'r/live', 'now', { qos: 1, retain: true });
      const p = await receiveOne(sub);
      assert.equal(p.retain, false);
      // The same message is retained all the same: a new subscription gets it with RETAIN 1.
      const late = await e.client(v);
      await subscribe(late, 'r/live', 1);
      assert.equal((await receiveOne(late)).retain, true);
    });

    test(`[MQTT-3.8.4-4] subscribing again with Retain Handling 0 sends the retained messages again ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, 'r/a', 'kept', { qos: 1, retain: true });
      const sub = await e.client(v);
      await subscribe(sub, 'r/a', 1);
      assert.equal(text(await receiveOne(sub)), 'kept');
      await subscribe(sub, 'r/a', 1);
      const again = await receiveOne(sub);
      assert.equal(text(again), 'kept');
      assert.equal(again.retain, true);
    });

    test(`[MQTT-3.3.2-5] an expired retained message is not sent; a live one carries its remaining expiry [MQTT-3.3.2-6] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(5);
      await publish(pub, 'exp/short', 'gone', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
      await publish(pub, 'exp/long', 'alive', { qos: 1, retain: true, properties: { messageExpiryInterval: 3 } });
      await sleep(1100);
      const sub = await e.client(v);
      await subscribe(sub, 'exp/#', 1);
      const got = await receive(sub, 1);
      assert.deepEqual(got.map(text), ['alive']);
      if (v === 5) {
        const left = got[0]!.properties?.messageExpiryInterval;
        assert.ok(left !== undefined && left >= 1 && left <= 2, `remaining expiry ${left}, expected 3 s minus the 1.1 s waited`);
      }
      await sub.quiet(100);
    });

    test(`[MQTT-4.7.2-1] retained messages on topics beginning with '$' are not sent for filters starting with a wildcard ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, '$app/state', 'dollar', { qos: 1, retain: true });
      await publish(pub, 'app/state', 'plain', { qos: 1, retain: true });
      for (const filter of ['#', '+/state', '+/+']) {
        const wild = await e.client(v);
        await subscribe(wild, filter, 1);
        assert.equal((await receiveOne(wild)).topic, 'app/state', filter);
        await wild.quiet(100);
      }
      const dollar = await e.client(v);
      await subscribe(dollar, '$app/+', 1);
      assert.equal(text(await receiveOne(dollar)), 'dollar');
    });

    test(`[MQTT-3.2.2-14] with retain turned off, a retained PUBLISH ${v === 5 ? 'gets DISCONNECT 0x9A Retain not supported' : 'closes the connection'} and is not stored ${tag(v)}`, async (t) => {
      const e = await env(t, { retainAvailable: false });
      const c = await e.open(v);
      c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean: true, keepAlive: 0, clientId: '' });
      const connack = await c.expect('connack');
      if (v === 5) assert.equal(connack.properties?.retainAvailable, false, 'Retain Available 0 in CONNACK');
      await publish(c, 'r/a', 'not retained', { qos: 1 });
      sendPublish(c, 'r/a', 'retained', { qos: 1, retain: true });
      await expectServerClose(c, v, 0x9a);
      const sub = await e.client(v);
      await subscribe(sub, 'r/#', 1);
      await sub.quiet(100);
    });
  }

  test('[MQTT-3.3.1-10] Retain Handling 1 sends retained messages only when the subscription is new (MQTT 5)', async (t) => {
    const e = await env(t);
    const pub = await e.client(5);
    await publish(pub, 'r/a', 'kept', { qos: 1, retain: true });
    const sub = await e.client(5);
    await subscribe(sub, { topicFilter: 'r/a', retainHandling: 1 }, 1);
    assert.equal(text(await receiveOne(sub)), 'kept');
    await subscribe(sub, { topicFilter: 'r/a', retainHandling: 1 }, 1);
    await sub.quiet(150);
    // A different filter is a new subscription.
    await subscribe(sub, { topicFilter: 'r/+', retainHandling: 1 }, 1);
    assert.equal(text(await receiveOne(sub)), 'kept');
  });

  test('[MQTT-3.3.1-11] Retain Handling 2 never sends retained messages, new subscription or not (MQTT 5)', async (t) => {
    const e = await env(t);
    const pub = await e.client(5);
    await publish(pub, 'r/a', 'kept', { qos: 1, retain: true });
    const sub = await e.client(5);
    await subscribe(sub, { topicFilter: 'r/a', retainHandling: 2 }, 1);
    await subscribe(sub, { topicFilter: 'r/#', retainHandling: 2 }, 1);
    await sub.quiet(150);
    // Live messages still flow.
    await publish(pub, 'r/a', 'live', { qos: 1 });
    assert.equal(text(await receiveOne(sub)), 'live');
  });

  test('[MQTT-3.3.4-3] a retained message sent on subscription carries that subscription\'s identifier and its properties unaltered [MQTT-3.3.2-17] (MQTT 5)', async (t) => {
    const e = await env(t);
    const pub = await e.client(5);
    const properties = {
      userProperties: [['k', 'v'], ['k', 'w']] as Array<[string, string]>, contentType: 'text/plain',
      payloadFormatIndicator: true, responseTopic: 'reply/here', correlationData: Buffer.from([1, 2, 3]),
    };
    await publish(pub, 'r/props', 'kept', { qos: 1, retain: true, properties });
    const sub = await e.client(5);
    await subscribe(sub, 'r/#', 1, { subscriptionIdentifier: 42 });
    const p = await receiveOne(sub);
    assert.deepEqual(p.properties?.subscriptionIdentifiers, [42]);
    assert.deepEqual(p.properties?.userProperties, properties.userProperties);
    assert.equal(p.properties?.contentType, 'text/plain');
    assert.equal(p.properties?.payloadFormatIndicator, true);
    assert.equal(p.properties?.responseTopic, 'reply/here');
    assert.deepEqual(p.properties?.correlationData, properties.correlationData);
  });
});

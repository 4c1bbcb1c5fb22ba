/**
 * Subscribing over real sockets (spec 3.8–3.11, 4.7): wildcard matching and the `$` rule, SUBACK codes
 * with authorization hooks, overlapping subscriptions, Subscription Identifiers, No Local, Retain As
 * Published, replacing and removing subscriptions, and publish authorization.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { QoS } from '../../src/codec/index.js';
import type { AuthorizeSubscribeHook } from '../../src/broker/hooks.js';
import type { RawClient } from './helpers.js';
import {
  VERSIONS, env, publish, receive, receiveOne, sendPublish, subscribe, tag, text, unsubscribe,
} from './conformance-util.js';

/** Publishes each topic at QoS 1 with the topic as payload (end a list with 'end' for topicsUntilEnd). */
async function publishAll(pub: RawClient, topics: string[]): Promise<void> {
  for (const topic of topics) await publish(pub, topic, topic, { qos: 1 });
}

/** Topics a client received until the `end` marker (it must be subscribed to `end`). */
async function topicsUntilEnd(c: RawClient): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const p = await receiveOne(c);
    if (p.topic === 'end') return out;
    out.push(p.topic);
  }
}

describe('subscribe: topic filters', () => {
  for (const v of VERSIONS) {
    test(`[4.7.1.2] '#' matches its parent level and every level below, nothing else ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, ['sport/tennis/#', 'end'], 1);
      const pub = await e.client(v);
      await publishAll(pub, ['sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport', 'sport/tennisx', 'sport/golf', 'end']);
      assert.deepEqual(await topicsUntilEnd(sub), ['sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking']);
    });

    test(`[4.7.1.3] '+' matches exactly one level, an empty one included ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, ['sport/+', '+/+/x', 'end'], 1);
      const pub = await e.client(v);
      await publishAll(pub, ['sport', 'sport/', 'sport/tennis', 'sport/tennis/player1', '/finance', 'a//x', 'a/b/x/y', 'end']);
      assert.deepEqual(await topicsUntilEnd(sub), ['sport/', 'sport/tennis', 'a//x']);
    });

    test(`[MQTT-4.7.2-1] filters starting with a wildcard do not match topics beginning with '$'; '$foo/#' does ${tag(v)}`, async (t) => {
      const e = await env(t);
      const wild = await e.client(v);
      await subscribe(wild, ['#', '+/x', '+/+'], 1);
      const dollar = await e.client(v);
      await subscribe(dollar, ['$foo/#', '$foo/+/z', 'end'], 1);
      const pub = await e.client(v);
      await publishAll(pub, ['$foo/x', '$foo/y/z', 'bar/x', 'end']);
      assert.deepEqual(await topicsUntilEnd(dollar), ['$foo/x', '$foo/y/z']);
      const got = await receive(wild, 2);
      assert.deepEqual(got.map((p) => p.topic), ['bar/x', 'end']);
      await wild.quiet(100);
    });

    test(`[MQTT-4.7.3-4] matching neither normalizes nor folds case: 'a/b' does not match 'A/b', 'a/b/' or '/a/b' ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, ['a/b', 'caf\u00e9', 'end'], 1);
      const pub = await e.client(v);
      // 'cafe\u0301' is the decomposed form of 'café': a different topic byte for byte.
      await publishAll(pub, ['A/b', 'a/b/', '/a/b', 'a//b', 'cafe\u0301', 'caf\u00e9', 'a/b', 'end']);
      assert.deepEqual(await topicsUntilEnd(sub), ['caf\u00e9', 'a/b']);
    });
  }
});

describe('subscribe: SUBACK and authorization', () => {
  const hook: AuthorizeSubscribeHook = (_client, { topicFilter }) =>
    topicFilter.startsWith('secret/') ? false : topicFilter.startsWith('capped/') ? 1 : undefined;

  for (const v of VERSIONS) {
    const refused = v === 5 ? 0x87 : 0x80;
    test(`[MQTT-3.9.3-1] [MQTT-3.8.4-2] [MQTT-3.8.4-6] [MQTT-3.8.4-7] [MQTT-3.9.3-2] SUBACK has the SUBSCRIBE's packet id and one code per filter in order: granted QoS, or 0x${refused.toString(16)} for a filter authorizeSubscribe refuses ${tag(v)}`, async (t) => {
      const e = await env(t, {}, { hooks: { authorizeSubscribe: [hook] } });
      const sub = await e.client(v);
      const codes = await subscribe(sub, [
        { topicFilter: 'a', qos: 0 }, { topicFilter: 'secret/#', qos: 1 }, { topicFilter: 'b', qos: 2 },
        { topicFilter: 'capped/#', qos: 2 }, { topicFilter: 'c', qos: 1 },
      ]);
      assert.deepEqual(codes, [0, refused, 2, 1, 1]);
      const pub = await e.client(v);
      await publish(pub, 'secret/plans', 'hidden', { qos: 1 });
      await publish(pub, 'capped/x', 'capped', { qos: 2 });
      const p = await receiveOne(sub);
      assert.equal(p.topic, 'capped/x', 'the refused subscription delivers nothing');
      assert.equal(p.qos, 1, 'a hook may lower the granted QoS; delivery respects it');
      await sub.quiet(100);
    });

    test(`[3.4.2.1] a PUBLISH refused by authorizePublish is not delivered; ${v === 5 ? 'PUBACK/PUBREC 0x87' : 'a positive ack, 3.1.1 [MQTT-3.3.5-2]'} ${tag(v)}`, async (t) => {
      const seen: string[] = [];
      const e = await env(t, {}, {
        hooks: {
          authorizePublish: [(_c, m) => {
            seen.push(`${m.topic}:${m.qos}`);
            return !m.topic.startsWith('locked/');
          }],
        },
      });
      const sub = await e.client(v);
      await subscribe(sub, '#', 2);
      const pub = await e.client(v);
      sendPublish(pub, 'locked/a', 'q0');
      const a1 = await publish(pub, 'locked/a', 'q1', { qos: 1 });
      const a2 = await publish(pub, 'locked/a', 'q2', { qos: 2 });
      assert.equal(a1?.reasonCode, v === 5 ? 0x87 : undefined);
      assert.equal(a2?.reasonCode, v === 5 ? 0x87 : undefined);
      await publish(pub, 'open/a', 'fine', { qos: 1 });
      const p = await receiveOne(sub);
      assert.equal(p.topic, 'open/a');
      await sub.quiet(100);
      assert.deepEqual(seen, ['locked/a:0', 'locked/a:1', 'locked/a:2', 'open/a:1'], 'the hook saw every PUBLISH');
    });
  }
  for (const v of VERSIONS) {
    test(`[MQTT-3.8.4-1] an async authorizeSubscribe hook: the SUBACK waits for it, codes stay in order, and packets sent after the SUBSCRIBE see its outcome ${tag(v)}`, async (t) => {
      const slow: AuthorizeSubscribeHook = async (_c, { topicFilter }) => {
        await new Promise((r) => setTimeout(r, topicFilter === 'slow/ok' ? 60 : 10));
        return topicFilter !== 'slow/no';
      };
      const e = await env(t, {}, { hooks: { authorizeSubscribe: [slow] } });
      const c = await e.client(v);
      const packetId = 41;
      c.send({ type: 'subscribe', packetId, subscriptions: [{ topicFilter: 'slow/ok', qos: 1 }, { topicFilter: 'slow/no', qos: 1 }] });
      // Pipelined right behind the SUBSCRIBE, before its SUBACK: matched against the new subscriptions.
      sendPublish(c, 'slow/ok', 'mine', { qos: 1, packetId: 42 });
      sendPublish(c, 'slow/no', 'not mine', { qos: 1, packetId: 43 });
      const suback = await c.expect('suback');
      assert.equal(suback.packetId, packetId);
      assert.deepEqual(suback.reasonCodes, [1, v === 5 ? 0x87 : 0x80]);
      const rest = [await c.next(), await c.next(), await c.next()];
      const acks = rest.filter((p) => p?.type === 'puback').map((p) => (p?.type === 'puback' ? p.packetId : 0));
      const pubs = rest.filter((p) => p?.type === 'publish').map((p) => (p?.type === 'publish' ? p.topic : ''));
      assert.deepEqual(acks.sort(), [42, 43]);
      assert.deepEqual(pubs, ['slow/ok']);
      await c.quiet(100);
    });
  }
});

describe('subscribe: overlapping subscriptions and options', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.3.4-2] overlapping subscriptions give one delivery at the highest granted QoS ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, 'a/+', 0);
      await subscribe(sub, 'a/#', 2);
      await subscribe(sub, 'a/b', 1);
      const pub = await e.client(v);
      await publish(pub, 'a/b', 'x', { qos: 2 });
      const p = await receiveOne(sub);
      assert.equal(p.qos, 2);
      await sub.quiet(150);
    });

    test(`[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription: one delivery with the new QoS ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      assert.deepEqual(await subscribe(sub, 'r/x', 0), [0]);
      assert.deepEqual(await subscribe(sub, 'r/x', 2), [2]);
      const pub = await e.client(v);
      await publish(pub, 'r/x', 'up', { qos: 2 });
      assert.equal((await receiveOne(sub)).qos, 2);
      assert.deepEqual(await subscribe(sub, 'r/x', 1), [1]);
      await publish(pub, 'r/x', 'down', { qos: 2 });
      assert.equal((await receiveOne(sub)).qos, 1);
      await sub.quiet(100);
    });

    test(`[MQTT-3.10.4-1] UNSUBSCRIBE deletes the subscription and delivery stops [MQTT-3.10.4-2] ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, ['u/+', 'keep'], 1);
      const pub = await e.client(v);
      await publish(pub, 'u/1', 'before', { qos: 1 });
      assert.equal(text(await receiveOne(sub)), 'before');
      await unsubscribe(sub, 'u/+');
      await publish(pub, 'u/1', 'after', { qos: 1 });
      await publish(pub, 'keep', 'kept', { qos: 1 });
      const p = await receiveOne(sub);
      assert.equal(text(p), 'kept', 'only the remaining subscription delivers');
      await sub.quiet(100);
    });

    test(`[MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.10.4-6] one UNSUBACK for several filters, handled as a sequence (a repeated filter finds nothing the second time), even when nothing was deleted${v === 5 ? ', with 0x00 / 0x11 per filter in order [MQTT-3.11.3-1] [MQTT-3.11.3-2]' : ''} ${tag(v)}`, async (t) => {
      const e = await env(t);
      const c = await e.client(v);
      await subscribe(c, ['x/1', 'x/3'], 1);
      const codes = await unsubscribe(c, ['x/1', 'x/2', 'x/3', 'x/1']);
      assert.deepEqual(codes, v === 5 ? [0x00, 0x11, 0x00, 0x11] : []);
      assert.deepEqual(await unsubscribe(c, 'never'), v === 5 ? [0x11] : []);
      // Every filter of the packet was removed: nothing arrives for either.
      const pub = await e.client(v);
      await publish(pub, 'x/1', 'a', { qos: 1 });
      await publish(pub, 'x/3', 'b', { qos: 1 });
      await c.quiet(150);
    });
  }

  test('[MQTT-3.8.4-4] replacing a subscription loses no message already on its way (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5, { properties: { receiveMaximum: 1 } });
    await subscribe(sub, 'keep/#', 1);
    const pub = await e.client(5);
    for (let i = 0; i < 3; i++) await publish(pub, 'keep/x', String(i), { qos: 1 });
    const first = (await receive(sub, 1, false))[0]!; // '0' in flight, '1' and '2' queued behind it
    sub.send({ type: 'subscribe', packetId: 99, subscriptions: [{ topicFilter: 'keep/#', qos: 2, retainHandling: 0 }] });
    assert.deepEqual((await sub.expect('suback')).reasonCodes, [2]);
    sub.send({ type: 'puback', packetId: first.packetId!, reasonCode: 0 });
    const rest = await receive(sub, 2);
    assert.deepEqual([text(first), ...rest.map(text)], ['0', '1', '2']);
  });

  for (const v of VERSIONS) {
    test(`[MQTT-3.10.4-3] after UNSUBSCRIBE the broker still completes a QoS 2 delivery it had started ${tag(v)}`, async (t) => {
      const e = await env(t);
      const sub = await e.client(v);
      await subscribe(sub, 'u2', 2);
      const pub = await e.client(v);
      await publish(pub, 'u2', 'started', { qos: 2 });
      const p = await sub.expect('publish');
      await unsubscribe(sub, 'u2');
      sub.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
      const rel = await sub.expect('pubrel');
      assert.equal(rel.packetId, p.packetId);
      if (v === 5) assert.equal(rel.reasonCode, 0x00, 'the flow is known: not 0x92');
      sub.send({ type: 'pubcomp', packetId: p.packetId!, reasonCode: 0 });
      await publish(pub, 'u2', 'after', { qos: 2 });
      await sub.quiet(100);
    });
  }

  test('[MQTT-3.3.4-3] the PUBLISH carries the Subscription Identifier of the matching subscription, and none without one (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'id/+', 1, { subscriptionIdentifier: 300 });
    await subscribe(sub, 'plain/+', 1);
    const pub = await e.client(5);
    await publish(pub, 'id/a', 'x', { qos: 1 });
    await publish(pub, 'plain/a', 'y', { qos: 1 });
    const [a, b] = await receive(sub, 2);
    assert.deepEqual(a!.properties?.subscriptionIdentifiers, [300]);
    assert.equal(b!.properties?.subscriptionIdentifiers, undefined);
  });

  test('[MQTT-3.3.4-4] overlapping subscriptions: one PUBLISH with the highest QoS and every Subscription Identifier (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, 'o/+', 0, { subscriptionIdentifier: 1 });
    await subscribe(sub, 'o/#', 1, { subscriptionIdentifier: 268_435_455 });
    await subscribe(sub, 'o/b', 2); // no identifier: adds none
    const pub = await e.client(5);
    await publish(pub, 'o/b', 'x', { qos: 2 });
    const p = await receiveOne(sub);
    assert.equal(p.qos, 2);
    assert.deepEqual([...(p.properties?.subscriptionIdentifiers ?? [])].sort((x, y) => x - y), [1, 268_435_455]);
    await sub.quiet(150);
  });

  test('[MQTT-3.8.4-3] a replacing subscription replaces its Subscription Identifier and No Local too (MQTT 5)', async (t) => {
    const e = await env(t);
    const c = await e.client(5);
    await subscribe(c, { topicFilter: 's', noLocal: true }, 1, { subscriptionIdentifier: 1 });
    await subscribe(c, { topicFilter: 's', noLocal: false }, 1, { subscriptionIdentifier: 2 });
    sendPublish(c, 's', 'own');
    const p = await c.expect('publish');
    assert.deepEqual(p.properties?.subscriptionIdentifiers, [2]);
    await subscribe(c, 's', 1); // no identifier now
    sendPublish(c, 's', 'own again');
    const q = await c.expect('publish');
    assert.equal(q.properties?.subscriptionIdentifiers, undefined);
  });

  test('[MQTT-3.8.3-3] No Local: the broker does not send a client its own messages; without it, it does (MQTT 5)', async (t) => {
    const e = await env(t);
    const me = await e.client(5, { clientId: 'me' });
    await subscribe(me, { topicFilter: 'chat/#', noLocal: true }, 1);
    await subscribe(me, { topicFilter: 'echo/#', noLocal: false }, 1);
    const other = await e.client(5, { clientId: 'other' });
    sendPublish(me, 'chat/1', 'mine');
    sendPublish(me, 'echo/1', 'mine echoed');
    sendPublish(other, 'chat/1', 'theirs');
    const got = await receive(me, 2);
    assert.deepEqual(got.map((p) => `${p.topic}:${text(p)}`).sort(), ['chat/1:theirs', 'echo/1:mine echoed']);
    await me.quiet(100);
  });

  test('[MQTT-3.3.1-12] Retain As Published 0: a live message is forwarded with RETAIN 0; 1: as published [MQTT-3.3.1-13] (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    await subscribe(sub, { topicFilter: 'rap/0', retainAsPublished: false }, 1);
    await subscribe(sub, { topicFilter: 'rap/1', retainAsPublished: true }, 1);
    const pub = await e.client(5);
    for (const topic of ['rap/0', 'rap/1']) {
      await publish(pub, topic, 'retained', { qos: 1, retain: true });
      await publish(pub, topic, 'plain', { qos: 1, retain: false });
    }
    const got = await receive(sub, 4);
    assert.deepEqual(got.map((p) => [p.topic, text(p), p.retain]), [
      ['rap/0', 'retained', false], ['rap/0', 'plain', false],
      ['rap/1', 'retained', true], ['rap/1', 'plain', false],
    ]);
  });

  test('[MQTT-3.8.4-5] a SUBSCRIBE with several filters works as several SUBSCRIBEs with one SUBACK (MQTT 5)', async (t) => {
    const e = await env(t);
    const sub = await e.client(5);
    const qos: QoS[] = [0, 1, 2];
    assert.deepEqual(await subscribe(sub, qos.map((q) => ({ topicFilter: `m/${q}`, qos: q })), 0, { subscriptionIdentifier: 9 }), [0, 1, 2]);
    const pub = await e.client(5);
    for (const q of qos) await publish(pub, `m/${q}`, 'x', { qos: 2 });
    const got = await receive(sub, 3);
    assert.deepEqual(got.map((p) => [p.topic, p.qos, p.properties?.subscriptionIdentifiers]), qos.map((q) => [`m/${q}`, q, [9]]));
  });
});

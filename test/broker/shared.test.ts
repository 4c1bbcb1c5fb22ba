/**
 * Shared subscriptions over real sockets (spec 4.8.2): `$share/{group}/{filter}` delivers each message to
 * one member of each group, round robin; unacknowledged messages of a member that leaves go to another;
 * no retained messages on a shared subscription; QoS and Subscription Identifiers per member.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PublishPacket } from '../../src/codec/index.js';
import type { RawClient } from './helpers.js';
import {
  VERSIONS, env, publish, receive, receiveOne, subscribe, tag, text, unsubscribe,
} from './conformance-util.js';

/**
 * Reads PUBLISH packets from several clients (acking each) until `total` arrived in all, or 1.5 s
 * passed; returns what each got. Afterwards nobody may get more within 100 ms.
 */
async function collect(clients: RawClient[], total: number): Promise<string[][]> {
  const got: string[][] = clients.map(() => []);
  let count = 0;
  const deadline = Date.now() + 1500;
  await Promise.all(clients.map(async (c, i) => {
    while (count < total && Date.now() < deadline) {
      let p: PublishPacket;
      try {
        p = (await receive(c, 1, true, 50))[0]!;
      } catch (err) {
        if (c.closed) throw err;
        continue; // nothing within 50 ms: look again unless all arrived
      }
      got[i]!.push(text(p));
      count++;
    }
  }));
  await Promise.all(clients.map((c) => c.quiet(100)));
  return got;
}

describe('shared subscriptions', () => {
  for (const v of VERSIONS) {
    test(`[4.8.2] each message goes to exactly one member of the group, round robin ${tag(v)}`, async (t) => {
      const e = await env(t);
      const members = [await e.client(v), await e.client(v), await e.client(v)];
      for (const m of members) assert.deepEqual(await subscribe(m, '$share/g/job/+', 1), [1]);
      const pub = await e.client(v);
      for (let i = 0; i < 9; i++) await publish(pub, `job/${i % 2}`, String(i), { qos: 1 });
      const got = await collect(members, 9);
      assert.deepEqual(got.flat().map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'each exactly once');
      // Round robin: every member gets every third message.
      const sorted = got.map((g) => g.map(Number).sort((a, b) => a - b));
      for (const g of sorted) {
        assert.equal(g.length, 3, `even share: ${JSON.stringify(sorted)}`);
        assert.ok(g.every((n) => n % 3 === g[0]! % 3), `round robin: ${JSON.stringify(sorted)}`);
      }
    });

    test(`[4.8.2] members of different groups each get a copy, and so does a non-shared subscriber ${tag(v)}`, async (t) => {
      const e = await env(t);
      const g1 = [await e.client(v), await e.client(v)];
      const g2 = await e.client(v);
      const plain = await e.client(v);
      for (const m of g1) await subscribe(m, '$share/g1/t', 1);
      await subscribe(g2, '$share/g2/t', 1);
      await subscribe(plain, 't', 1);
      const pub = await e.client(v);
      for (let i = 0; i < 4; i++) await publish(pub, 't', String(i), { qos: 1 });
      assert.deepEqual((await receive(g2, 4)).map(text), ['0', '1', '2', '3']);
      assert.deepEqual((await receive(plain, 4)).map(text), ['0', '1', '2', '3']);
      const got = await collect(g1, 4);
      assert.deepEqual(got.flat().sort(), ['0', '1', '2', '3'], 'group g1 gets each message once');
      assert.deepEqual(got.map((g) => g.length), [2, 2]);
    });

    test(`[4.8.2] a member that leaves with unacknowledged QoS 1 messages: another member gets them ${tag(v)}`, async (t) => {
      const e = await env(t);
      const quitter = await e.client(v); // clean start, session expiry 0: the session ends with the connection
      await subscribe(quitter, '$share/g/work', 1);
      const pub = await e.client(v);
      for (let i = 0; i < 3; i++) await publish(pub, 'work', `w${i}`, { qos: 1 });
      const held = await receive(quitter, 3, false); // never acknowledged
      assert.deepEqual(held.map(text), ['w0', 'w1', 'w2']);
      const stayer = await e.client(v);
      await subscribe(stayer, '$share/g/work', 1);
      await stayer.quiet(100); // nothing yet: the messages are the quitter's while it is connected
      quitter.end();
      const moved = await receive(stayer, 3);
      assert.deepEqual(moved.map(text), ['w0', 'w1', 'w2']);
      assert.ok(moved.every((p) => p.qos === 1));
      await stayer.quiet(100);
    });

    test(`[4.8.2] a shared subscription gets no retained messages; a plain one on the same filter does ${tag(v)}`, async (t) => {
      const e = await env(t);
      const pub = await e.client(v);
      await publish(pub, 'sr/a', 'kept', { qos: 1, retain: true });
      const member = await e.client(v);
      assert.deepEqual(await subscribe(member, '$share/g/sr/#', 1), [1]);
      await member.quiet(150);
      await subscribe(member, 'sr/#', 1);
      const p = await receiveOne(member);
      assert.equal(text(p), 'kept');
      assert.equal(p.retain, true);
    });

    test(`[MQTT-4.8.2-3] each member gets the message at its own granted QoS ${tag(v)}`, async (t) => {
      const e = await env(t);
      const low = await e.client(v);
      const high = await e.client(v);
      await subscribe(low, '$share/g/q', 0);
      await subscribe(high, '$share/g/q', 2);
      const pub = await e.client(v);
      for (let i = 0; i < 4; i++) await publish(pub, 'q', String(i), { qos: 2 });
      const lows = await receive(low, 2);
      const highs = await receive(high, 2);
      assert.deepEqual(lows.map((p) => p.qos), [0, 0]);
      assert.deepEqual(highs.map((p) => p.qos), [2, 2]);
    });

    test(`[MQTT-3.10.4-1] UNSUBSCRIBE from a shared subscription takes the member out of the group ${tag(v)}`, async (t) => {
      const e = await env(t);
      const a = await e.client(v);
      const b = await e.client(v);
      for (const m of [a, b]) await subscribe(m, '$share/g/u', 1);
      const codes = await unsubscribe(a, '$share/g/u');
      if (v === 5) assert.deepEqual(codes, [0x00]);
      const pub = await e.client(v);
      for (let i = 0; i < 4; i++) await publish(pub, 'u', String(i), { qos: 1 });
      assert.deepEqual((await receive(b, 4)).map(text), ['0', '1', '2', '3'], 'the remaining member gets all');
      await a.quiet(100);
    });

    test(`[MQTT-4.4.0-1] a lone member with a kept session that leaves with an unacknowledged QoS 1 message gets it again when it resumes ${tag(v)}`, async (t) => {
      const e = await env(t);
      const fields = v === 5
        ? { clientId: 'lone', clean: false, properties: { sessionExpiryInterval: 60 } }
        : { clientId: 'lone', clean: false };
      const member = await e.client(v, fields);
      await subscribe(member, '$share/g/lone', 1);
      const pub = await e.client(v);
      await publish(pub, 'lone', 'must not be lost', { qos: 1 });
      const first = await receiveOne(member, false);
      member.end(); // no PUBACK; no other member to take it over
      await member.waitClosed();
      await new Promise((r) => setTimeout(r, 50));
      const back = await e.client(v, fields);
      const again = (await receive(back, 1, true, 800))[0]!;
      assert.equal(text(again), 'must not be lost');
      assert.equal(again.packetId, first.packetId, 'resent with its original packet identifier');
      assert.equal(again.dup, true);
    });

    test(`[MQTT-4.8.2-5] a QoS 2 message sent to a member whose session ends before it completes is not sent to another member ${tag(v)}`, async (t) => {
      const e = await env(t);
      const quitter = await e.client(v);
      await subscribe(quitter, '$share/g/q2', 2);
      const pub = await e.client(v);
      await publish(pub, 'q2', 'exactly once', { qos: 2 });
      const p = await receiveOne(quitter, false); // PUBLISH received, no PUBREC
      assert.equal(p.qos, 2);
      const other = await e.client(v);
      await subscribe(other, '$share/g/q2', 2);
      quitter.end(); // session expiry 0: the session ends now
      await other.quiet(300);
    });
  }

  test('[MQTT-4.8.2-4] a QoS 2 message in flight to a member that disconnects is completed with it when it reconnects, not by another member (MQTT 5)', async (t) => {
    const e = await env(t);
    const fields = { clientId: 'm1', clean: true, properties: { sessionExpiryInterval: 60 } };
    const m1 = await e.client(5, fields);
    await subscribe(m1, '$share/g/q2', 2);
    const pub = await e.client(5);
    await publish(pub, 'q2', 'exactly once', { qos: 2 });
    const first = await receiveOne(m1, false);
    const m2 = await e.client(5);
    await subscribe(m2, '$share/g/q2', 2);
    m1.end();
    await m2.quiet(200);
    const back = await e.client(5, { ...fields, clean: false });
    const again = await back.expect('publish');
    assert.equal(again.packetId, first.packetId);
    assert.equal(again.dup, true, '[MQTT-3.3.1-1]');
    assert.equal(text(again), 'exactly once');
  });

  test('[MQTT-4.8.2-6] a message a member refuses with PUBACK 0x80 is discarded, not sent to another member (MQTT 5)', async (t) => {
    const e = await env(t);
    const refuser = await e.client(5);
    await subscribe(refuser, '$share/g/r', 1);
    const pub = await e.client(5);
    await publish(pub, 'r', 'refused', { qos: 1 });
    const p = await receiveOne(refuser, false);
    const other = await e.client(5);
    await subscribe(other, '$share/g/r', 1);
    refuser.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0x80 });
    await publish(pub, 'r', 'next', { qos: 1 }); // ordering barrier: the PUBACK was handled before this
    refuser.end();
    const got = await collect([other], 1); // 'next' (directly or moved from the refuser), then nothing more
    assert.deepEqual(got, [['next']], 'the refused message is not sent to another member');
  });

  test('[3.3.4] a member gets only the Subscription Identifier of its own shared subscription (MQTT 5)', async (t) => {
    const e = await env(t);
    const a = await e.client(5);
    const b = await e.client(5);
    await subscribe(a, '$share/g/id', 1, { subscriptionIdentifier: 11 });
    await subscribe(b, '$share/g/id', 1, { subscriptionIdentifier: 22 });
    const pub = await e.client(5);
    await publish(pub, 'id', '0', { qos: 1 });
    await publish(pub, 'id', '1', { qos: 1 });
    assert.deepEqual((await receiveOne(a)).properties?.subscriptionIdentifiers, [11]);
    assert.deepEqual((await receiveOne(b)).properties?.subscriptionIdentifiers, [22]);
  });
});

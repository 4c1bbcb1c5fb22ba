/** Hooks add up, deny wins, invariants stay outside them, and a hook's signal fires when its client leaves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startBroker, sleep } from './helpers.js';
import type { AuthorizePublishHook } from '../../src/broker/hooks.js';

const will = { topic: 'wills/x', payload: Buffer.from('bye'), qos: 1 as const, retain: false };

test('a will refused by an authorizePublish hook refuses the CONNECT (v5 0x87, 3.1.1 return code 5)', async () => {
  const deny: AuthorizePublishHook = (_c, m) => !m.topic.startsWith('wills/');
  const b = await startBroker({}, { hooks: { authorizePublish: [deny] } });
  try {
    for (const [version, code] of [[5, 0x87], [4, 5]] as const) {
      const c = await RawClient.open(b.port, version);
      c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: version, clean: true, keepAlive: 0, clientId: `w${version}`, will });
      assert.equal((await c.expect('connack')).reasonCode, code);
      await c.waitClosed();
    }
  } finally {
    await b.close();
  }
});

test('a will on a $SYS topic is refused even with no hooks installed (invariant outside the hooks)', async () => {
  const b = await startBroker();
  try {
    const c = await RawClient.open(b.port, 5);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 's', will: { ...will, topic: '$SYS/broker/uptime' } });
    assert.equal((await c.expect('connack')).reasonCode, 0x87);
  } finally {
    await b.close();
  }
});

test('hooks add up: one false among several refuses the publish (PUBACK 0x87), all true allows it', async () => {
  const calls: string[] = [];
  const allow: AuthorizePublishHook = (_c, m) => { calls.push(`allow:${m.topic}`); return true; };
  const denyB: AuthorizePublishHook = (_c, m) => { calls.push(`deny:${m.topic}`); return m.topic !== 'b'; };
  const b = await startBroker({}, { hooks: { authorizePublish: [allow, denyB] } });
  try {
    const c = await RawClient.connected(b.port, { clientId: 'h' });
    c.send({ type: 'publish', topic: 'a', payload: Buffer.from('1'), qos: 1, packetId: 1, retain: false, dup: false });
    assert.equal((await c.expect('puback')).reasonCode, 0x10); // allowed; nobody subscribed
    c.send({ type: 'publish', topic: 'b', payload: Buffer.from('1'), qos: 1, packetId: 2, retain: false, dup: false });
    assert.equal((await c.expect('puback')).reasonCode, 0x87);
    assert.deepEqual(calls, ['allow:a', 'deny:a', 'allow:b', 'deny:b']);
  } finally {
    await b.close();
  }
});

test('an async hook holds later packets in order, and its AbortSignal fires when the client leaves', async () => {
  let signal: AbortSignal | undefined;
  const slow: AuthorizePublishHook = async (_c, m, s) => {
    signal = s;
    await sleep(m.topic === 'slow' ? 150 : 0);
    return true;
  };
  const b = await startBroker({}, { hooks: { authorizePublish: [slow] } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'sub' });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '+', qos: 0 }] });
    await sub.expect('suback');
    const c = await RawClient.connected(b.port, { clientId: 'async' });
    c.send({ type: 'publish', topic: 'slow', payload: Buffer.from('1'), qos: 0, retain: false, dup: false });
    c.send({ type: 'publish', topic: 'fast', payload: Buffer.from('2'), qos: 0, retain: false, dup: false });
    assert.equal((await sub.expect('publish')).topic, 'slow');
    assert.equal((await sub.expect('publish')).topic, 'fast');
    assert.equal(signal?.aborted, false);
    c.end();
    await sleep(100);
    assert.equal(signal?.aborted, true);
  } finally {
    await b.close();
  }
});

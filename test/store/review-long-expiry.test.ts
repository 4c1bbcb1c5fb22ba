/**
 * Review (h-review): a Session Expiry Interval longer than Node's timer range (2^31-1 ms, about 24.8 days)
 * must not end the session at once. Node clamps such a setTimeout delay to 1 ms (TimeoutOverflowWarning),
 * so without splitting the wait a 30-day session, its subscriptions and its stored queue go the moment its
 * client disconnects, on a live broker and again on every restart (restore re-arms the same timer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from '../../src/codec/index.js';
import { RawClient, sleep, startBroker } from '../broker/helpers.js';

const THIRTY_DAYS = 30 * 24 * 3600;

test('[MQTT-3.1.2-23] a 30-day session survives its client disconnecting', async () => {
  const b = await startBroker({ limits: { maxSessionExpiry: THIRTY_DAYS } });
  try {
    const connect = { clientId: 'long', clean: false, properties: { sessionExpiryInterval: THIRTY_DAYS } };
    const c = await RawClient.connected(b.port, connect);
    c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'long/#', qos: 1 }] });
    await c.expect('suback');
    c.send({ type: 'disconnect', reasonCode: 0 });
    await c.waitClosed();
    await sleep(100);
    const back = await RawClient.open(b.port);
    back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, ...connect } as Packet);
    const ack = await back.expect('connack');
    assert.equal(ack.sessionPresent, true, 'the 30-day session ended within 100 ms');
    back.end();
  } finally {
    await b.close();
  }
});

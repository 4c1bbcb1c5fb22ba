/**
 * What is easy to get silently wrong: outgoing topic aliases as bytes on the wire, a subscription the
 * broker refuses when it is made again after a reconnect, and a request() still waiting at end().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { PacketDecoder, encodePacket, isMoatError, type MoatError, type Packet, type PublishPacket } from '../../src/codec/index.js';
import { connect, type Message } from '../../src/client/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import { startBroker } from '../broker/helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('v5 outgoing topic alias on the wire: the first PUBLISH carries topic + alias, the next ones alias only (topic bytes omitted)', async () => {
  const received: Array<{ packet: Packet; bytes: Buffer }> = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      decoder.write(chunk, (p) => {
        // Slice this packet's own bytes off the front: its length is what encoding it again gives.
        const n = encodePacket(p, 5).length;
        received.push({ packet: p, bytes: pending.subarray(0, n) });
        pending = pending.subarray(n);
        if (p.type === 'connect') socket.write(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 4 } }, 5));
        if (p.type === 'publish' && p.qos === 1) socket.write(encodePacket({ type: 'puback', packetId: p.packetId!, reasonCode: 0 }, 5));
        if (p.type === 'disconnect') socket.end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false });
  for (const m of ['one', 'two', 'three']) await c.publish('sensors/alias/topic', m, { qos: 1 });
  await c.publish('other/topic', 'x', { qos: 1 });
  await c.end();
  const pubs = received.filter((r) => r.packet.type === 'publish') as Array<{ packet: PublishPacket; bytes: Buffer }>;
  assert.deepEqual(pubs.map((p) => [p.packet.topic, p.packet.properties?.topicAlias, p.packet.payload.toString()]),
    [['sensors/alias/topic', 1, 'one'], ['', 1, 'two'], ['', 1, 'three'], ['other/topic', 2, 'x']]);
  const topicBytes = Buffer.from('sensors/alias/topic');
  assert.ok(pubs[0]!.bytes.includes(topicBytes), 'the first packet names the topic');
  for (const p of pubs.slice(1, 3)) {
    assert.equal(p.bytes.includes(topicBytes), false, 'later packets do not carry the topic');
    assert.ok(p.bytes.length < pubs[0]!.bytes.length - topicBytes.length + 3, 'and are shorter by the topic');
  }
  await new Promise((r) => server.close(r));
});

test('a subscription the broker refuses when it is made again after a reconnect (session lost) is reported: resubscribe-failed event, its iterator ends', { timeout: 20_000 }, async () => {
  let deny = false;
  const hooks = { authorizeSubscribe: [(_c: unknown, f: { topicFilter: string }) => !(deny && f.topicFilter.startsWith('deny/'))] };
  let broker = new Broker({ sysInterval: 0 }, { hooks });
  let listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  const url = `mqtt://127.0.0.1:${listener.address.port}`;
  const c = await connect(url, { reconnect: { initialDelay: 20, maxDelay: 50 } });
  const refused = await c.subscribe('deny/#', { qos: 1 });
  const kept = await c.subscribe('ok/#', { qos: 1 });
  const failures: Array<[string, MoatError]> = [];
  c.on('resubscribe-failed', (filter, err) => failures.push([filter, err]));
  const ended = (async () => {
    for await (const _m of refused) { /* nothing arrives */ }
    return 'ended';
  })();
  broker.shutdown();
  await listener.close();
  deny = true;
  broker = new Broker({ sysInterval: 0 }, { hooks });
  listener = await startListener(broker, { url });
  await new Promise((r) => c.once('connect', r));
  for (let i = 0; i < 100 && failures.length === 0; i++) await sleep(10);
  assert.equal(failures.length, 1);
  assert.equal(failures[0]![0], 'deny/#');
  assert.ok(isMoatError(failures[0]![1], 'MOAT_ERR_SUBSCRIBE_REFUSED'));
  assert.equal(failures[0]![1].reasonCode, 0x87);
  assert.equal(await ended, 'ended', 'the refused subscription\'s iterator ended');
  // The other one was made again and works.
  const next = kept[Symbol.asyncIterator]().next();
  await c.publish('ok/x', 'still here', { qos: 1 });
  assert.equal(((await next).value as Message).payload.toString(), 'still here');
  await c.end();
  broker.shutdown();
  await listener.close();
});

test('request() still waiting for its response when end() is called rejects with MOAT_ERR_CLIENT_CLOSED (not at its timeout, not never)', { timeout: 10_000 }, async () => {
  const b = await startBroker();
  const c = await connect(b.url, { reconnect: false });
  const pending = c.request('svc/nobody', 'ping', { timeout: 60_000 });
  const outcome = pending.then(() => 'resolved', (e: unknown) => e);
  await sleep(50); // the request is published and acknowledged; only the response is missing
  await c.end();
  const e = await outcome;
  assert.ok(isMoatError(e, 'MOAT_ERR_CLIENT_CLOSED'), String(e));
  await b.close();
});

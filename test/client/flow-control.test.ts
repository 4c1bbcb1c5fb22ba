/**
 * What bounds the client's memory on the send path: the socket's high-water mark (a broker that stops
 * reading), `maxInflightBytes`, and the Receive Maximum of a new CONNACK when a session is resumed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketDecoder, encodePacket, isMoatError, type PublishPacket } from '../../src/codec/index.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { startBroker } from '../broker/helpers.js';
import { connectEngine, engineWith } from './fake.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A broker that answers CONNACK, then stops reading its socket until `resume()`; it counts PUBLISH packets. */
async function stallingBroker(): Promise<{ url: string; published(): number; resume(): void; close(): Promise<void> }> {
  let published = 0;
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk, (p) => {
      if (p.type === 'connect') {
        socket.write(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 5));
        socket.pause(); // the kernel buffers fill up, then the client's socket does
      } else if (p.type === 'publish') published++;
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    published: () => published,
    resume: () => { for (const s of sockets) s.resume(); },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Polls until `value()` stops changing for a few rounds (the publisher is stalled). */
async function settled(value: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  while (same < 5) {
    await sleep(30);
    const v = value();
    same = v === last ? same + 1 : 0;
    last = v;
  }
  return last;
}

const N = 100_000;
const PAYLOAD = Buffer.alloc(1000, 7); // 100 MB in all: far beyond what the kernel's socket buffers take
const MARK = 64 * 1024;
const PACKET = 1100; // one PUBLISH of PAYLOAD, with room to spare

test(`back-pressure: ${N} awaited QoS 0 publishes to a broker that stops reading stall with a bounded socket buffer, then all arrive`, { timeout: 120_000 }, async () => {
  const b = await stallingBroker();
  const c = await connect(b.url, { reconnect: false, keepAlive: 0 });
  let resolved = 0;
  let maxBuffered = 0;
  const loop = (async () => {
    for (let i = 0; i < N; i++) {
      await c.publish('bp/t', PAYLOAD, { qos: 0 });
      resolved++;
      maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
    }
  })();
  const stalledAt = await settled(() => resolved);
  assert.ok(stalledAt < N, `publishing stalled (${stalledAt} resolved) instead of buffering all ${N}`);
  assert.ok(c.bufferedAmount > 0, 'the socket holds unflushed bytes: the broker is not reading');
  assert.ok(maxBuffered <= MARK + PACKET, `socket buffer stayed bounded (max ${maxBuffered} bytes)`);
  assert.ok(c.queued <= 1, 'the one waiting publish is queued, nothing else');
  b.resume();
  await loop;
  assert.ok(maxBuffered <= MARK + PACKET, `socket buffer stayed bounded (max ${maxBuffered} bytes)`);
  for (let i = 0; i < 500 && b.published() < N; i++) await sleep(20);
  assert.equal(b.published(), N, 'every resolved QoS 0 publish reached the broker');
  await c.end();
  await b.close();
});

test(`back-pressure: ${N} QoS 0 publishes fired without awaiting are held by the bounded queue (the rest MOAT_ERR_QUEUE_FULL), never by an unbounded socket buffer`, { timeout: 120_000 }, async () => {
  const b = await stallingBroker();
  const c = await connect(b.url, { reconnect: false, keepAlive: 0, highWaterMark: 16 * 1024 });
  await settled(() => b.published()); // the broker has stopped reading
  const outcomes = { ok: 0, full: 0, other: 0 };
  const all: Array<Promise<void>> = [];
  let maxBuffered = 0;
  for (let i = 0; i < N; i++) {
    all.push(c.publish('bp/f', PAYLOAD, { qos: 0 }).then(() => { outcomes.ok++; },
      (e: unknown) => { if (isMoatError(e, 'MOAT_ERR_QUEUE_FULL')) outcomes.full++; else outcomes.other++; }));
    if (i % 1000 === 999) {
      await sleep(1);
      maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
    }
  }
  await settled(() => outcomes.ok);
  maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
  assert.ok(maxBuffered <= 16 * 1024 + PACKET, `socket buffer stayed bounded (max ${maxBuffered} bytes)`);
  assert.ok(c.queued <= 1000, `queue bounded by its default maxMessages (${c.queued})`);
  assert.equal(outcomes.other, 0);
  assert.ok(outcomes.full >= N - 1000 - outcomes.ok, 'what did not fit was refused loudly');
  b.resume();
  await Promise.all(all);
  assert.equal(outcomes.ok + outcomes.full, N);
  for (let i = 0; i < 500 && b.published() < outcomes.ok; i++) await sleep(20);
  assert.equal(b.published(), outcomes.ok, 'every publish that resolved reached the broker');
  await c.end();
  await b.close();
});

test('engine: a link over its high-water mark holds publishes (QoS 0 unresolved) until drained()', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  let full = false;
  const write = port.write.bind(port);
  port.write = (bytes: Buffer): boolean => {
    write(bytes);
    return !full;
  };
  const done: number[] = [];
  full = true;
  for (let i = 0; i < 3; i++) engine.outbound.publish({ topic: 't', payload: Buffer.from([i]), qos: 0, retain: false, resolve: () => done.push(i), reject: () => {} });
  assert.equal(port.take().length, 1, 'the write that reached the mark went; the rest wait');
  assert.deepEqual(done, [0]);
  assert.equal(engine.outbound.queue.length, 2);
  full = false;
  engine.drained();
  assert.equal(port.take().length, 2);
  assert.deepEqual(done, [0, 1, 2]);
});

test('maxInflightBytes (engine): QoS 1 publishes beyond the byte bound wait for acknowledgements; one larger message goes alone', () => {
  const { engine, port } = engineWith({ maxInflightBytes: 2500 });
  connectEngine(engine, port);
  const ok: number[] = [];
  const pub = (n: number, size = 999): void => engine.outbound.publish({ topic: 't', payload: Buffer.alloc(size, n), qos: 1, retain: false, resolve: () => ok.push(n), reject: () => {} });
  for (let i = 0; i < 4; i++) pub(i);
  let sent = port.take() as PublishPacket[];
  assert.equal(sent.length, 2, '2 × 1000 bytes fit in 2500, a third does not');
  assert.equal(engine.outbound.inflightBytes, 2000);
  engine.receive({ type: 'puback', packetId: sent[0]!.packetId!, reasonCode: 0 });
  sent = [sent[1]!, ...(port.take() as PublishPacket[])];
  assert.equal(sent.length, 2);
  pub(9, 5000);
  for (const p of sent) engine.receive({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
  sent = port.take() as PublishPacket[];
  assert.equal(sent.length, 1, 'the fourth 1000-byte one');
  engine.receive({ type: 'puback', packetId: sent[0]!.packetId!, reasonCode: 0 });
  sent = port.take() as PublishPacket[];
  assert.equal(sent[0]?.payload.length, 5000, 'larger than the bound: sent once nothing else is in flight');
  engine.receive({ type: 'puback', packetId: sent[0]!.packetId!, reasonCode: 0 });
  assert.deepEqual(ok, [0, 1, 2, 3, 9]);
  assert.equal(engine.outbound.inflightBytes, 0);
});

test('maxInflightBytes (Moat broker): 20 concurrent 1000-byte QoS 1/2 publishes, never more than 3000 bytes unacknowledged', async () => {
  const b = await startBroker();
  await assert.rejects(connect(b.url, { reconnect: false, maxInflightBytes: 0 }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  const c = await connect(b.url, { reconnect: false, maxInflightBytes: 3000 });
  let maxBytes = 0;
  let maxCount = 0;
  const watch = (): void => {
    maxBytes = Math.max(maxBytes, c.inflightBytes);
    maxCount = Math.max(maxCount, c.inflight);
  };
  const all = Array.from({ length: 20 }, (_, i) => {
    const p = c.publish('ib/t', Buffer.alloc(1000, i), { qos: i % 2 ? 2 : 1 }).then(watch);
    watch();
    return p;
  });
  await Promise.all(all);
  assert.ok(maxBytes <= 3000, `at most 3000 bytes in flight (${maxBytes})`);
  assert.equal(maxCount, 2, '1004 bytes each: two fit, a third would not');
  assert.equal(c.inflightBytes, 0);
  await c.end();
  await b.close();
});

test('[MQTT-4.9.0-2] a resumed session resends at most the new CONNACK\'s smaller Receive Maximum; the rest follow as acks arrive', { timeout: 30_000 }, async () => {
  // The client's own timers are unref'd (a process may exit while it waits to reconnect): hold the loop.
  const hold = setInterval(() => {}, 1000);
  const dir = mkdtempSync(join(tmpdir(), 'moat-client-rm-'));
  const path = join(dir, 'broker.db');
  // First broker: Receive Maximum 1024, takes the publishes but never answers them (authorization pending).
  const b1 = new Broker({ sysInterval: 0 }, { store: await SqliteStore.open({ path }), hooks: { authorizePublish: [() => new Promise<boolean>(() => {})] } });
  const l1 = await startListener(b1, { url: 'mqtt://127.0.0.1:0' });
  const url = `mqtt://127.0.0.1:${l1.address.port}`;
  const c: MqttClient = await connect(url, { clientId: 'rm-resume', sessionExpiry: 300, reconnect: { initialDelay: 20, maxDelay: 100 } });
  const all = Array.from({ length: 10 }, (_, i) => c.publish('rm/t', `m${i}`, { qos: i % 2 ? 2 : 1 }));
  for (let i = 0; i < 100 && c.inflight < 10; i++) await sleep(10);
  assert.equal(c.inflight, 10);
  await sleep(100); // the session is committed to the store
  const offline = new Promise((r) => c.once('offline', r));
  await b1.close();
  await l1.close();
  await offline;
  // Second broker on the same port and store: the session is back, Receive Maximum now 2 (a third
  // unacknowledged PUBLISH would be DISCONNECT 0x93).
  const b2 = new Broker({ sysInterval: 0, limits: { receiveMaximum: 2 } }, { store: await SqliteStore.open({ path }) });
  await b2.restore();
  const l2 = await startListener(b2, { url });
  const info = await new Promise<{ sessionPresent: boolean; properties?: { receiveMaximum?: number } }>((r) => c.once('connect', r));
  assert.equal(info.sessionPresent, true);
  assert.equal(info.properties?.receiveMaximum, 2);
  const drops: unknown[] = [];
  c.on('offline', (e) => drops.push(e));
  const results = await Promise.all(all);
  assert.equal(results.length, 10);
  assert.deepEqual(drops, [], 'the broker never disconnected us for exceeding its Receive Maximum');
  assert.equal(c.inflight, 0);
  await c.end();
  await b2.close();
  await l2.close();
  clearInterval(hold);
});

test('back-pressure over ws: with a 4 KiB high-water mark, 2000 awaited 1 kB publishes wait for the frames to flush (send callbacks) and all arrive', { timeout: 60_000 }, async () => {
  const b = await startBroker({}, {}, { url: 'ws://127.0.0.1:0/mqtt' });
  const url = `ws://127.0.0.1:${b.port}/mqtt`;
  const sub = await connect(url, { reconnect: false });
  await sub.subscribe('wsbp/t', { qos: 0 });
  let got = 0;
  sub.on('message', () => { got++; });
  const c = await connect(url, { reconnect: false, highWaterMark: 4096 });
  let maxBuffered = 0;
  for (let i = 0; i < 2000; i++) {
    await c.publish('wsbp/t', PAYLOAD, { qos: 0 });
    maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
  }
  assert.ok(maxBuffered <= 4096 + PACKET, `bounded by the mark (${maxBuffered})`);
  for (let i = 0; i < 500 && got < 2000; i++) await sleep(10);
  assert.equal(got, 2000);
  await Promise.all([c.end(), sub.end()]);
  await b.close();
});

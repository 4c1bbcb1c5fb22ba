/** The client against Moat's broker in-process on port 0: every QoS both ways, limits, refusals, restarts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMoatError } from '../../src/codec/index.js';
import { connect, type MqttClient, type Message } from '../../src/client/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import { startBroker } from '../broker/helpers.js';

const next = (c: MqttClient): Promise<Message> => new Promise((r) => c.once('message', r));
const opts = { reconnect: false as const };

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5.0' : '3.1.1'}: publish and subscribe at QoS 0, 1 and 2 (Moat broker)`, async () => {
    const b = await startBroker();
    const sub = await connect(b.url, { ...opts, protocolVersion: version });
    const pub = await connect(b.url, { ...opts, protocolVersion: version });
    const s = await sub.subscribe('q/#', { qos: 2 });
    assert.deepEqual(s.reasonCodes, [2]);
    const it = s[Symbol.asyncIterator]();
    for (const qos of [0, 1, 2] as const) {
      const r = await pub.publish(`q/${qos}`, `m${qos}`, { qos });
      assert.equal(r.reasonCode, 0);
      const m = (await it.next()).value as Message;
      assert.deepEqual([m.topic, m.payload.toString(), m.qos], [`q/${qos}`, `m${qos}`, qos]);
    }
    await Promise.all([sub.end(), pub.end()]);
    await b.close();
  });
}

test('[MQTT-4.4.0-2] a negative PUBACK/PUBREC rejects with MOAT_ERR_PUBLISH_REFUSED carrying 0x87; a refused SUBSCRIBE rejects', async () => {
  const b = await startBroker({}, { hooks: {
    authorizePublish: [(_c, m) => !m.topic.startsWith('secret/')],
    authorizeSubscribe: [(_c, f) => !f.topicFilter.startsWith('secret/')],
  } });
  const c = await connect(b.url, opts);
  for (const qos of [1, 2] as const) {
    await assert.rejects(c.publish('secret/x', 'no', { qos }), (e: unknown) => isMoatError(e, 'MOAT_ERR_PUBLISH_REFUSED') && e.reasonCode === 0x87);
  }
  await assert.rejects(c.subscribe('secret/#'), (e: unknown) => isMoatError(e, 'MOAT_ERR_SUBSCRIBE_REFUSED') && e.reasonCode === 0x87);
  const mixed = await c.subscribe(['secret/a', 'open/a'], { qos: 1 });
  assert.deepEqual(mixed.reasonCodes, [0x87, 1]);
  await c.end();
  await b.close();
});

test('[MQTT-3.3.4-7] the broker\'s Receive Maximum (2) is respected: 50 concurrent QoS 1 and 2 publishes all succeed', async () => {
  const b = await startBroker({ limits: { receiveMaximum: 2 } });
  const c = await connect(b.url, opts);
  assert.equal(c.info?.properties?.receiveMaximum, 2);
  let maxInflight = 0;
  const all = Array.from({ length: 50 }, (_, i) => {
    const p = c.publish('rm/t', String(i), { qos: i % 2 === 0 ? 1 : 2 });
    maxInflight = Math.max(maxInflight, c.inflight);
    return p;
  });
  await Promise.all(all); // the broker would DISCONNECT 0x93 on a third one in flight
  assert.equal(maxInflight, 2);
  assert.equal(c.connected, true);
  await c.end();
  await b.close();
});

test('[MQTT-3.2.2-15] a PUBLISH over the broker\'s Maximum Packet Size is refused locally with MOAT_ERR_PACKET_TOO_LARGE', async () => {
  const b = await startBroker({ limits: { maxPacketSize: 1024 } });
  const c = await connect(b.url, opts);
  await assert.rejects(c.publish('big', Buffer.alloc(2000), { qos: 1 }), (e: unknown) => isMoatError(e, 'MOAT_ERR_PACKET_TOO_LARGE'));
  assert.ok((await c.publish('small', 'ok', { qos: 1 })).reasonCode < 0x80); // 0x10: no subscribers
  await c.end();
  await b.close();
});

test('v5: topic aliases towards the broker, user properties and request/response', async () => {
  const b = await startBroker();
  const responder = await connect(b.url, opts);
  const requester = await connect(b.url, opts);
  const svc = await responder.subscribe('svc/echo', { qos: 1 });
  void (async () => {
    for await (const m of svc) {
      await responder.publish(m.properties!.responseTopic!, `echo:${m.payload.toString()}`,
        { qos: 1, properties: { correlationData: m.properties!.correlationData!, userProperties: [['via', 'responder']] } });
    }
  })();
  const [r1, r2] = await Promise.all([requester.request('svc/echo', 'one'), requester.request('svc/echo', 'two')]);
  assert.equal(r1.payload.toString(), 'echo:one');
  assert.equal(r2.payload.toString(), 'echo:two');
  assert.deepEqual(r1.properties?.userProperties, [['via', 'responder']]);
  await assert.rejects(requester.request('svc/nobody', 'x', { timeout: 100 }), (e: unknown) => isMoatError(e, 'MOAT_ERR_REQUEST_TIMEOUT'));
  // Topic aliases: the broker offers 64; the same topic three times travels as alias after the first.
  const s = await responder.subscribe('alias/t');
  const got: string[] = [];
  responder.on('message', (m) => { if (m.topic === 'alias/t') got.push(m.payload.toString()); });
  for (const x of ['1', '2', '3']) await requester.publish('alias/t', x, { qos: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(got, ['1', '2', '3']);
  await s.unsubscribe();
  await Promise.all([responder.end(), requester.end()]);
  await b.close();
});

test('v5 will with delay: published after the delay when the client vanishes, not on a normal end()', async () => {
  const b = await startBroker();
  const watcher = await connect(b.url, opts);
  await watcher.subscribe('will/#', { qos: 1 });
  const got: string[] = [];
  watcher.on('message', (m) => got.push(m.topic));
  const polite = await connect(b.url, { ...opts, will: { topic: 'will/polite', payload: 'x', qos: 1, delay: 0 } });
  await polite.end();
  const doomed = await connect(b.url, { ...opts, sessionExpiry: 10, will: { topic: 'will/doomed', payload: 'gone', qos: 1, delay: 1 } });
  const t0 = Date.now();
  const arrived = next(watcher);
  (doomed as unknown as { link: { destroy(): void } }).link.destroy();
  const m = await arrived;
  assert.equal(m.topic, 'will/doomed');
  assert.ok(Date.now() - t0 >= 900, 'after the Will Delay Interval');
  assert.deepEqual(got, ['will/doomed']);
  await doomed.end();
  await watcher.end();
  await b.close();
});

test('reconnect after the broker is closed and restarted on the same port: no QoS 1 loss, no QoS 2 duplicate, subscriptions restored', async () => {
  let broker = new Broker({ sysInterval: 0 });
  let listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  const port = listener.address.port;
  const url = `mqtt://127.0.0.1:${port}`;
  const sub = await connect(url, { reconnect: { initialDelay: 20, maxDelay: 50 } });
  const pub = await connect(url, { reconnect: { initialDelay: 300, maxDelay: 300 } });
  const s = await sub.subscribe('rc/#', { qos: 2 });
  const received = new Set<string>();
  const counts = new Map<string, number>();
  void (async () => {
    for await (const m of s) {
      received.add(m.payload.toString());
      counts.set(m.payload.toString(), (counts.get(m.payload.toString()) ?? 0) + 1);
    }
  })();
  const sent: Array<Promise<unknown>> = [];
  for (let i = 0; i < 20; i++) sent.push(pub.publish('rc/t', `a${i}`, { qos: 1 }));
  await Promise.all(sent);
  const offline = new Promise((r) => pub.once('offline', r));
  broker.shutdown();
  await listener.close();
  await offline;
  assert.equal(pub.connected, false);
  // Published while the broker is down: held in the offline queue.
  for (let i = 0; i < 20; i++) sent.push(pub.publish('rc/t', `b${i}`, { qos: 1 }));
  for (let i = 0; i < 10; i++) sent.push(pub.publish('rc/t', `c${i}`, { qos: 2 }));
  assert.equal(pub.queued, 30);
  broker = new Broker({ sysInterval: 0 });
  listener = await startListener(broker, { url });
  const resubscribed = new Promise((r) => sub.once('connect', r));
  await resubscribed;
  await Promise.all(sent);
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 20; i++) {
    assert.ok(received.has(`a${i}`), `a${i}`);
    assert.ok(received.has(`b${i}`), `b${i} lost`);
  }
  for (let i = 0; i < 10; i++) assert.equal(counts.get(`c${i}`), 1, `QoS 2 c${i} exactly once`);
  await Promise.all([sub.end(), pub.end()]);
  broker.shutdown();
  await listener.close();
});

test('the first connection failing rejects connect() with MOAT_ERR_CONNECT_FAILED; a refused CONNACK with MOAT_ERR_CONNECT_REFUSED', async () => {
  const b = await startBroker({}, { hooks: { authenticate: [(req) => (req.username === 'bad' ? { verdict: 'deny' } : undefined)] } });
  await assert.rejects(connect(b.url, { username: 'bad', password: 'x' }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONNECT_REFUSED') && e.reasonCode === 0x86);
  await assert.rejects(connect(b.url, { username: 'bad', password: 'x', protocolVersion: 4 }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONNECT_REFUSED') && e.reasonCode === 0x86);
  await b.close();
  await assert.rejects(connect(b.url), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONNECT_FAILED') && /connection refused/.test(e.message));
});

test('offline queue limit: publishes beyond maxMessages are refused with MOAT_ERR_QUEUE_FULL while the broker is away', async () => {
  let broker = new Broker({ sysInterval: 0 });
  let listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  const url = `mqtt://127.0.0.1:${listener.address.port}`;
  const c = await connect(url, { reconnect: { initialDelay: 20, maxDelay: 50 }, queue: { maxMessages: 5 } });
  const offline = new Promise((r) => c.once('offline', r));
  broker.shutdown();
  await listener.close();
  await offline;
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => c.publish('oq', String(i), { qos: 1 })).slice(5));
  assert.ok(results.every((r) => r.status === 'rejected' && isMoatError(r.reason, 'MOAT_ERR_QUEUE_FULL')));
  assert.equal(c.queued, 5);
  broker = new Broker({ sysInterval: 0 });
  listener = await startListener(broker, { url });
  await new Promise((r) => c.once('connect', r));
  await c.end();
  assert.equal(c.queued, 0, 'the queued five went out before end() resolved');
  broker.shutdown();
  await listener.close();
});

test('ws: the client over MQTT-over-WebSocket', async () => {
  const b = await startBroker({}, {}, { url: 'ws://127.0.0.1:0/mqtt' });
  const c = await connect(`ws://127.0.0.1:${b.port}/mqtt`, opts);
  const s = await c.subscribe('ws/t', { qos: 1 });
  await c.publish('ws/t', 'over ws', { qos: 1 });
  const it = await s[Symbol.asyncIterator]().next();
  assert.equal((it.value as Message).payload.toString(), 'over ws');
  await c.end();
  await b.close();
});

test('Moat broker: a persistent session (v5 session expiry) keeps QoS 1 and 2 messages while away; unsubscribe stops delivery', async () => {
  const b = await startBroker();
  const first = await connect(b.url, { ...opts, clientId: 'persist-1', sessionExpiry: 60 });
  await first.subscribe('ps/#', { qos: 2 });
  await first.end();
  const pub = await connect(b.url, opts);
  await pub.publish('ps/a', 'one', { qos: 1 });
  await pub.publish('ps/b', 'two', { qos: 2 });
  const { MqttClient } = await import('../../src/client/index.js');
  const again = new MqttClient(b.url, { ...opts, clientId: 'persist-1', clean: false, sessionExpiry: 60 });
  const got: string[] = [];
  again.on('message', (m) => got.push(`${m.payload.toString()}@${m.qos}`));
  await again.start();
  assert.equal(again.info?.sessionPresent, true);
  for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ['one@1', 'two@2']);
  await again.unsubscribe('ps/#');
  await pub.publish('ps/c', 'three', { qos: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(got, ['one@1', 'two@2']);
  await Promise.all([again.end(), pub.end()]);
  await b.close();
});

test('v5 enhanced authentication: a challenge/response AUTH exchange at CONNECT and re-authentication; a refused one disconnects', async () => {
  let allowReauth = true;
  const b = await startBroker({}, {}, undefined);
  b.broker.hooks.enhancedAuth.set('demo', {
    method: 'demo',
    step: ({ data, state, reauthenticate }) => {
      if (state['challenged'] === undefined) {
        state['challenged'] = true;
        return data?.toString() === 'hello' ? { result: 'continue', data: Buffer.from('nonce-1') } : { result: 'fail' };
      }
      if (reauthenticate && !allowReauth) return { result: 'fail', reasonCode: 0x87 };
      return data?.toString() === 'answer:nonce-1' ? { result: 'success' } : { result: 'fail' };
    },
  });
  const seen: string[] = [];
  const auth = {
    method: 'demo',
    initialData: () => Buffer.from('hello'),
    step: async (challenge: Buffer | undefined, re: boolean) => {
      seen.push(`${re ? 're:' : ''}${challenge?.toString()}`);
      return Buffer.from(`answer:${challenge?.toString()}`);
    },
  };
  const c = await connect(b.url, { ...opts, auth });
  assert.equal(c.connected, true);
  await c.reauthenticate();
  assert.deepEqual(seen, ['nonce-1', 're:nonce-1']);
  allowReauth = false;
  await assert.rejects(c.reauthenticate(), (e: unknown) => isMoatError(e, 'MOAT_ERR_SERVER_DISCONNECT') && e.reasonCode === 0x87);
  await assert.rejects(connect(b.url, { ...opts, auth: { ...auth, initialData: () => Buffer.from('nope') } }),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_CONNECT_REFUSED') && e.reasonCode === 0x87);
  await c.end();
  await b.close();
});

test('API refusals: invalid topic and filter, bad URL, request() on 3.1.1, anything after end()', async () => {
  await assert.rejects(connect('http://127.0.0.1:1'), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  await assert.rejects(connect('not a url'), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  const b = await startBroker();
  const c = await connect(b.url, opts);
  await assert.rejects(c.publish('a/+', 'x'), (e: unknown) => isMoatError(e, 'MOAT_ERR_INVALID_TOPIC'));
  await assert.rejects(c.publish('', 'x'), (e: unknown) => isMoatError(e, 'MOAT_ERR_INVALID_TOPIC'));
  await assert.rejects(c.subscribe('a/#/b'), (e: unknown) => isMoatError(e, 'MOAT_ERR_INVALID_TOPIC'));
  const v4 = await connect(b.url, { ...opts, protocolVersion: 4 });
  await assert.rejects(v4.request('svc', 'x'), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  await Promise.all([c.end(), v4.end()]);
  await assert.rejects(c.publish('a', 'x'), (e: unknown) => isMoatError(e, 'MOAT_ERR_CLIENT_CLOSED'));
  await assert.rejects(c.subscribe('a'), (e: unknown) => isMoatError(e, 'MOAT_ERR_CLIENT_CLOSED'));
  await b.close();
});

test('offline queue overflow "drop-oldest": the oldest waiting publish (QoS 0 first) is rejected, the new one kept', async () => {
  let broker = new Broker({ sysInterval: 0 });
  let listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  const url = `mqtt://127.0.0.1:${listener.address.port}`;
  const c = await connect(url, { reconnect: { initialDelay: 20, maxDelay: 50 }, queue: { maxMessages: 2, overflow: 'drop-oldest' } });
  const offline = new Promise((r) => c.once('offline', r));
  broker.shutdown();
  await listener.close();
  await offline;
  const first = c.publish('dq', 'q1', { qos: 1 });
  const zero = c.publish('dq', 'q0', { qos: 0 });
  const third = c.publish('dq', 'new', { qos: 1 });
  await assert.rejects(zero, (e: unknown) => isMoatError(e, 'MOAT_ERR_QUEUE_FULL'));
  broker = new Broker({ sysInterval: 0 });
  listener = await startListener(broker, { url });
  await Promise.all([first, third]);
  await c.end();
  broker.shutdown();
  await listener.close();
});

test('a QoS 2 publish made from a connect listener goes out once (subscriber receives it exactly once)', { timeout: 5000 }, async () => {
  const b = await startBroker();
  const watcher = await connect(b.url, opts);
  await watcher.subscribe('status/#', { qos: 2 });
  const got: string[] = [];
  watcher.on('message', (m) => got.push(`${m.topic}=${m.payload.toString()}`));
  const { MqttClient } = await import('../../src/client/index.js');
  const c = new MqttClient(b.url, opts);
  let birth: Promise<unknown> | undefined;
  c.on('connect', () => { birth = c.publish('status/c', 'online', { qos: 2 }); });
  await c.start();
  await birth;
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(got, ['status/c=online']);
  await Promise.all([c.end(), watcher.end()]);
  await b.close();
});

test('connect and close listeners that throw do not break the client (rethrown outside the engine)', { timeout: 10_000 }, async () => {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const thrown: string[] = [];
  process.on('uncaughtException', (err) => thrown.push(err.message));
  try {
    const b = await startBroker();
    const { MqttClient } = await import('../../src/client/index.js');
    const c = new MqttClient(b.url, opts);
    c.on('connect', () => { throw new Error('connect listener'); });
    c.on('close', () => { throw new Error('close listener'); });
    await c.start();
    await new Promise((r) => setImmediate(r));
    assert.equal(c.connected, true, 'still connected');
    await c.publish('x/y', 'after', { qos: 1 }); // the connection works
    await c.end();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(thrown, ['connect listener', 'close listener']);
    await b.close();
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of saved) process.on('uncaughtException', l);
  }
});

test('for await + break closes the subscription: unsubscribe of another one on the same filter sends UNSUBSCRIBE', { timeout: 10_000 }, async () => {
  const b = await startBroker();
  const c = await connect(b.url, opts);
  const a = await c.subscribe('same/#', { qos: 1 });
  const other = await c.subscribe('same/#', { qos: 1 });
  await c.publish('same/x', 'm', { qos: 1 });
  for await (const _m of a) break;
  const codes = await other.unsubscribe();
  assert.equal(codes.length, 1, 'UNSUBSCRIBE sent and answered');
  await c.end();
  await b.close();
});

/** The client against the real Mosquitto on 127.0.0.1:1883 (unique topics and client ids per run). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, MqttClient, type Message } from '../../src/client/index.js';

const URL = 'mqtt://127.0.0.1:1883';
const run = randomBytes(4).toString('hex');
const topic = (s: string): string => `moat-test/${run}/${s}`;
const opts = { reconnect: false as const };

for (const version of [4, 5] as const) {
  test(`Mosquitto, MQTT ${version === 5 ? '5.0' : '3.1.1'}: publish and subscribe at QoS 0, 1 and 2`, async () => {
    const sub = await connect(URL, { ...opts, protocolVersion: version });
    const pub = await connect(URL, { ...opts, protocolVersion: version });
    const s = await sub.subscribe(topic(`v${version}/#`), { qos: 2 });
    assert.deepEqual(s.reasonCodes, [2]);
    const it = s[Symbol.asyncIterator]();
    for (const qos of [0, 1, 2] as const) {
      await pub.publish(topic(`v${version}/${qos}`), `m${qos}`, { qos });
      const m = (await it.next()).value as Message;
      assert.deepEqual([m.payload.toString(), m.qos], [`m${qos}`, qos]);
    }
    await Promise.all([sub.end(), pub.end()]);
  });
}

test('Mosquitto: Receive Maximum it announces is respected (200 concurrent QoS 1/2 publishes)', async () => {
  const c = await connect(URL, opts);
  const max = c.info?.properties?.receiveMaximum ?? 65_535;
  let peak = 0;
  const all = Array.from({ length: 200 }, (_, i) => {
    const p = c.publish(topic('rm'), String(i), { qos: i % 2 === 0 ? 1 : 2 });
    peak = Math.max(peak, c.inflight);
    return p;
  });
  await Promise.all(all);
  assert.ok(peak <= max, `peak ${peak} ≤ Receive Maximum ${max}`);
  await c.end();
});

test('Mosquitto: a persistent session keeps QoS 1 messages while the client is away; user properties; repeats of a topic travel as topic aliases', async () => {
  const clientId = `moat-persist-${run}`;
  const first = await connect(URL, { ...opts, clientId, clean: true, sessionExpiry: 60 });
  await first.subscribe(topic('persist'), { qos: 1 });
  await first.end();
  const pub = await connect(URL, opts);
  for (let i = 0; i < 5; i++) {
    await pub.publish(topic('persist'), `p${i}`, { qos: 1, properties: { userProperties: [['n', String(i)]] } });
  }
  const got: Message[] = [];
  // Listen before the CONNACK: queued messages can arrive in the same read.
  const again = new MqttClient(URL, { ...opts, clientId, clean: false, sessionExpiry: 0 });
  again.on('message', (m) => got.push(m));
  await again.start();
  assert.equal(again.info?.sessionPresent, true);
  for (let i = 0; i < 50 && got.length < 5; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got.map((m) => m.payload.toString()), ['p0', 'p1', 'p2', 'p3', 'p4']);
  assert.deepEqual(got[3]?.properties?.userProperties, [['n', '3']]);
  await Promise.all([again.end(), pub.end()]);
});

test('Mosquitto: request/response (v5 response topic + correlation data)', async () => {
  const responder = await connect(URL, opts);
  const requester = await connect(URL, opts);
  const svc = await responder.subscribe(topic('svc'), { qos: 1 });
  void (async () => {
    for await (const m of svc) {
      await responder.publish(m.properties!.responseTopic!, m.payload.toString().toUpperCase(),
        { qos: 1, properties: { correlationData: m.properties!.correlationData! } });
    }
  })();
  const answer = await requester.request(topic('svc'), 'hello', { timeout: 2000 });
  assert.equal(answer.payload.toString(), 'HELLO');
  await Promise.all([responder.end(), requester.end()]);
});

/** Interop with MQTT.js as a 3.1.1 and a 5.0 client, over TCP and over TLS verified against a real CA. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { ensureDevPki, type DevPki } from '../../src/security/dev-pki.js';

let broker: Broker;
let tcp: RunningListener;
let tls: RunningListener;
let pki: DevPki;

before(async () => {
  pki = await ensureDevPki(join(mkdtempSync(join(tmpdir(), 'moat-mqttjs-')), 'pki'));
  broker = new Broker({ sysInterval: 0 });
  tcp = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  tls = await startListener(broker, { url: 'mqtts://127.0.0.1:0', tls: { cert: pki.cert, key: pki.key, minVersion: 'TLSv1.3' } });
});
after(async () => {
  broker.shutdown();
  await Promise.all([tcp.close(), tls.close()]);
});

const urlOf = (secure: boolean): string => secure ? `mqtts://localhost:${tls.address.port}` : `mqtt://127.0.0.1:${tcp.address.port}`;
const open = (secure: boolean, version: 4 | 5, opts: mqtt.IClientOptions = {}): Promise<MqttClient> =>
  mqtt.connectAsync(urlOf(secure), { protocolVersion: version, reconnectPeriod: 0, ca: secure ? pki.ca : undefined, ...opts });
const nextMessage = (c: MqttClient): Promise<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> =>
  new Promise((r) => c.once('message', (topic, payload, packet) => r({ topic, payload: payload.toString(), packet })));

for (const secure of [false, true]) {
  for (const version of [4, 5] as const) {
    const label = `MQTT.js ${version === 5 ? '5.0' : '3.1.1'} over ${secure ? 'TLS 1.3 (server verified)' : 'TCP'}`;

    test(`${label}: QoS 0, 1 and 2 round trips`, async () => {
      const sub = await open(secure, version);
      const pub = await open(secure, version);
      await sub.subscribeAsync(`interop/${version}/${secure}/#`, { qos: 2 });
      for (const qos of [0, 1, 2] as const) {
        const got = nextMessage(sub);
        await pub.publishAsync(`interop/${version}/${secure}/q${qos}`, `m${qos}`, { qos });
        const m = await got;
        assert.equal(m.payload, `m${qos}`);
        assert.equal(m.packet.qos, qos);
      }
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    });

    test(`${label}: retained message delivered to a later subscriber and cleared by an empty payload`, async () => {
      const topic = `retained/${version}/${secure}`;
      const pub = await open(secure, version);
      await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
      const sub = await open(secure, version);
      const got = nextMessage(sub);
      await sub.subscribeAsync(topic, { qos: 1 });
      const m = await got;
      assert.equal(m.payload, 'kept');
      assert.equal(m.packet.retain, true);
      await pub.publishAsync(topic, '', { qos: 1, retain: true });
      assert.equal(broker.retained.match(topic, Date.now()).length, 0);
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    });

    test(`${label}: the will is published when the client vanishes`, async () => {
      const topic = `will/${version}/${secure}`;
      const watcher = await open(secure, version);
      await watcher.subscribeAsync(topic, { qos: 1 });
      const doomed = await open(secure, version, { will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } });
      const got = nextMessage(watcher);
      doomed.stream.destroy();
      assert.equal((await got).payload, 'gone');
      doomed.end(true);
      await watcher.endAsync();
    });

    test(`${label}: a persistent session keeps QoS 1 messages while the client is away`, async () => {
      const clientId = `persist-${version}-${secure}`;
      const session = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };
      const a = await open(secure, version, { clientId, ...session });
      await a.subscribeAsync(`persist/${clientId}`, { qos: 1 });
      await a.endAsync();
      const pub = await open(secure, version);
      await pub.publishAsync(`persist/${clientId}`, 'while-away', { qos: 1 });
      const b = mqtt.connect(urlOf(secure), { protocolVersion: version, reconnectPeriod: 0, ca: secure ? pki.ca : undefined, clientId, ...session });
      const m = await nextMessage(b);
      assert.equal(m.payload, 'while-away');
      await Promise.all([b.endAsync(), pub.endAsync()]);
    });
  }
}

test('MQTT.js 5.0: user properties, content type, correlation data and response topic pass through; request/response works', async () => {
  const responder = await open(false, 5);
  await responder.subscribeAsync('svc/echo', { qos: 1 });
  responder.on('message', (_t, payload, packet) => {
    const p = packet.properties ?? {};
    void responder.publishAsync(p.responseTopic!, `echo:${payload.toString()}`, {
      qos: 1, properties: { correlationData: p.correlationData!, userProperties: p.userProperties!, contentType: p.contentType! },
    });
  });
  const requester = await open(false, 5);
  await requester.subscribeAsync('reply/me', { qos: 1 });
  const got = nextMessage(requester);
  await requester.publishAsync('svc/echo', 'ping', {
    qos: 1, properties: { responseTopic: 'reply/me', correlationData: Buffer.from('c-1'), userProperties: { k: 'v' }, contentType: 'text/plain' },
  });
  const m = await got;
  assert.equal(m.payload, 'echo:ping');
  assert.equal(m.packet.properties?.correlationData?.toString(), 'c-1');
  assert.deepEqual({ ...m.packet.properties?.userProperties }, { k: 'v' });
  assert.equal(m.packet.properties?.contentType, 'text/plain');
  await Promise.all([responder.endAsync(), requester.endAsync()]);
});

/**
 * runLab against a given broker URL (--url): no child broker of its own, so no server CPU or memory;
 * modes the URL cannot do are skipped with the reason. The broker here is the lab's child broker,
 * started by the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeMaterial, startChildBroker, type ChildBroker, type LabMaterial } from '../../src/lab/lab-broker.js';
import { runLab } from '../../src/lab/runner.js';
import { createServer, type AddressInfo } from 'node:net';
import { PacketDecoder, encodePacket, isMoatError } from '../../src/codec/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import { silentLogger } from '../../src/broker/logger.js';
import { prepareTls } from '../../src/security/tls-listener.js';

let material: LabMaterial;
let child: ChildBroker;

before(async () => {
  material = await makeMaterial(['ecdsa-p256']);
  child = await startChildBroker(material);
});

after(async () => {
  await child?.close();
  await material?.remove();
});

test('mqtt:// URL: plain is measured (client side only), the TLS modes are skipped with the reason', async () => {
  // No RTT 0 asked: the row's first setups run at 20 ms, and each RTT is measured once.
  const r = await runLab({ url: `mqtt://127.0.0.1:${child.ports.plain}`, modes: ['plain', 'tls13-full'], quick: true, rtts: [20, 40] });
  assert.equal(r.target, `mqtt://127.0.0.1:${child.ports.plain}`);
  const [plain, tls] = r.results;
  assert.equal(plain?.mode, 'plain');
  assert.equal(plain.skipped, undefined);
  assert.ok(plain.cpu.clientUs.median > 0);
  assert.equal(plain.cpu.serverUs, undefined);
  assert.equal(plain.memoryPerConnection, undefined);
  assert.deepEqual(plain.setup.map((x) => x.rttMs), [20, 40]);
  assert.equal(tls?.mode, 'tls13-full');
  assert.match(tls.skipped ?? '', /mqtts:\/\//);
});

test('mqtts:// URL with the CA: TLS 1.3 full and resumed are measured; PSK and mTLS are skipped without credentials', async () => {
  const url = `mqtts://127.0.0.1:${child.ports.tls['ecdsa-p256']!}`;
  const r = await runLab({ url, tls: { ca: material.ca }, modes: ['tls13-full', 'tls13-resumed', 'tls13-psk', 'mtls13'], quick: true, rtts: [0] });
  const by = new Map(r.results.map((x) => [x.mode, x]));
  assert.equal(by.get('tls13-full')?.protocol, 'TLSv1.3');
  assert.equal(by.get('tls13-full')?.key, undefined, 'the server key type is the server\'s, not chosen by the lab');
  assert.equal(by.get('tls13-resumed')?.resumed, true);
  assert.match(by.get('tls13-psk')?.skipped ?? '', /PSK/);
  assert.match(by.get('mtls13')?.skipped ?? '', /client certificate/);
});

test('mtls13 against a --url listener that asks for no client certificate is skipped (none was sent), and measured where one is required', async () => {
  const creds = { ca: material.ca, cert: material.device.cert, key: material.device.key };
  const plainTls = await runLab({ url: `mqtts://127.0.0.1:${child.ports.tls['ecdsa-p256']!}`, tls: creds, modes: ['mtls13'], quick: true, rtts: [0] });
  assert.match(plainTls.results[0]?.skipped ?? '', /no client certificate was sent/);
  const mutual = await runLab({ url: `mqtts://127.0.0.1:${child.ports.mtls['ecdsa-p256']!}`, tls: creds, modes: ['mtls13'], quick: true, rtts: [0] });
  assert.equal(mutual.results[0]?.skipped, undefined);
  assert.ok(mutual.results[0]!.setupBytes.handshake.clientToServer > 1000);
});

test('a TLS version the --url broker does not offer is skipped with OpenSSL\'s reason, not its source file and line', async () => {
  const broker = new Broker({ allowAnonymous: true, sysInterval: 0 });
  const tls = await prepareTls({ profile: 'modern', certFile: material.servers['ecdsa-p256']!.certFile, keyFile: material.servers['ecdsa-p256']!.keyFile, watch: false }, silentLogger, 'modern');
  const listener = await startListener(broker, { url: 'mqtts://127.0.0.1:0', tls });
  try {
    const r = await runLab({ url: `mqtts://127.0.0.1:${listener.address.port}`, tls: { ca: material.ca }, modes: ['tls12-full'], quick: true, rtts: [0] });
    assert.match(r.results[0]?.skipped ?? '', /^the TLS handshake failed: .*protocol version/);
    assert.doesNotMatch(r.results[0]?.skipped ?? '', /\.c:\d+/);
  } finally {
    await listener.close();
    await broker.close();
  }
});

test('a --url broker that refuses anonymous clients: with the login (-u/-P) every setup is accepted; without it the mode is skipped with the refusal', async () => {
  const seen: Array<{ username: string | undefined; password: string | undefined }> = [];
  const broker = new Broker({ allowAnonymous: false, sysInterval: 0 }, {
    hooks: {
      authenticate: [(req) => {
        seen.push({ username: req.username, password: req.password?.toString() });
        return req.username === 'lab' && req.password?.toString() === 'pw-1' ? { verdict: 'allow' } : { verdict: 'deny' };
      }],
    },
  });
  const listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
  try {
    const url = `mqtt://127.0.0.1:${listener.address.port}`;
    const r = await runLab({ url, login: { username: 'lab', password: Buffer.from('pw-1') }, modes: ['plain'], quick: true, rtts: [0] });
    const plain = r.results[0]!;
    assert.equal(plain.skipped, undefined);
    assert.ok(plain.overhead.length > 0 && (plain.throughputMBps?.median ?? 0) > 0);
    assert.ok(seen.length > 5 && seen.every((s) => s.username === 'lab' && s.password === 'pw-1'), 'every CONNECT carried the login');
    assert.doesNotMatch(JSON.stringify(r), /pw-1/, 'the password is not in the report');
    const anonymous = await runLab({ url, modes: ['plain'], quick: true, rtts: [0] });
    assert.match(anonymous.results[0]?.skipped ?? '', /CONNACK/);
  } finally {
    await listener.close();
    await broker.close();
  }
});

test('options runLab refuses before it starts anything: no RTT, an RTT beyond 10 s, an unknown mode or key (MOAT_ERR_CONFIG)', async () => {
  for (const o of [{ rtts: [] }, { rtts: [0, 10_001] }, { rtts: [-1] }, { modes: ['tls14-full' as never] }, { keys: ['dsa' as never] }, { repeat: 0 }]) {
    await assert.rejects(runLab(o), (e) => isMoatError(e, 'MOAT_ERR_CONFIG'), JSON.stringify(o));
  }
});

test('against Mosquitto (127.0.0.1:1883, started by .ci/run): a third-party broker over --url is measured as the client sees it', async () => {
  const r = await runLab({ url: 'mqtt://127.0.0.1:1883', modes: ['plain'], quick: true, rtts: [0, 40] });
  const plain = r.results[0]!;
  assert.equal(plain.skipped, undefined, plain.skipped);
  assert.equal(plain.roundTrips, 0);
  // Mosquitto's CONNACK for an MQTT 5 client carries properties, so its size is Mosquitto's, not Moat's: only sane bounds.
  assert.ok(plain.setupBytes.mqtt.serverToClient >= 5 && plain.setupBytes.mqtt.serverToClient < 200, String(plain.setupBytes.mqtt.serverToClient));
  assert.deepEqual(plain.overhead.map((o) => o.overheadBytes >= 0), plain.overhead.map(() => true));
  const at40 = plain.setup.find((s) => s.rttMs === 40)!.connack.median;
  assert.ok(at40 >= 80, `TCP + CONNECT/CONNACK: two round trips of 40 ms (${at40} ms)`);
});

test('a --url broker that resets the connection in the middle of the throughput run: the row is skipped with the reason, the run ends (no promise left pending)', async () => {
  // A minimal broker: CONNACK, PUBACK for QoS 1; a connection that has sent more than 2 MB is reset.
  const server = createServer((socket) => {
    const decoder = new PacketDecoder({ protocolVersion: 5, maxPacketSize: 1 << 20 });
    let bytes = 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > 2_000_000) return void socket.resetAndDestroy();
      decoder.write(chunk, (p) => {
        if (p.type === 'connect') socket.write(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 5));
        else if (p.type === 'publish' && p.qos === 1) socket.write(encodePacket({ type: 'puback', packetId: p.packetId!, reasonCode: 0 }, 5));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const r = await runLab({ url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, modes: ['plain'], quick: true, rtts: [0] });
    assert.match(r.results[0]?.skipped ?? '', /closed the connection during the throughput run|closed the connection/);
  } finally {
    server.close();
  }
});

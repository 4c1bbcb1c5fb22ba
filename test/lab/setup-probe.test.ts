/**
 * Single setups against the lab's broker child: the checks that keep a row honest (a resumed mode that
 * does not resume fails loudly; PSK carries no certificate; mTLS is refused without a client
 * certificate), and the byte accounting of one setup against what the proxy carried.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isMoatError } from '../../src/codec/index.js';
import { startDelayProxy } from '../../src/lab/delay-proxy.js';
import { makeMaterial, startChildBroker, type ChildBroker, type LabMaterial } from '../../src/lab/lab-broker.js';
import { checkNegotiated, clientTlsOptions, labCases, type ClientCredentials } from '../../src/lab/modes.js';
import { analyzeSetup, connectPacket, probeSetup } from '../../src/lab/setup-probe.js';

let material: LabMaterial;
let child: ChildBroker;
let creds: ClientCredentials;
let n = 0;
const id = (): string => `probe-test-${++n}`;

before(async () => {
  material = await makeMaterial(['ecdsa-p256']);
  child = await startChildBroker(material);
  creds = { ca: material.ca, cert: material.device.cert, key: material.device.key, psk: material.psk, servername: 'localhost' };
});

after(async () => {
  await child?.close();
  await material?.remove();
});

test('the matrix: keyed modes once per key type, plain and PSK modes once', () => {
  const cases = labCases(undefined, ['ecdsa-p256', 'rsa-2048']);
  assert.equal(cases.length, 3 + 5 * 2);
  assert.deepEqual(cases.filter((c) => c.key === undefined).map((c) => c.mode), ['plain', 'tls13-psk', 'tls12-psk']);
});

test('a resumed mode that did not resume fails loudly (MOAT_ERR_LAB_CHECK), and passes once it does', async () => {
  const target = { host: '127.0.0.1', port: child.ports.tls['ecdsa-p256']!, tls: clientTlsOptions('tls13-resumed', creds)! };
  const first = await probeSetup(target, { clientId: id() });
  assert.equal(first.tls?.resumed, false);
  assert.throws(() => checkNegotiated('tls13-resumed', first.tls!, 'first'), (e: unknown) => isMoatError(e) && e.code === 'MOAT_ERR_LAB_CHECK');
  const second = await probeSetup(target, { clientId: id(), session: first.session! });
  assert.equal(second.tls?.resumed, true);
  checkNegotiated('tls13-resumed', second.tls!, 'second');
  // The broker's own counters agree: one full handshake, one resumed.
  const stats = (await child.stats())['tls:ecdsa-p256']!;
  assert.equal(stats.full, 1);
  assert.equal(stats.resumed, 1);
});

test('a TLS 1.2 mode against the TLS listener negotiates TLS 1.2, and a mislabelled check fails', async () => {
  const r = await probeSetup({ host: '127.0.0.1', port: child.ports.tls['ecdsa-p256']!, tls: clientTlsOptions('tls12-full', creds)! }, { clientId: id() });
  assert.equal(r.tls?.protocol, 'TLSv1.2');
  checkNegotiated('tls12-full', r.tls!, 'tls12');
  assert.throws(() => checkNegotiated('tls13-full', r.tls!, 'as 1.3'), (e: unknown) => isMoatError(e) && e.code === 'MOAT_ERR_LAB_CHECK');
});

test('PSK setups carry no server certificate, TLS 1.3 and TLS 1.2', async () => {
  for (const mode of ['tls13-psk', 'tls12-psk'] as const) {
    const r = await probeSetup({ host: '127.0.0.1', port: child.ports.psk, tls: clientTlsOptions(mode, creds)! }, { clientId: id() });
    assert.equal(r.tls?.serverCertificate, false, mode);
    checkNegotiated(mode, r.tls!, mode);
  }
});

test('mTLS is refused without a client certificate, accepted with the device certificate', async () => {
  const port = child.ports.mtls['ecdsa-p256']!;
  const without = clientTlsOptions('tls13-full', { ca: material.ca, servername: 'localhost' })!;
  await assert.rejects(probeSetup({ host: '127.0.0.1', port, tls: without }, { clientId: id(), timeoutMs: 5000 }));
  const r = await probeSetup({ host: '127.0.0.1', port, tls: clientTlsOptions('mtls13', creds)! }, { clientId: id() });
  checkNegotiated('mtls13', r.tls!, 'mtls13');
  assert.ok((await child.stats())['mtls:ecdsa-p256']!.rejected >= 1);
});

test('one setup through the proxy: the split into handshake, tickets and MQTT matches the TLS 1.3 record layout, and the proxy carried it all', async () => {
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: child.ports.tls['ecdsa-p256']! }, rttMs: 0, keepData: true });
  try {
    const clientId = id();
    const r = await probeSetup({ host: '127.0.0.1', port: proxy.port, tls: clientTlsOptions('tls13-full', creds)! }, { clientId });
    const log = proxy.connections[0]!;
    const a = analyzeSetup(log, r);
    const carried = (dir: 'c2s' | 's2c'): number => log.chunks.filter((c) => c.dir === dir).reduce((s, c) => s + c.bytes, 0);
    // Figures from the TLS 1.3 record format, not from the analysis itself: CONNECT is one record (5 B
    // header + 1 B content type + 16 B tag); after its ClientHello the client sent a compatibility
    // ChangeCipherSpec (6 B) and its Finished (5 + 4 + 32 + 1 + 16 B with SHA-256); two tickets of one size.
    assert.equal(a.mqtt.clientToServer, connectPacket(clientId).length + 22);
    assert.equal(a.clientAfterHello, 6 + 58);
    assert.equal(a.tickets % 2, 0, `two NewSessionTicket records of one size: ${a.tickets} B`);
    // Everything the client counted crossed the proxy (the close may add a last alert afterwards).
    assert.ok(carried('c2s') >= r.atConnack.clientToServer && carried('s2c') >= r.atConnack.serverToClient);
    assert.equal(a.roundTrips, 1);
    assert.ok(a.tickets > 0, 'TLS 1.3 NewSessionTicket records after the handshake');
  } finally {
    await proxy.close();
  }
});

/**
 * Mutual TLS: client certificates verified against a device CA kept apart from the server chain,
 * required or optional per listener, a CRL, the CN (or a SAN) exposed for the MQTT user name, and
 * refused devices logged with the reason (in TLS 1.3 the client learns only when the socket closes).
 * Peers: mosquitto_pub/mosquitto_sub --cert/--key, openssl s_client, MQTT.js.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { isMoatError } from '../../src/codec/index.js';
import type { AuthenticateRequest } from '../../src/broker/hooks.js';
import type { TransportTlsInfo } from '../../src/broker/transport.js';
import { prepareTls } from '../../src/security/tls-listener.js';
import { certificateIdentity } from '../../src/security/tls-identity.js';
import {
  issue, makeCa, makeCrl, runTool, sClient, startTlsBroker, tempDir, writeFiles, eventually, captureLog, type TlsBroker,
} from '../support/test-pki.js';

const DAY = 24 * 3600 * 1000;
let f: Record<string, string>;
let required: TlsBroker;
let optional: TlsBroker;
const seen: AuthenticateRequest[] = [];
const hooks = { authenticate: [(req: AuthenticateRequest) => { seen.push(req); return { verdict: 'allow' as const }; }] };

before(async () => {
  const dir = await tempDir();
  const serverCa = await makeCa('Server CA');
  const deviceCa = await makeCa('Device CA');
  const otherCa = await makeCa('Other CA');
  const server = await issue(serverCa, { cn: 'localhost', role: 'server' });
  const now = Date.now();
  const good = await issue(deviceCa, { cn: 'device-1', role: 'client', names: [{ type: 'email', value: 'd1@example.test' }] });
  const expired = await issue(deviceCa, { cn: 'expired', role: 'client', notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
  const future = await issue(deviceCa, { cn: 'future', role: 'client', notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) });
  const stranger = await issue(otherCa, { cn: 'stranger', role: 'client' });
  const revoked = await issue(deviceCa, { cn: 'revoked', role: 'client' });
  const crl = await makeCrl(deviceCa, [revoked.serial]);
  f = await writeFiles(dir, {
    'server-ca.crt': serverCa.pem, 'device-ca.crt': deviceCa.pem, 'server.crt': server.pem, 'server.key': server.keyPem, 'devices.crl': crl,
    'good.crt': good.pem, 'good.key': good.keyPem, 'expired.crt': expired.pem, 'expired.key': expired.keyPem,
    'future.crt': future.pem, 'future.key': future.keyPem, 'stranger.crt': stranger.pem, 'stranger.key': stranger.keyPem,
    'revoked.crt': revoked.pem, 'revoked.key': revoked.keyPem,
  });
  const common = { certFile: f['server.crt']!, keyFile: f['server.key']!, caFile: f['device-ca.crt']!, crlFile: f['devices.crl']! };
  required = await startTlsBroker({ ...common, clientCert: 'required' }, { hooks });
  optional = await startTlsBroker({ ...common, clientCert: 'optional', certIdentity: 'san-email' }, { hooks });
});

after(async () => {
  await Promise.all([required.close(), optional.close()]);
});

const mosq = (b: TlsBroker, id: string, device?: string, extra: string[] = []): string[] => [
  '-h', 'localhost', '-p', String(b.port), '--cafile', f['server-ca.crt']!, '-i', id, '-V', 'mqttv5',
  ...(device ? ['--cert', f[`${device}.crt`]!, '--key', f[`${device}.key`]!] : []), ...extra,
];

test('required: mosquitto_pub/mosquitto_sub with a device certificate; the CN is exposed for the user name', async () => {
  const sub = runTool('mosquitto_sub', [...mosq(required, 'm-sub', 'good'), '-t', 'mtls/t', '-C', '1', '-W', '8'], 9000);
  const pub = await runTool('mosquitto_pub', [...mosq(required, 'm-pub', 'good'), '-t', 'mtls/t', '-m', 'hello-mtls', '-q', '1', '-r']);
  assert.equal(pub.code, 0, pub.out);
  const got = await sub;
  assert.equal(got.code, 0, got.out);
  assert.match(got.out, /hello-mtls/);
  const req = seen.find((r) => r.clientId === 'm-pub')!;
  const tls = req.tls as TransportTlsInfo;
  assert.ok(tls.peerCertificate);
  assert.equal(tls.certIdentity, 'device-1');
  assert.equal(certificateIdentity(tls.peerCertificate, 'cn'), 'device-1');
});

test('the device CA verifies clients but is not sent in the server chain; it is named in the certificate request', async () => {
  const out = await sClient(required.port, ['-showcerts', '-CAfile', f['server-ca.crt']!, '-cert', f['good.crt']!, '-key', f['good.key']!]);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  const chain = [...out.matchAll(/^ \d s:/gm)];
  assert.equal(chain.length, 1, out);
  assert.match(out, /Acceptable client certificate CA names\s*\nCN ?= ?Device CA/);
});

for (const [device, reason] of [
  ['expired', /CERT_HAS_EXPIRED/], ['future', /CERT_NOT_YET_VALID/], ['stranger', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|ISSUER/], ['revoked', /CERT_REVOKED/],
] as const) {
  test(`required: a client certificate that is ${device === 'stranger' ? 'from another CA' : device === 'future' ? 'not yet valid' : device} is refused and the server logs why`, async () => {
    const rejected = required.listener.tls!.stats().rejected;
    const pub = await runTool('mosquitto_pub', [...mosq(required, `bad-${device}`, device), '-t', 'mtls/t', '-m', 'x']);
    assert.notEqual(pub.code, 0, pub.out);
    assert.ok(!seen.some((r) => r.clientId === `bad-${device}`), 'never reached MQTT');
    await eventually(() => required.listener.tls!.stats().rejected > rejected, 3000, 'rejection counted');
    const line = required.log.lines.find((l) => l.msg === 'client certificate rejected' && l.obj['subject'] === device);
    assert.ok(line, JSON.stringify(required.log.lines.slice(-3)));
    assert.equal(line.level, 'warn');
    assert.match(String(line.obj['reason']), reason);
  });
}

test('required: a client without a certificate is refused and logged (NO_CLIENT_CERTIFICATE)', async () => {
  const pub = await runTool('mosquitto_pub', [...mosq(required, 'no-cert'), '-t', 'mtls/t', '-m', 'x']);
  assert.notEqual(pub.code, 0, pub.out);
  assert.ok(!seen.some((r) => r.clientId === 'no-cert'));
  await eventually(() => required.log.lines.some((l) => l.obj['reason'] === 'NO_CLIENT_CERTIFICATE'), 3000, 'logged');
});

test('optional: no certificate is admitted without identity; a valid one maps its SAN e-mail; a revoked one is refused', async () => {
  const anon = await runTool('mosquitto_pub', [...mosq(optional, 'opt-anon'), '-t', 'o/t', '-m', 'x']);
  assert.equal(anon.code, 0, anon.out);
  const a = seen.find((r) => r.clientId === 'opt-anon')!;
  assert.equal(a.tls?.peerCertificate, undefined);
  assert.equal((a.tls as TransportTlsInfo).certIdentity, undefined);
  const good = await runTool('mosquitto_pub', [...mosq(optional, 'opt-good', 'good'), '-t', 'o/t', '-m', 'x']);
  assert.equal(good.code, 0, good.out);
  assert.equal((seen.find((r) => r.clientId === 'opt-good')!.tls as TransportTlsInfo).certIdentity, 'd1@example.test');
  const bad = await runTool('mosquitto_pub', [...mosq(optional, 'opt-revoked', 'revoked'), '-t', 'o/t', '-m', 'x']);
  assert.notEqual(bad.code, 0, bad.out);
  assert.ok(!seen.some((r) => r.clientId === 'opt-revoked'));
  await eventually(() => optional.log.lines.some((l) => l.obj['reason'] === 'CERT_REVOKED'), 3000, 'logged');
});

test('MQTT.js with a device certificate, then resuming without presenting it again: the identity comes back from the session', async () => {
  const url = `mqtts://localhost:${required.port}`;
  const tlsOpts = { ca: readFileSync(f['server-ca.crt']!) };
  const c1 = await mqtt.connectAsync(url, { ...tlsOpts, cert: readFileSync(f['good.crt']!), key: readFileSync(f['good.key']!), clientId: 'js-m1', protocolVersion: 5 });
  const session = (c1.stream as unknown as TLSSocket).getSession();
  await c1.endAsync();
  assert.ok(session);
  const c2 = await mqtt.connectAsync(url, { ...tlsOpts, session, clientId: 'js-m2', protocolVersion: 5 } as mqtt.IClientOptions);
  await c2.endAsync();
  const r2 = seen.find((r) => r.clientId === 'js-m2')!;
  assert.equal(r2.tls?.resumed, true);
  assert.equal((r2.tls as TransportTlsInfo).certIdentity, 'device-1');
});

test('required mutual TLS next to PSK: a PSK device is admitted without a certificate (TLS 1.3 PSK handshakes ask for none)', async () => {
  const dir = await tempDir();
  const key = '00112233445566778899aabbccddeeff';
  const [pskFile] = Object.values(await writeFiles(dir, { 'psk.txt': `psk-dev:${key}\n` }));
  const b = await startTlsBroker({
    profile: 'psk', pskFile: pskFile!, certFile: f['server.crt']!, keyFile: f['server.key']!, caFile: f['device-ca.crt']!, clientCert: 'required',
  }, { hooks });
  try {
    const pub = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port), '--psk', key, '--psk-identity', 'psk-dev', '-i', 'psk-m', '-t', 't', '-m', 'x']);
    assert.equal(pub.code, 0, pub.out);
    assert.equal(seen.find((r) => r.clientId === 'psk-m')?.tls?.pskIdentity, 'psk-dev');
    const noCert = await runTool('mosquitto_pub', [...mosq(b, 'psk-nocert'), '-t', 't', '-m', 'x']);
    assert.notEqual(noCert.code, 0);
    assert.deepEqual({ psk: b.listener.tls!.stats().psk, rejected: b.listener.tls!.stats().rejected }, { psk: 1, rejected: 1 });
  } finally {
    await b.close();
  }
});

test('wss:// with required mutual TLS: MQTT.js with a device certificate gets in with its identity; without one it is refused', async () => {
  const b = await startTlsBroker({ certFile: f['server.crt']!, keyFile: f['server.key']!, caFile: f['device-ca.crt']!, clientCert: 'required' }, { hooks }, 'wss');
  try {
    const url = `wss://localhost:${b.port}/mqtt`;
    const ca = readFileSync(f['server-ca.crt']!);
    const c = await mqtt.connectAsync(url, { ca, cert: readFileSync(f['good.crt']!), key: readFileSync(f['good.key']!), clientId: 'wss-dev', protocolVersion: 5 });
    await c.endAsync();
    const r = seen.find((x) => x.clientId === 'wss-dev')!;
    assert.equal(r.transport, 'wss');
    assert.equal(r.tls?.protocol, 'TLSv1.3');
    assert.equal((r.tls as TransportTlsInfo).certIdentity, 'device-1');
    const before = b.listener.tls!.stats().rejected;
    const anon = mqtt.connect(url, { ca, clientId: 'wss-anon', reconnectPeriod: 0 });
    anon.on('error', () => {});
    await eventually(() => b.listener.tls!.stats().rejected > before, 5000, 'wss client without certificate refused');
    anon.end(true);
    assert.ok(!seen.some((x) => x.clientId === 'wss-anon'));
  } finally {
    await b.close();
  }
});

test('certificateIdentity: CN or the first SAN of the asked kind; undefined when absent', async () => {
  const ca = await makeCa('Identity CA');
  const c = await issue(ca, { cn: 'dev-9', role: 'client', names: [
    { type: 'dns', value: 'd9.example.test' }, { type: 'email', value: 'd9@example.test' }, { type: 'url', value: 'spiffe://fleet/d9' },
  ] });
  const der = Buffer.from(c.cert.rawData);
  assert.equal(certificateIdentity(der), 'dev-9');
  assert.equal(certificateIdentity(der, 'san-dns'), 'd9.example.test');
  assert.equal(certificateIdentity(der, 'san-email'), 'd9@example.test');
  assert.equal(certificateIdentity(der, 'san-uri'), 'spiffe://fleet/d9');
  const bare = await issue(ca, { cn: 'bare', role: 'client' });
  assert.equal(certificateIdentity(Buffer.from(bare.cert.rawData), 'san-uri'), undefined);
  assert.throws(() => certificateIdentity(der, 'ou' as 'cn'), (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

test('client certificates without a device CA, or a CRL without client certificates, are MOAT_ERR_CONFIG', async () => {
  await assert.rejects(prepareTls({ certFile: f['server.crt'], keyFile: f['server.key'], clientCert: 'required' }, captureLog(), 'x'),
    (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  await assert.rejects(prepareTls({ certFile: f['server.crt'], keyFile: f['server.key'], crlFile: f['devices.crl'] }, captureLog(), 'x'),
    (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

/**
 * The dev PKI for each key type: real TLS 1.3 handshakes (Node and openssl s_client) with the server
 * certificate verified against the CA and the device certificate verified by the server; the
 * certificates' names, key usages and lifetimes read back by Node's and OpenSSL's own parsers; key files
 * 0600; and the refusals (MOAT_ERR_PKI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import {
  DEFAULT_DEVICE_ID, KEY_TYPES, ensureDevPki, initDevPki, issueDeviceCert, parseKeyType, validateDeviceId, type DevPki, type KeyType,
} from '../../src/security/dev-pki.js';
import { sClient } from '../support/test-pki.js';

const run = promisify(execFile);
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const tmp = (): string => mkdtempSync(join(tmpdir(), 'moat-pki-'));
const rejectsCode = (p: Promise<unknown>, code: string): Promise<void> =>
  assert.rejects(p, (err: { code?: string }) => err.code === code);
const throwsCode = (fn: () => unknown, code: string): void => assert.throws(fn, (err: { code?: string }) => err.code === code);

/** A TLS 1.3 server with the PKI's server certificate that requires a client certificate from the CA. */
async function mtlsServer(pki: DevPki): Promise<{ port: number; peers: Array<{ authorized: boolean; cn: string | undefined }>; close(): Promise<void> }> {
  const peers: Array<{ authorized: boolean; cn: string | undefined }> = [];
  const server = createServer({ cert: pki.cert, key: pki.key, ca: pki.ca, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true },
    (s: TLSSocket) => {
      peers.push({ authorized: s.authorized, cn: s.getPeerCertificate().subject?.CN as string | undefined });
      s.end('ok');
    });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, peers, close: () => new Promise((r) => server.close(() => r())) };
}

/** A Node TLS client: resolves with what the server sent, rejects with the handshake's error. */
function handshake(port: number, opts: { ca: string; cert?: string; key?: string; servername?: string }): Promise<{ protocol: string | null; data: string }> {
  return new Promise((ok, fail) => {
    const s = connect({ host: '127.0.0.1', port, ...opts });
    let data = '';
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('end', () => ok({ protocol: s.getProtocol(), data }));
    s.on('error', fail);
  });
}

const KEY_OF: Record<KeyType, { type: string; check(x: X509Certificate): void }> = {
  ecdsa: { type: 'ec', check: (x) => assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1') },
  ed25519: { type: 'ed25519', check: () => {} },
  rsa: { type: 'rsa', check: (x) => assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048) },
};

for (const keyType of KEY_TYPES) {
  test(`${keyType}: TLS 1.3 handshake, server verified against the CA by name and IP, device certificate verified by the server`, async () => {
    const pki = await initDevPki(tmp(), { keyType });
    const device = pki.device!;
    for (const pem of [pki.ca, pki.cert, device.cert]) {
      const x = new X509Certificate(pem);
      assert.equal(x.publicKey.asymmetricKeyType, KEY_OF[keyType].type);
      KEY_OF[keyType].check(x);
    }
    const srv = await mtlsServer(pki);
    try {
      const byIp = await handshake(srv.port, { ca: pki.ca, cert: device.cert, key: device.key });
      assert.equal(byIp.protocol, 'TLSv1.3');
      assert.equal(byIp.data, 'ok');
      const byName = await handshake(srv.port, { ca: pki.ca, cert: device.cert, key: device.key, servername: 'localhost' });
      assert.equal(byName.data, 'ok');
      assert.deepEqual(srv.peers, [{ authorized: true, cn: DEFAULT_DEVICE_ID }, { authorized: true, cn: DEFAULT_DEVICE_ID }]);
      // Another CA's client does not verify the server (the server also sends its CA: a root it does not trust).
      const other = await initDevPki(tmp(), { keyType });
      await assert.rejects(handshake(srv.port, { ca: other.ca, cert: device.cert, key: device.key }),
        (err: { code?: string }) => ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN'].includes(err.code ?? ''));
    } finally {
      await srv.close();
    }
  });

  test(`${keyType}: openssl s_client verifies the server chain (-verify_return_error) and presents the device certificate`, async () => {
    const dir = tmp();
    const pki = await initDevPki(dir, { keyType });
    const srv = await mtlsServer(pki);
    try {
      const out = await sClient(srv.port, ['-CAfile', pki.caCertPath, '-verify_return_error',
        '-verify_ip', '127.0.0.1', '-cert', pki.device!.certPath, '-key', pki.device!.keyPath]);
      assert.match(out, /New, TLSv1\.3, Cipher is TLS_/);
      assert.match(out, /Verify return code: 0 \(ok\)/);
      for (let i = 0; i < 50 && srv.peers.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(srv.peers, [{ authorized: true, cn: DEFAULT_DEVICE_ID }]);
      const wrong = await sClient(srv.port, ['-CAfile', pki.caCertPath, '-verify_return_error', '-verify_hostname', 'example.com']);
      assert.match(wrong, /Verify return code: 62 \(hostname mismatch\)|hostname mismatch/);
    } finally {
      await srv.close();
    }
  });
}

test('the server certificate covers localhost, 127.0.0.1, ::1 and the host name, for serverAuth only', async () => {
  const pki = await initDevPki(tmp());
  const x = new X509Certificate(pki.cert);
  const peer = { subject: { CN: 'localhost' }, subjectaltname: x.subjectAltName } as unknown as Parameters<typeof checkServerIdentity>[1];
  for (const name of ['localhost', '127.0.0.1', '::1', hostname()]) assert.equal(checkServerIdentity(name, peer), undefined, name);
  assert.ok(checkServerIdentity('example.com', peer) instanceof Error);
  assert.deepEqual(x.keyUsage, [SERVER_AUTH]);
  assert.ok(x.checkIssued(new X509Certificate(pki.ca)));
});

test('a device certificate: CN = device id, clientAuth only, signed by the CA, for the days asked; OpenSSL agrees', async () => {
  const dir = tmp();
  const pki = await initDevPki(dir);
  const before = Date.now();
  const d = await issueDeviceCert(dir, 'sensor-42', { keyType: 'ed25519', days: 30 });
  const x = new X509Certificate(d.cert);
  const ca = new X509Certificate(pki.ca);
  assert.equal(x.subject, 'CN=sensor-42');
  assert.deepEqual(x.keyUsage, [CLIENT_AUTH]);
  assert.equal(x.ca, false);
  assert.ok(x.checkIssued(ca));
  assert.ok(x.verify(ca.publicKey));
  const days = (Date.parse(x.validTo) - before) / 86_400_000;
  assert.ok(days > 29.9 && days <= 30, String(days));
  assert.equal(readFileSync(join(dir, 'devices', 'sensor-42.crt'), 'utf8'), d.cert);
  const ok = await run('openssl', ['verify', '-CAfile', pki.caCertPath, '-purpose', 'sslclient', d.certPath]);
  assert.match(ok.stdout, /: OK/);
  // The purpose check is real: a client-only certificate is not a server certificate.
  await assert.rejects(run('openssl', ['verify', '-CAfile', pki.caCertPath, '-purpose', 'sslserver', d.certPath]));
});

test('private keys are written 0600, certificates 0644, the folders 0700', async () => {
  const dir = tmp();
  const pki = await initDevPki(dir, { keyType: 'rsa' });
  const d = await issueDeviceCert(dir, 'rsa-device', { keyType: 'rsa', force: false });
  for (const key of [pki.caKeyPath, pki.serverKeyPath, pki.device!.keyPath, d.keyPath]) assert.equal(statSync(key).mode & 0o777, 0o600, key);
  for (const cert of [pki.caCertPath, pki.serverCertPath, d.certPath]) assert.equal(statSync(cert).mode & 0o777, 0o644, cert);
  for (const folder of [dir, join(dir, 'devices')]) assert.equal(statSync(folder).mode & 0o777, 0o700, folder);
  // --force replaces a key with a fresh 0600 one.
  const again = await issueDeviceCert(dir, 'rsa-device', { force: true });
  assert.notEqual(again.key, d.key);
  assert.equal(statSync(again.keyPath).mode & 0o777, 0o600);
});

test('ensureDevPki (the broker\'s first start) creates once, then loads; a PKI without a device gets one from its CA', async () => {
  const dir = join(tmp(), 'pki');
  const first = await ensureDevPki(dir);
  assert.equal(first.created, true);
  assert.equal(first.device?.created, true);
  assert.equal(first.device?.id, DEFAULT_DEVICE_ID);
  const second = await ensureDevPki(dir);
  assert.equal(second.created, false);
  assert.equal(second.device?.created, false);
  assert.deepEqual([second.ca, second.cert, second.key, second.device?.cert], [first.ca, first.cert, first.key, first.device?.cert]);
  // A PKI made before devices existed: the device is issued by the CA already there.
  rmSync(join(dir, 'devices'), { recursive: true });
  const upgraded = await ensureDevPki(dir);
  assert.equal(upgraded.created, false);
  assert.equal(upgraded.ca, first.ca);
  assert.equal(upgraded.device?.created, true);
  assert.ok(new X509Certificate(upgraded.device!.cert).checkIssued(new X509Certificate(first.ca)));
  // A missing server certificate is reissued by the same CA.
  rmSync(join(dir, 'server.crt'));
  const reissued = await ensureDevPki(dir);
  assert.equal(reissued.created, true);
  assert.equal(reissued.ca, first.ca);
  assert.notEqual(reissued.cert, first.cert);
});

test('ensureDevPki still takes a Date as its second argument (certificates valid from the day before it)', async () => {
  const past = new Date(Date.now() - 500 * 86_400_000);
  const pki = await ensureDevPki(join(tmp(), 'pki'), past);
  const x = new X509Certificate(pki.cert);
  assert.ok(Date.parse(x.validTo) < Date.now(), 'a 397-day certificate made 500 days ago has expired');
  assert.ok(Math.abs(Date.parse(x.validFrom) - (past.getTime() - 86_400_000)) < 2000);
});

test('a CA of one key type issues devices of the others', async () => {
  const dir = tmp();
  const pki = await initDevPki(dir, { keyType: 'ed25519' });
  const ca = new X509Certificate(pki.ca);
  for (const keyType of KEY_TYPES) {
    const d = await issueDeviceCert(dir, `mixed-${keyType}`, { keyType });
    const x = new X509Certificate(d.cert);
    assert.equal(x.publicKey.asymmetricKeyType, KEY_OF[keyType].type);
    assert.ok(x.verify(ca.publicKey));
  }
});

test('device ids: path separators, empty, dot names, flags and over-long ids are refused (MOAT_ERR_PKI)', async () => {
  for (const bad of ['', 'a/b', 'a\\b', '..', '.', '.hidden', '-rf', 'x'.repeat(65), 'nul\0', 'sp ace', 'a\nb']) {
    throwsCode(() => validateDeviceId(bad), 'MOAT_ERR_PKI');
  }
  for (const good of ['sensor-1', 'a', 'x'.repeat(64), 'dev_01@site.example', 'A+B']) assert.equal(validateDeviceId(good), good);
  const dir = tmp();
  await initDevPki(dir);
  await rejectsCode(issueDeviceCert(dir, '../escape'), 'MOAT_ERR_PKI');
  await rejectsCode(initDevPki(tmp(), { deviceId: 'a/b' }), 'MOAT_ERR_PKI');
});

test('refusals: existing PKI or device without force, no CA, days out of range or past the CA, unknown key type (MOAT_ERR_PKI)', async () => {
  const dir = tmp();
  const pki = await initDevPki(dir);
  await rejectsCode(initDevPki(dir), 'MOAT_ERR_PKI');
  await issueDeviceCert(dir, 'twice');
  await rejectsCode(issueDeviceCert(dir, 'twice'), 'MOAT_ERR_PKI');
  await rejectsCode(issueDeviceCert(tmp(), 'orphan'), 'MOAT_ERR_PKI');
  for (const days of [0, -1, 1.5, 3651, Number.NaN]) await rejectsCode(issueDeviceCert(dir, 'days', { days }), 'MOAT_ERR_PKI');
  // The CA ends 3650 days after it was made: 3650 days from tomorrow is past it.
  await rejectsCode(issueDeviceCert(dir, 'late', { days: 3650, now: new Date(Date.now() + 86_400_000) }), 'MOAT_ERR_PKI');
  throwsCode(() => parseKeyType('dsa'), 'MOAT_ERR_PKI');
  // init --force: a new CA, and the old one's device no longer verifies against it.
  const fresh = await initDevPki(dir, { force: true });
  assert.notEqual(fresh.ca, pki.ca);
  const twice = new X509Certificate(readFileSync(join(dir, 'devices', 'twice.crt')));
  assert.equal(twice.verify(new X509Certificate(fresh.ca).publicKey), false);
});

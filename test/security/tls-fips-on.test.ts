/**
 * The `fips: true` listener with OpenSSL really in FIPS mode. Runs only when Node was started with
 * the FIPS provider loaded (scripts/fips-provider.sh builds it):
 *   node --openssl-config="$(bash scripts/fips-provider.sh DIR)" --enable-fips --test …/tls-fips-on.test.js
 * (scripts/run-tests.mjs does that when FIPS_OPENSSL_CNF names the openssl.cnf; .ci/run sets it.)
 * Without that it is skipped; the refusal path is covered in tls-profiles.test.ts.
 * OpenSSL 3.0's FIPS provider itself still offers X25519 (fipsprov.c lists it), so refusing X25519 is
 * Moat's job (the profile's ecdhCurve): with X25519 put back in the profile, tests 2, 3 and 5 fail.
 * ChaCha20 is not in the provider at all, so its refusal holds even if the profile listed it; that
 * test guards the FIPS setup as much as the profile.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectionOptions } from 'node:tls';
import { createHash, getFips } from 'node:crypto';
import { issue, makeCa, sClient, startTlsBroker, tempDir, writeFiles, type TlsBroker } from '../support/test-pki.js';

// Skipped only where no FIPS provider was set up: with FIPS_OPENSSL_CNF set (CI), a process that is not
// in FIPS mode fails these tests instead of skipping them.
const skip = getFips() !== 1 && !process.env.FIPS_OPENSSL_CNF && 'OpenSSL is not in FIPS mode (see scripts/fips-provider.sh)';
let ca: string;
let modern: TlsBroker;
let compatible: TlsBroker;

interface Outcome { suite?: string; group?: string; version?: string | null; error?: string }

function handshake(port: number, o: ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['mqtt'], ...o }, () => {
      const out = { suite: s.getCipher().standardName, group: (s.getEphemeralKeyInfo() as { name?: string } | null)?.name, version: s.getProtocol() };
      s.destroy();
      resolve(out);
    });
    s.on('error', (e: NodeJS.ErrnoException) => { s.destroy(); resolve({ error: e.code ?? e.message }); });
  });
}

before(async () => {
  if (skip) return;
  const dir = await tempDir();
  const caCert = await makeCa('FIPS CA');
  const server = await issue(caCert, { cn: 'localhost', role: 'server' });
  const files = await writeFiles(dir, { 'server.crt': server.pem, 'server.key': server.keyPem });
  ca = caCert.pem;
  modern = await startTlsBroker({ fips: true, certFile: files['server.crt'], keyFile: files['server.key'] });
  compatible = await startTlsBroker({ profile: 'compatible', fips: true, certFile: files['server.crt'], keyFile: files['server.key'] });
});

after(async () => {
  await Promise.all([modern?.close(), compatible?.close()]);
});

test('fips on: OpenSSL really enforces FIPS (MD5 is refused), so the checks below mean something', { skip }, () => {
  assert.throws(() => createHash('md5'), (e: NodeJS.ErrnoException) => e.code === 'ERR_OSSL_EVP_UNSUPPORTED');
});

test('fips on: TLS 1.3 with TLS_AES_128_GCM_SHA256 over P-256 (and AES-256-GCM over P-384) completes', { skip }, async () => {
  assert.deepEqual(await handshake(modern.port, {}), { suite: 'TLS_AES_128_GCM_SHA256', group: 'prime256v1', version: 'TLSv1.3' });
  assert.deepEqual(await handshake(modern.port, { ciphers: 'TLS_AES_256_GCM_SHA384', ecdhCurve: 'P-384' }),
    { suite: 'TLS_AES_256_GCM_SHA384', group: 'secp384r1', version: 'TLSv1.3' });
});

// The refusals are checked with `openssl s_client`: the system OpenSSL is not in FIPS mode (it does not
// read nodejs_conf), so it really offers X25519 and ChaCha20 and only the listener can say no.
test('fips on: a peer offering only X25519 is refused by the listener; P-256 from the same peer is served', { skip }, async () => {
  const x = await sClient(modern.port, ['-groups', 'X25519']);
  assert.match(x, /New, \(NONE\), Cipher is \(NONE\)/);
  assert.match(x, /handshake failure/i);
  assert.match(await sClient(modern.port, ['-groups', 'P-256']), /New, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/);
  // In-process too: OpenSSL 3.0's FIPS provider still has X25519, so Node's client can offer it.
  assert.deepEqual(await handshake(modern.port, { ecdhCurve: 'X25519' }), { error: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
});

test('fips on: a peer offering only ChaCha20-Poly1305 finds no suite (TLS 1.3 and TLS 1.2)', { skip }, async () => {
  const t13 = await sClient(modern.port, ['-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256']);
  assert.match(t13, /New, \(NONE\), Cipher is \(NONE\)/);
  const t12 = await sClient(compatible.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305']);
  assert.match(t12, /New, \(NONE\), Cipher is \(NONE\)/);
  assert.match(t12, /handshake failure|no cipher/i);
});

test('fips on: compatible profile serves TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 over P-256', { skip }, async () => {
  assert.deepEqual(await handshake(compatible.port, { maxVersion: 'TLSv1.2' }),
    { suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', group: 'prime256v1', version: 'TLSv1.2' });
});

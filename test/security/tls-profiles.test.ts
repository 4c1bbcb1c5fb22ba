/**
 * TLS profiles against real peers (openssl s_client, mosquitto_pub/sub): modern (TLS 1.3 only),
 * compatible (TLS 1.2 ECDHE + AEAD only), psk (TLS 1.3 and TLS 1.2 PSK next to certificates), fips,
 * ALPN mqtt and SNI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getFips } from 'node:crypto';
import { isMoatError } from '../../src/codec/index.js';
import type { AuthenticateRequest } from '../../src/broker/hooks.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBrokerConfig } from '../../src/cli/broker-config.js';
import { listenerTlsOptions, prepareTls } from '../../src/security/tls-listener.js';
import { tlsProfile } from '../../src/security/tls-profiles.js';
import { parsePskFile } from '../../src/security/tls-psk.js';
import {
  issue, makeCa, runTool, sClient, startTlsBroker, tempDir, writeFiles, eventually, captureLog, type TlsBroker,
} from '../support/test-pki.js';

const PSK = '00112233445566778899aabbccddeeff';
let dir: string;
let files: Record<'ca.crt' | 'server.crt' | 'server.key' | 'rsa-ca.crt' | 'rsa.crt' | 'rsa.key' | 'sni.crt' | 'sni.key' | 'wild.crt' | 'wild.key' | 'psk.txt', string>;
let modern: TlsBroker;
let compatible: TlsBroker;
let psk: TlsBroker;
const seen: AuthenticateRequest[] = [];

before(async () => {
  dir = await tempDir();
  const ca = await makeCa('Profiles CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  const rsaCa = await makeCa('RSA CA', 'rsa');
  const rsa = await issue(rsaCa, { cn: 'localhost', role: 'server', kind: 'rsa' });
  const sni = await issue(ca, { cn: 'a.test', role: 'server', names: [{ type: 'dns', value: 'a.test' }] });
  const wild = await issue(ca, { cn: 'wild', role: 'server', names: [{ type: 'dns', value: '*.wild.test' }] });
  files = await writeFiles(dir, {
    'ca.crt': ca.pem, 'server.crt': server.pem, 'server.key': server.keyPem,
    'rsa-ca.crt': rsaCa.pem, 'rsa.crt': rsa.pem, 'rsa.key': rsa.keyPem,
    'sni.crt': sni.pem, 'sni.key': sni.keyPem, 'wild.crt': wild.pem, 'wild.key': wild.keyPem,
    'psk.txt': `# devices\ndev1:${PSK}\n\nlegacy:ffeeddccbbaa99887766554433221100\n`,
  });
  modern = await startTlsBroker({
    certFile: files['server.crt'], keyFile: files['server.key'],
    sni: { 'a.test': { certFile: files['sni.crt'], keyFile: files['sni.key'] }, '*.wild.test': { certFile: files['wild.crt'], keyFile: files['wild.key'] } },
  });
  // RSA certificate: RSA key exchange would be possible if the profile let it through.
  compatible = await startTlsBroker({ profile: 'compatible', certFile: files['rsa.crt'], keyFile: files['rsa.key'] });
  psk = await startTlsBroker({ profile: 'psk', certFile: files['server.crt'], keyFile: files['server.key'], pskFile: files['psk.txt'] }, {
    hooks: { authenticate: [(req) => { seen.push(req); return { verdict: 'allow' }; }] },
  });
});

after(async () => {
  await Promise.all([modern.close(), compatible.close(), psk.close()]);
});

test('modern: TLS 1.3 with ALPN mqtt and the chain verified; a client without ALPN still connects', async () => {
  const out = await sClient(modern.port, ['-CAfile', files['ca.crt'], '-alpn', 'mqtt', '-verify_return_error', '-servername', 'localhost']);
  assert.match(out, /New, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/);
  assert.match(out, /ALPN protocol: mqtt/);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  const noAlpn = await sClient(modern.port, ['-CAfile', files['ca.crt'], '-verify_return_error']);
  assert.match(noAlpn, /New, TLSv1\.3/);
  assert.match(noAlpn, /No ALPN negotiated/);
});

test('modern: the three TLS 1.3 suites and groups X25519 / P-256 are offered, nothing else', async () => {
  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    assert.match(await sClient(modern.port, ['-ciphersuites', suite]), new RegExp(`New, TLSv1\\.3, Cipher is ${suite}`));
  }
  assert.match(await sClient(modern.port, ['-ciphersuites', 'TLS_AES_128_CCM_SHA256']), /New, \(NONE\), Cipher is \(NONE\)/);
  assert.match(await sClient(modern.port, ['-groups', 'P-256']), /New, TLSv1\.3/);
  assert.match(await sClient(modern.port, ['-groups', 'X25519']), /New, TLSv1\.3/);
  assert.match(await sClient(modern.port, ['-groups', 'P-384']), /New, \(NONE\), Cipher is \(NONE\)/);
});

test('modern: TLS 1.2, 1.1 and 1.0 are refused (alert protocol version) and counted as failed handshakes', async () => {
  const before = modern.listener.tls!.stats().failed;
  for (const v of ['-tls1_2', '-tls1_1', '-tls1']) {
    const out = await sClient(modern.port, [v, '-cipher', 'DEFAULT@SECLEVEL=0']);
    assert.match(out, /alert protocol version|unsupported protocol|no protocols available/, v);
    assert.match(out, /New, \(NONE\), Cipher is \(NONE\)/, v);
  }
  // The server saw the TLS 1.2 attempt (1.1/1.0 OpenSSL may refuse before sending anything).
  await eventually(() => modern.listener.tls!.stats().failed > before, 3000, 'failed handshake counted');
  assert.ok(modern.log.lines.some((l) => l.msg === 'TLS handshake failed' && /VERSION|PROTOCOL/i.test(String(l.obj['code']))));
});

test('modern: a client offering only another ALPN protocol is refused (no_application_protocol)', async () => {
  const out = await sClient(modern.port, ['-alpn', 'h2']);
  assert.match(out, /no application protocol/);
});

test('SNI: per-name certificates, wildcards, and the default certificate for other names', async () => {
  const subject = async (name: string): Promise<string> => {
    const out = await sClient(modern.port, ['-servername', name, '-CAfile', files['ca.crt']]);
    return /subject=CN ?= ?([^\n]+)/.exec(out)?.[1]?.trim() ?? out;
  };
  assert.equal(await subject('a.test'), 'a.test');
  assert.equal(await subject('A.TEST'), 'a.test');
  assert.equal(await subject('x.wild.test'), 'wild');
  assert.equal(await subject('b.test'), 'localhost');
  assert.equal(await subject('deeper.x.wild.test'), 'localhost');
});

test('compatible: TLS 1.2 with ECDHE + AEAD works; RSA key exchange, CBC and SHA-1 suites are refused', async () => {
  for (const c of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
    assert.match(await sClient(compatible.port, ['-tls1_2', '-cipher', c]), new RegExp(`New, TLSv1\\.2, Cipher is ${c}`), c);
  }
  for (const c of ['AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-SHA256', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES128-SHA', 'AES128-SHA']) {
    const out = await sClient(compatible.port, ['-tls1_2', '-cipher', `${c}@SECLEVEL=0`]);
    assert.match(out, /New, \(NONE\), Cipher is \(NONE\)/, c);
    assert.match(out, /handshake failure|no cipher/i, c);
  }
  assert.match(await sClient(compatible.port, []), /New, TLSv1\.3/);
  assert.match(await sClient(compatible.port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']), /New, \(NONE\), Cipher is \(NONE\)/);
});

test('psk: openssl s_client with the right PSK gets TLS 1.3 without a certificate; a wrong PSK is refused and logged', async () => {
  const ok = await sClient(psk.port, ['-psk_identity', 'dev1', '-psk', PSK]);
  assert.match(ok, /TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/);
  assert.doesNotMatch(ok, /Server certificate/);
  const bad = await sClient(psk.port, ['-psk_identity', 'dev1', '-psk', 'ffffffffffffffffffffffffffffffff']);
  assert.match(bad, /New, \(NONE\), Cipher is \(NONE\)/);
  await eventually(() => psk.log.lines.some((l) => l.level === 'warn' && /BINDER/.test(String(l.obj['code']))), 3000, 'binder failure logged');
  assert.ok(psk.listener.tls!.stats().psk >= 1);
  // The key never reaches the log.
  assert.ok(!JSON.stringify(psk.log.lines).includes(PSK));
});

test('psk: TLS 1.2 PSK-AES128-GCM-SHA256 for legacy stacks; TLS 1.2 with certificates is not offered', async () => {
  const ok = await sClient(psk.port, ['-tls1_2', '-cipher', 'PSK-AES128-GCM-SHA256', '-psk_identity', 'legacy', '-psk', 'ffeeddccbbaa99887766554433221100']);
  assert.match(ok, /New, TLSv1\.2, Cipher is PSK-AES128-GCM-SHA256/);
  const failed = psk.listener.tls!.stats().failed;
  const wrong = await sClient(psk.port, ['-tls1_2', '-cipher', 'PSK-AES128-GCM-SHA256', '-psk_identity', 'legacy', '-psk', PSK]);
  assert.match(wrong, /alert bad record mac/);
  await eventually(() => psk.listener.tls!.stats().failed > failed, 3000, 'TLS 1.2 wrong PSK counted as failed');
  assert.match(await sClient(psk.port, ['-tls1_2']), /New, \(NONE\), Cipher is \(NONE\)/);
});

test('psk: certificate clients share the listener (TLS 1.3, chain verified)', async () => {
  const out = await sClient(psk.port, ['-CAfile', files['ca.crt'], '-verify_return_error']);
  assert.match(out, /New, TLSv1\.3/);
  assert.match(out, /Verify return code: 0 \(ok\)/);
});

test('psk: mosquitto_pub/mosquitto_sub with --psk; the PSK identity reaches the authenticate hook', async () => {
  const common = ['-h', '127.0.0.1', '-p', String(psk.port), '--psk', PSK, '--psk-identity', 'dev1', '-V', 'mqttv5'];
  const sub = runTool('mosquitto_sub', [...common, '-i', 'psk-sub', '-t', 'psk/t', '-C', '1', '-W', '8'], 9000);
  // Retained: the subscriber gets it whether or not its SUBSCRIBE was handled first.
  const pub = await runTool('mosquitto_pub', [...common, '-i', 'psk-pub', '-t', 'psk/t', '-m', 'over-psk', '-q', '1', '-r']);
  assert.equal(pub.code, 0, pub.out);
  const got = await sub;
  assert.equal(got.code, 0, got.out);
  assert.match(got.out, /over-psk/);
  const req = seen.find((r) => r.clientId === 'psk-pub')!;
  assert.equal(req.transport, 'tls');
  assert.equal(req.tls?.pskIdentity, 'dev1');
  assert.equal(req.tls?.peerCertificate, undefined);
  const wrong = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(psk.port), '--psk', 'ffffffffffffffffffffffffffffffff',
    '--psk-identity', 'dev1', '-i', 'psk-wrong', '-t', 'psk/t', '-m', 'x']);
  assert.notEqual(wrong.code, 0);
  assert.ok(!seen.some((r) => r.clientId === 'psk-wrong'));
});

test('psk without a certificate: a PSK-only listener serves PSK devices (TLS 1.3 and 1.2) and refuses certificate clients', async () => {
  const b = await startTlsBroker({ profile: 'psk', pskFile: files['psk.txt'] });
  try {
    assert.match(await sClient(b.port, ['-psk_identity', 'dev1', '-psk', PSK]), /Reused, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/);
    assert.match(await sClient(b.port, ['-tls1_2', '-cipher', 'PSK-AES128-GCM-SHA256', '-psk_identity', 'dev1', '-psk', PSK]), /New, TLSv1\.2, Cipher is PSK-AES128-GCM-SHA256/);
    assert.match(await sClient(b.port, []), /New, \(NONE\), Cipher is \(NONE\)/);
    assert.equal(b.listener.tls!.stats().psk, 2);
  } finally {
    await b.close();
  }
});

test('psk: a TLS 1.2 PSK suite with a key exchange (ECDHE-PSK-…) counts as a PSK handshake and gives the hook the PSK identity', async () => {
  const ids: AuthenticateRequest[] = [];
  // The suite is not in the psk profile (its TLS 1.2 suite is PSK-AES128-GCM-SHA256): a TLS 1.2 listener that allows it.
  const b = await startTlsBroker({ profile: 'psk', pskFile: files['psk.txt'], ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', maxVersion: 'TLSv1.2' }, {
    hooks: { authenticate: [(req) => { ids.push(req); return { verdict: 'allow' }; }] },
  });
  try {
    const pub = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port), '--psk', PSK, '--psk-identity', 'dev1',
      '--tls-version', 'tlsv1.2', '--ciphers', 'ECDHE-PSK-CHACHA20-POLY1305', '-i', 'ecdhe-psk', '-t', 'psk/e', '-m', 'x', '-q', '1']);
    assert.equal(pub.code, 0, pub.out);
    const req = ids.find((r) => r.clientId === 'ecdhe-psk')!;
    assert.equal(req.tls?.protocol, 'TLSv1.2');
    assert.equal(req.tls?.cipher, 'ECDHE-PSK-CHACHA20-POLY1305');
    // Before the fix only PSK-… names counted: this was a full handshake without an identity.
    assert.equal(req.tls?.pskIdentity, 'dev1');
    assert.deepEqual({ psk: b.listener.tls!.stats().psk, full: b.listener.tls!.stats().full }, { psk: 1, full: 0 });
  } finally {
    await b.close();
  }
});

test('psk: the profile needs a PSK file; a broken PSK file stops the start with MOAT_ERR_TLS_FILE naming the line', async () => {
  const log = captureLog();
  await assert.rejects(prepareTls({ profile: 'psk', certFile: files['server.crt'], keyFile: files['server.key'] }, log, 'x'),
    (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  const [bad] = Object.values(await writeFiles(dir, { 'bad-psk.txt': 'dev1:0011\n' }));
  await assert.rejects(prepareTls({ profile: 'psk', pskFile: bad! }, log, 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE') && /line 1/.test(e.message));
  assert.throws(() => parsePskFile('dev1:xyz0011223344556677889900aabbccdd\n'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
  assert.throws(() => parsePskFile(`a:${PSK}\na:${PSK}\n`), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE') && /line 2/.test(e.message));
  assert.deepEqual([...parsePskFile(`# c\n\n d1:${PSK} \n`).keys()], ['d1']);
});

test('fips: refused with MOAT_ERR_TLS_FIPS unless OpenSSL runs in FIPS mode; in FIPS mode only approved suites and groups', { skip: getFips() === 1 && 'FIPS is on here' }, async () => {
  await assert.rejects(prepareTls({ fips: true, certFile: files['server.crt'], keyFile: files['server.key'] }, captureLog(), 'x'),
    (e) => isMoatError(e, 'MOAT_ERR_TLS_FIPS'));
  const p = tlsProfile('compatible', { fips: true, fipsEnabled: true });
  assert.doesNotMatch(p.ciphers, /CHACHA/);
  assert.match(p.ciphers, /TLS_AES_128_GCM_SHA256/);
  assert.match(p.ciphers, /ECDHE-ECDSA-AES128-GCM-SHA256/);
  assert.equal(p.ecdhCurve, 'P-256:P-384');
  assert.doesNotMatch(p.sigalgs, /ed25519/);
});

test('an unknown profile name is a MOAT_ERR_CONFIG', async () => {
  await assert.rejects(prepareTls({ profile: 'legacy' as 'modern', certFile: files['server.crt'], keyFile: files['server.key'] }, captureLog(), 'x'),
    (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
});

test('config file keys (tlsProfile, pskFile, sni, ticketKeyFile, certIdentity…) become a working listener through listenerTlsOptions', async () => {
  const yaml = join(dir, 'moat.yaml');
  await writeFile(yaml, [
    'listeners:',
    '  - url: mqtts://127.0.0.1:0',
    `    cert: ${files['rsa.crt']}`,
    `    key: ${files['rsa.key']}`,
    '    tlsProfile: compatible',
    `    ticketKeyFile: ${join(dir, 'cfg-tickets.key')}`,
    '    ticketRotationSeconds: 3600',
    '    sessionTimeout: 86400',
    '    certIdentity: san-dns',
    '    sni:',
    `      a.test: { cert: ${files['sni.crt']}, key: ${files['sni.key']} }`,
    '',
  ].join('\n'));
  const cfg = resolveBrokerConfig({ config: yaml, listen: [], limits: [] }, {});
  const l = cfg.listeners[0]!;
  assert.equal(l.tlsProfile, 'compatible');
  assert.equal(l.ticketRotationSeconds, 3600);
  assert.equal(l.sessionTimeout, 86_400);
  const opts = listenerTlsOptions(l, { certFile: 'unused', keyFile: 'unused' });
  assert.equal(opts.clientCert, 'none');
  const b = await startTlsBroker(opts);
  try {
    const t12 = await sClient(b.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.match(t12, /New, TLSv1\.2/);
    assert.match(t12, /TLS session ticket lifetime hint: 86400 \(seconds\)/, 'sessionTimeout from the file');
    assert.match(await sClient(b.port, ['-servername', 'a.test']), /subject=CN ?= ?a\.test/);
  } finally {
    await b.close();
  }
  const bad = async (body: string): Promise<void> => {
    await writeFile(yaml, `listeners:\n  - url: mqtts://127.0.0.1:0\n${body}`);
    assert.throws(() => resolveBrokerConfig({ config: yaml, listen: [], limits: [] }, {}), (e) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  };
  await bad('    tlsProfile: legacy\n');
  await bad('    tlsProfile: psk\n');
  await bad('    certIdentity: ou\n');
  await bad('    ticketRotationSeconds: -1\n');
  await bad('    sessionTimeout: 0\n');
  await bad('    sessionTimeout: 604801\n');
  await bad('    sni:\n      a.test: { cert: x }\n');
  await bad('    fips: maybe\n');
});

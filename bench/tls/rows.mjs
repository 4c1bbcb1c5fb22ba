/**
 * The benchmark's certificates and rows. Certificates come from Moat's dev PKI (initDevPki) with each
 * key type; the device CA for mutual TLS is a PKI of its own, as docs/security.md advises (one CA for
 * both would put its root into every server Certificate message). Each row says how Moat's listener is
 * configured (configuration keys), what the bare server gets, and what the client does.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PSK_IDENTITY = 'bench-device';

export async function makePki(dist, tmp) {
  const { initDevPki } = await import(pathToFileURL(join(dist, 'security', 'dev-pki.js')).href);
  const pki = {};
  for (const keyType of ['ecdsa', 'ed25519', 'rsa']) {
    const p = await initDevPki(join(tmp, `pki-${keyType}`), { keyType });
    pki[keyType] = { certFile: p.serverCertPath, keyFile: p.serverKeyPath };
  }
  const devices = await initDevPki(join(tmp, 'pki-devices'), { keyType: 'ecdsa' });
  pki.deviceCa = devices.caCertPath;
  pki.device = { certFile: devices.device.certPath, keyFile: devices.device.keyPath };
  pki.pskKeyHex = randomBytes(32).toString('hex');
  pki.pskFile = join(tmp, 'psk.txt');
  writeFileSync(pki.pskFile, `# identity:hexkey\n${PSK_IDENTITY}:${pki.pskKeyHex}\n`, { mode: 0o600 });
  return pki;
}

/**
 * id, label; moat: the listener's configuration keys; bare: bare-server.mjs spec; client: load.mjs
 * client spec; check(stats) → an error text when the handshakes were not of the row's kind.
 */
export function rows(pki) {
  const ecdsa = { cert: pki.ecdsa.certFile, key: pki.ecdsa.keyFile };
  const bareEcdsa = { certFile: pki.ecdsa.certFile, keyFile: pki.ecdsa.keyFile };
  const tls13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
  const full = (kt) => ({
    moat: { cert: pki[kt].certFile, key: pki[kt].keyFile },
    bare: { certFile: pki[kt].certFile, keyFile: pki[kt].keyFile, profile: 'modern' },
    client: { ...tls13 },
  });
  return [
    { id: 'ecdsa', label: 'TLS 1.3 full, ECDSA P-256', ...full('ecdsa') },
    { id: 'ed25519', label: 'TLS 1.3 full, Ed25519', ...full('ed25519') },
    { id: 'rsa', label: 'TLS 1.3 full, RSA 2048', ...full('rsa') },
    {
      id: 'resumed', label: 'TLS 1.3 resumed (ticket), ECDSA',
      moat: { ...ecdsa }, bare: { ...bareEcdsa, profile: 'modern' }, client: { ...tls13, resume: true },
      check: (s) => (s.resumed < 0.95 * s.done ? `only ${s.resumed} of ${s.done} handshakes resumed` : undefined),
    },
    {
      id: 'psk', label: 'TLS 1.3 PSK (psk profile, PSK file)',
      moat: { ...ecdsa, tlsProfile: 'psk', pskFile: pki.pskFile },
      bare: { ...bareEcdsa, profile: 'psk', pskFile: pki.pskFile },
      client: { ...tls13, ciphers: 'TLS_AES_128_GCM_SHA256', psk: { identity: PSK_IDENTITY, keyHex: pki.pskKeyHex } },
      // OpenSSL reports an external PSK handshake as reused.
      check: (s) => (s.resumed < 0.95 * s.done ? `only ${s.resumed} of ${s.done} handshakes used the PSK` : undefined),
    },
    {
      id: 'mtls', label: 'TLS 1.3 mutual TLS, ECDSA (client certificate required)',
      moat: { ...ecdsa, ca: pki.deviceCa, requireClientCert: true },
      bare: { ...bareEcdsa, profile: 'modern', caFile: pki.deviceCa, requireClientCert: true },
      client: { ...tls13, certFile: pki.device.certFile, keyFile: pki.device.keyFile },
    },
    {
      id: 'tls12', label: 'TLS 1.2 (compatible profile), ECDHE-ECDSA-AES128-GCM-SHA256',
      moat: { ...ecdsa, tlsProfile: 'compatible' }, bare: { ...bareEcdsa, profile: 'compatible' },
      client: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
    },
  ];
}

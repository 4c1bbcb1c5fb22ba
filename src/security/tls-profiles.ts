/**
 * TLS profiles: which protocol versions, cipher suites, groups and signature algorithms a listener
 * offers. Everything here is an option for Node's `tls` (OpenSSL); Moat does no cryptography itself.
 *
 * - `modern` (default): TLS 1.3 only.
 * - `compatible`: also TLS 1.2, ECDHE key exchange with AEAD ciphers only (no RSA key exchange, no CBC,
 *   no SHA-1).
 * - `psk`: `modern` plus pre-shared keys (TLS 1.3 PSK, and TLS 1.2 PSK-AES128-GCM-SHA256 for legacy
 *   stacks); certificate clients may use the same listener.
 * - `fips: true` on any profile: only FIPS-approved suites and groups, and only when OpenSSL runs in
 *   FIPS mode.
 */
import { getFips } from 'node:crypto';
import { MoatError } from '../codec/index.js';

export type TlsProfileName = 'modern' | 'compatible' | 'psk';
export const TLS_PROFILES: readonly TlsProfileName[] = ['modern', 'compatible', 'psk'];

/** The profile part of tls.SecureContextOptions. */
export interface TlsProfileOptions {
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1.3';
  /** Node takes TLS 1.3 suites (TLS_…) and TLS 1.2 ciphers in one OpenSSL string. */
  ciphers: string;
  ecdhCurve: string;
  sigalgs: string;
  /** Server preference: the order below decides, not the client's. */
  honorCipherOrder: true;
}

// SHA-256 suites first: OpenSSL uses a TLS 1.3 external PSK only when the chosen suite hashes with
// SHA-256, and with server preference a SHA-384 suite first would silently turn PSK clients away.
const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const TLS13_PSK_ORDER = ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'];
const TLS13_FIPS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'];

/** TLS 1.2: ephemeral ECDH (forward secrecy) and AEAD only. */
const TLS12_ECDHE_AEAD = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
];
const TLS12_ECDHE_AEAD_FIPS = TLS12_ECDHE_AEAD.filter((c) => !c.includes('CHACHA'));
/** Legacy PSK stacks (no forward secrecy: the PSK protects past traffic too; docs/security.md says so). */
const TLS12_PSK = ['PSK-AES128-GCM-SHA256'];

/** No SHA-1 and no MD5 in handshake signatures, for TLS 1.2 as TLS 1.3 already requires. */
const SIGALGS = [
  'ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384', 'ecdsa_secp521r1_sha512', 'ed25519', 'ed448',
  'rsa_pss_rsae_sha256', 'rsa_pss_rsae_sha384', 'rsa_pss_rsae_sha512',
  'rsa_pss_pss_sha256', 'rsa_pss_pss_sha384', 'rsa_pss_pss_sha512',
  'rsa_pkcs1_sha256', 'rsa_pkcs1_sha384', 'rsa_pkcs1_sha512',
];
const SIGALGS_FIPS = SIGALGS.filter((s) => !s.startsWith('ed'));

export function isTlsProfileName(v: unknown): v is TlsProfileName {
  return typeof v === 'string' && (TLS_PROFILES as readonly string[]).includes(v);
}

/**
 * The options of one profile. `fips` asks for FIPS-approved algorithms only; it throws
 * MOAT_ERR_TLS_FIPS unless OpenSSL is in FIPS mode (`fipsEnabled` defaults to crypto.getFips()).
 */
export function tlsProfile(name: TlsProfileName, opts: { fips?: boolean; fipsEnabled?: boolean } = {}): TlsProfileOptions {
  if (!isTlsProfileName(name)) {
    throw new MoatError('MOAT_ERR_CONFIG', `unknown TLS profile "${String(name)}"; known: ${TLS_PROFILES.join(', ')}`);
  }
  const fips = opts.fips === true;
  if (fips) requireFips(opts.fipsEnabled);
  const tls13 = fips ? TLS13_FIPS : name === 'psk' ? TLS13_PSK_ORDER : TLS13;
  const tls12 = name === 'compatible' ? (fips ? TLS12_ECDHE_AEAD_FIPS : TLS12_ECDHE_AEAD) : name === 'psk' ? TLS12_PSK : [];
  return {
    // psk allows TLS 1.2 for PSK-AES128-GCM-SHA256 only: certificate clients find no TLS 1.2 cipher.
    minVersion: tls12.length > 0 ? 'TLSv1.2' : 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: [...tls13, ...tls12].join(':'),
    // X25519 is not a FIPS 140-2 approved group; P-256/P-384 are.
    ecdhCurve: fips ? 'P-256:P-384' : name === 'modern' ? 'X25519:P-256' : 'X25519:P-256:P-384',
    sigalgs: (fips ? SIGALGS_FIPS : SIGALGS).join(':'),
    honorCipherOrder: true,
  };
}

/** Refuses to go on unless OpenSSL runs in FIPS mode. */
export function requireFips(enabled: boolean = getFips() === 1): void {
  if (!enabled) {
    throw new MoatError('MOAT_ERR_TLS_FIPS',
      'fips: true needs OpenSSL in FIPS mode (crypto.getFips() is 0): start Node with --enable-fips or an OpenSSL config that loads the FIPS provider');
  }
}

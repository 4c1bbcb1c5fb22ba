/**
 * The lab's matrix: which modes take a server key type, the client TLS options each mode connects
 * with, and the check that the handshake gave what the mode asked for (a mislabelled row would be a
 * measurement of something else).
 */
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { MoatError } from '../codec/index.js';
import { LAB_KEYS, LAB_MODES, type LabKey, type LabMode } from './report.js';

export interface ModeSpec {
  /** undefined: plain TCP. */
  version?: 'TLSv1.2' | 'TLSv1.3';
  /** Resumes a session (ticket) from an earlier connection. */
  resumed: boolean;
  psk: boolean;
  /** Client certificate required. */
  mutual: boolean;
}

export const MODE_SPECS: Record<LabMode, ModeSpec> = {
  'plain': { resumed: false, psk: false, mutual: false },
  'tls12-full': { version: 'TLSv1.2', resumed: false, psk: false, mutual: false },
  'tls12-resumed': { version: 'TLSv1.2', resumed: true, psk: false, mutual: false },
  'tls13-full': { version: 'TLSv1.3', resumed: false, psk: false, mutual: false },
  'tls13-resumed': { version: 'TLSv1.3', resumed: true, psk: false, mutual: false },
  'tls13-psk': { version: 'TLSv1.3', resumed: false, psk: true, mutual: false },
  'tls12-psk': { version: 'TLSv1.2', resumed: false, psk: true, mutual: false },
  'mtls13': { version: 'TLSv1.3', resumed: false, psk: false, mutual: true },
};

/** Plain and PSK modes have no server certificate, so no key type. */
export const hasServerKey = (mode: LabMode): boolean => MODE_SPECS[mode].version !== undefined && !MODE_SPECS[mode].psk;

export interface LabCase {
  mode: LabMode;
  key?: LabKey;
}

/** The rows, in LAB_MODES order, each keyed mode once per selected key type. */
export function labCases(modes: readonly LabMode[] = LAB_MODES, keys: readonly LabKey[] = LAB_KEYS): LabCase[] {
  const cases: LabCase[] = [];
  for (const mode of LAB_MODES) {
    if (!modes.includes(mode)) continue;
    if (!hasServerKey(mode)) cases.push({ mode });
    else for (const key of LAB_KEYS) if (keys.includes(key)) cases.push({ mode, key });
  }
  return cases;
}

export const caseName = (c: LabCase): string => (c.key ? `${c.mode} ${c.key}` : c.mode);

/** What the client holds: the CA, a device certificate (mTLS), a PSK. */
export interface ClientCredentials {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  psk?: { identity: string; key: Buffer };
  servername?: string;
  /** Do not verify the server certificate (only for --url with --insecure). */
  insecure?: boolean;
}

/** The only TLS 1.2 PSK suite the psk profile offers (src/security/tls-profiles.ts). */
const TLS12_PSK_CIPHER = 'PSK-AES128-GCM-SHA256';

/** tls.connect options for a mode (without socket and session); undefined for plain. */
export function clientTlsOptions(mode: LabMode, creds: ClientCredentials): ConnectionOptions | undefined {
  const spec = MODE_SPECS[mode];
  if (!spec.version) return undefined;
  const o: ConnectionOptions = { minVersion: spec.version, maxVersion: spec.version, ALPNProtocols: ['mqtt'] };
  if (creds.servername !== undefined) o.servername = creds.servername;
  if (spec.psk) {
    const psk = creds.psk;
    if (!psk) throw new MoatError('MOAT_ERR_LAB_SETUP', `${mode} needs a PSK identity and key`);
    o.pskCallback = () => ({ psk: psk.key, identity: psk.identity });
    // TLS 1.3 external PSKs need a SHA-256 suite; TLS 1.2 needs a PSK suite, which has no certificate.
    o.ciphers = spec.version === 'TLSv1.2' ? TLS12_PSK_CIPHER : 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
    // No certificate to check the name against: the PSK itself authenticates the server.
    o.checkServerIdentity = () => undefined;
    return o;
  }
  if (creds.ca !== undefined) o.ca = creds.ca;
  o.rejectUnauthorized = creds.insecure !== true;
  if (spec.mutual) {
    if (creds.cert === undefined || creds.key === undefined) throw new MoatError('MOAT_ERR_LAB_SETUP', `${mode} needs a client certificate and key`);
    o.cert = creds.cert;
    o.key = creds.key;
  }
  return o;
}

export interface Negotiated {
  protocol?: string;
  /** IANA standard name. */
  cipher?: string;
  group?: string;
  resumed?: boolean;
  /** Whether the server sent a certificate. */
  serverCertificate: boolean;
}

export function negotiated(socket: TLSSocket): Negotiated {
  const c = socket.getCipher();
  const key = socket.getEphemeralKeyInfo() as { name?: string } | null;
  const n: Negotiated = { resumed: socket.isSessionReused(), serverCertificate: socket.getPeerX509Certificate() !== undefined };
  const protocol = socket.getProtocol();
  if (protocol) n.protocol = protocol;
  const cipher = c?.standardName ?? c?.name;
  if (cipher) n.cipher = cipher;
  if (key?.name) n.group = key.name;
  return n;
}

/**
 * Throws MOAT_ERR_LAB_CHECK unless the handshake is what the mode asked for: the protocol version, a
 * resumed session exactly for the resumed modes, a PSK suite (and no certificate) for the PSK modes.
 */
export function checkNegotiated(mode: LabMode, n: Negotiated, what: string): void {
  const spec = MODE_SPECS[mode];
  const fail = (why: string): never => {
    throw new MoatError('MOAT_ERR_LAB_CHECK', `${what}: ${why} (protocol ${n.protocol ?? '-'}, cipher ${n.cipher ?? '-'}, resumed ${String(n.resumed)})`);
  };
  if (n.protocol !== spec.version) fail(`${mode} asked for ${spec.version ?? 'no TLS'}`);
  if (spec.resumed && n.resumed !== true) fail(`${mode} did not resume the session`);
  if (!spec.resumed && !spec.psk && n.resumed === true) fail(`${mode} was resumed but should be a full handshake`);
  if (spec.psk) {
    if (n.serverCertificate) fail(`${mode} got a server certificate: the PSK was not used`);
    // TLS 1.2 PSK is a PSK suite; TLS 1.3 external PSKs show up as a resumed session in OpenSSL.
    if (spec.version === 'TLSv1.2' && !(n.cipher ?? '').includes('PSK')) fail(`${mode} did not negotiate a PSK suite`);
    if (spec.version === 'TLSv1.3' && n.resumed !== true) fail(`${mode} did not use the PSK`);
  } else if (spec.version && !n.resumed && !n.serverCertificate) {
    fail(`${mode} got no server certificate`);
  }
}

/**
 * The files of a TLS listener turned into OpenSSL contexts: read (certificate, key, device CA, CRL,
 * PSKs, SNI names), then built once with createSecureContext so a broken file fails here, with the
 * file named, and never inside a handshake.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { MoatError } from '../codec/index.js';
import type { ClientCertMode, Pem, TlsListenerOptions } from './tls-options.js';
import { loadPskFile, type PskTable } from './tls-psk.js';

export interface Material {
  cert?: SecureContextOptions['cert'];
  key?: SecureContextOptions['key'];
  ca?: SecureContextOptions['ca'];
  crl?: SecureContextOptions['crl'];
  psk?: PskTable;
  sni: Array<[string, { cert: Pem; key: Pem }]>;
}

export interface BuiltContexts {
  /** For createServer / setSecureContext. */
  options: SecureContextOptions;
  /** Per SNI name (lower case, `*.domain` for wildcards). */
  sni: Map<string, SecureContext>;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new MoatError('MOAT_ERR_TLS_FILE', `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

export async function loadMaterial(o: TlsListenerOptions, mode: ClientCertMode, name: string): Promise<Material> {
  const m: Material = { cert: o.cert, key: o.key, sni: [] };
  if (o.certFile) m.cert = await readPem(o.certFile, 'certificate file');
  if (o.keyFile) m.key = await readPem(o.keyFile, 'key file');
  // Without client certificates the CA has no use; leaving it out also stops OpenSSL from building
  // the server chain from it (it sends the root when the same CA issued the server certificate).
  if (mode !== 'none') {
    m.ca = o.caFile ? await readPem(o.caFile, 'CA file') : o.ca;
    m.crl = o.crlFile ? await readPem(o.crlFile, 'CRL file') : o.crl;
  }
  if (o.pskFile) m.psk = await loadPskFile(o.pskFile);
  for (const [host, e] of Object.entries(o.sni ?? {})) {
    const cert = e.certFile ? await readPem(e.certFile, `certificate file for ${host}`) : e.cert;
    const key = e.keyFile ? await readPem(e.keyFile, `key file for ${host}`) : e.key;
    if (!cert || !key) throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: sni "${host}" needs cert and key`);
    m.sni.push([host.toLowerCase(), { cert, key }]);
  }
  return m;
}

function digest(parts: Array<SecureContextOptions['ca'] | string>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    for (const x of Array.isArray(p) ? p : [p]) h.update(x === undefined ? '-' : x).update('\0');
  }
  return h.digest('hex');
}

function pskDigest(t: PskTable | undefined): string {
  if (!t) return '-';
  const h = createHash('sha256');
  for (const [id, key] of [...t].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(id).update('\0').update(key);
  return h.digest('hex');
}

/**
 * Explicit and stable: Node's default is a hash of the command line, so a restart with other flags
 * (or another node of a cluster) could not resume. It changes with what decides who may connect
 * (`decisive`: profile and client certificate mode; plus CA, CRL and PSKs), so a revocation also
 * ends resumption.
 */
export function sessionIdContext(m: Material, decisive: string[]): string {
  return digest(['moat', ...decisive, m.ca, m.crl, pskDigest(m.psk)]).slice(0, 32);
}

/** `base` holds the profile and caller overrides; the material and ticket key are added to it. */
export function buildContexts(m: Material, base: SecureContextOptions, sidContext: string, ticketKeys: Buffer, name: string): BuiltContexts {
  const options: SecureContextOptions = {
    ...base, cert: m.cert, key: m.key, ca: m.ca, crl: m.crl, sessionIdContext: sidContext, ticketKeys,
  };
  try {
    createSecureContext(options);
  } catch (cause) {
    throw new MoatError('MOAT_ERR_TLS_FILE', `listener ${name}: certificate, key, CA or CRL rejected by OpenSSL: ${(cause as Error).message}`, { cause });
  }
  const sni = new Map<string, SecureContext>();
  for (const [host, e] of m.sni) {
    try {
      sni.set(host, createSecureContext({ ...options, cert: e.cert, key: e.key }));
    } catch (cause) {
      throw new MoatError('MOAT_ERR_TLS_FILE', `listener ${name}: certificate or key for SNI name ${host} rejected by OpenSSL: ${(cause as Error).message}`, { cause });
    }
  }
  return { options, sni };
}

export function sniLookup(contexts: Map<string, SecureContext>, name: string): SecureContext | undefined {
  const lower = name.toLowerCase();
  const exact = contexts.get(lower);
  if (exact) return exact;
  const dot = lower.indexOf('.');
  return dot > 0 ? contexts.get(`*${lower.slice(dot)}`) : undefined;
}

/**
 * Everything a TLS listener needs besides the socket server: the profile's options, certificates,
 * device CA, CRL, PSKs and SNI names read from files; client certificate checks with a logged reason;
 * ticket keys with rotation; handshake counters; hot reload through server.setSecureContext. The
 * listener (src/broker/listeners.ts) creates the server with `serverOptions` and calls `attach` and
 * `admit`; OpenSSL does every cryptographic step.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions,
} from 'node:tls';
import { MoatError } from '../codec/index.js';
import { identityFromParts, type CertIdentityField } from './tls-identity.js';
import { tlsProfile, type TlsProfileName } from './tls-profiles.js';
import { loadPskFile, type PskTable } from './tls-psk.js';
import { fileTicketKeys, memoryTicketKeys, type TicketKeySource } from './tls-tickets.js';

export type ClientCertMode = 'none' | 'optional' | 'required';

/** Structural: the broker's Logger (pino) fits. */
export interface TlsLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type Pem = string | Buffer | Array<string | Buffer>;

/** A certificate for one SNI name (or `*.domain`): files (reloaded) or PEM. */
export interface SniEntry {
  certFile?: string;
  keyFile?: string;
  cert?: Pem;
  key?: Pem;
}

export interface TlsListenerConfig {
  /** Default `modern`. */
  profile?: TlsProfileName;
  /** FIPS-approved algorithms only; refuses to start unless OpenSSL is in FIPS mode. */
  fips?: boolean;
  /** Server certificate chain (leaf first, then intermediates) and key, PEM files; reloaded on change. */
  certFile?: string;
  keyFile?: string;
  /** Device CA bundle that verifies client certificates (used only for that, never sent as chain). */
  caFile?: string;
  /** PEM CRL(s) from the device CA. */
  crlFile?: string;
  /** identity:hexkey lines (Mosquitto's psk_file). */
  pskFile?: string;
  /** Per-name certificates; names not listed get the default one. */
  sni?: Record<string, SniEntry>;
  /** Default `none`, or from requestCert/rejectUnauthorized when those are given. */
  clientCert?: ClientCertMode;
  /** Which part of a verified client certificate becomes `certIdentity` (default `cn`). */
  certIdentity?: CertIdentityField;
  /** 48-byte ticket key file (created when absent); without it a random key in memory. */
  ticketKeyFile?: string;
  /** Rotate the ticket key this often (default 86400; 0 never). */
  ticketRotationSeconds?: number;
  /** Default: derived from the profile, client certificate mode, CA, CRL and PSK contents. */
  sessionIdContext?: string;
  /** ALPN protocols (mqtts default ['mqtt']; clients offering none still connect). */
  alpn?: string[];
  /** Watch the files and reload on change (default true). */
  watch?: boolean;
  /** Quiet time after the last file event before reloading (default 200 ms). */
  reloadDebounceMs?: number;
}

/** What callers may pass: the config above, and plain Node options (cert, key, ca, minVersion…) as before. */
export type TlsListenerOptions = TlsListenerConfig & SecureContextOptions & {
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
};

export interface TlsHandshakeStats {
  /** Completed handshakes with certificates, not resumed. */
  full: number;
  /** Resumed from a session ticket. */
  resumed: number;
  /** Completed with a pre-shared key. */
  psk: number;
  /** Handshakes that failed (tlsClientError). */
  failed: number;
  /** Completed handshakes refused afterwards: missing, unverified or revoked client certificate. */
  rejected: number;
}

/** Facts about an admitted connection that the broker puts into its TlsInfo. */
export interface TlsPeer {
  pskIdentity?: string;
  /** DER of the verified client certificate (saves the transport a second getPeerCertificate()). */
  peerCertificate?: Buffer;
  /** The configured CN/SAN of a verified client certificate. */
  certIdentity?: string;
}

export interface TlsListenerRuntime {
  readonly serverOptions: TlsOptions;
  readonly stats: Readonly<TlsHandshakeStats>;
  /** Starts error logging, file watching and ticket key rotation for this server. */
  attach(server: TlsServer): void;
  /** Call on 'secureConnection': counts it and checks the client certificate; null = refused (socket destroyed). */
  admit(socket: TLSSocket): TlsPeer | null;
  /** Re-reads every file; false (and a log line) when something is broken: the old context stays. */
  reload(): Promise<boolean>;
  /** Makes a new ticket key now (also written to ticketKeyFile). */
  rotateTicketKeys(): Promise<void>;
  close(): void;
}

/** The plain Node options callers may still set; they win over the profile. */
const OVERRIDES = [
  'minVersion', 'maxVersion', 'ciphers', 'ecdhCurve', 'sigalgs', 'honorCipherOrder', 'secureOptions', 'sessionTimeout',
  'dhparam', 'passphrase', 'pfx',
] as const;

const DEFAULT_ROTATION_S = 86_400;
const DEFAULT_DEBOUNCE_MS = 200;

interface Material {
  cert?: SecureContextOptions['cert'];
  key?: SecureContextOptions['key'];
  ca?: SecureContextOptions['ca'];
  crl?: SecureContextOptions['crl'];
  psk?: PskTable;
  sni: Array<[string, { cert: Pem; key: Pem }]>;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new MoatError('MOAT_ERR_TLS_FILE', `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

function clientCertMode(o: TlsListenerOptions): ClientCertMode {
  if (o.clientCert) return o.clientCert;
  if (o.requestCert) return o.rejectUnauthorized === false ? 'optional' : 'required';
  return 'none';
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

function sniLookup(contexts: Map<string, SecureContext>, name: string): SecureContext | undefined {
  const lower = name.toLowerCase();
  const exact = contexts.get(lower);
  if (exact) return exact;
  const dot = lower.indexOf('.');
  return dot > 0 ? contexts.get(`*${lower.slice(dot)}`) : undefined;
}

/** Verification failures about the peer's identity or keys deserve a warning; scanners' noise does not. */
const PEER_FAILURE = /CERT|BINDER|PSK|DECRYPT|CIPHER_OPERATION|BAD_RECORD_MAC|UNKNOWN_CA/i;

export async function prepareTls(o: TlsListenerOptions, log: TlsLog, name: string): Promise<TlsListenerRuntime> {
  const profileName = o.profile ?? 'modern';
  const profile = tlsProfile(profileName, { fips: o.fips === true });
  const mode = clientCertMode(o);
  const usesPsk = o.pskFile !== undefined;
  if (profileName === 'psk' && !usesPsk) throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: profile psk needs pskFile`);
  if (!usesPsk && !(o.certFile ?? o.cert ?? o.pfx)) throw new MoatError('MOAT_ERR_CONFIG', `listener ${name} needs TLS settings (key, cert)`);
  if (mode !== 'none' && !(o.caFile ?? o.ca)) {
    throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: client certificates (${mode}) need a device CA (ca)`);
  }
  if ((o.crlFile ?? o.crl) && mode === 'none') {
    throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: a CRL is only used with client certificates (requireClientCert)`);
  }
  const rotationS = o.ticketRotationSeconds ?? DEFAULT_ROTATION_S;
  if (!Number.isInteger(rotationS) || rotationS < 0) {
    throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: ticketRotationSeconds must be a whole number ≥ 0`);
  }
  const overrides: SecureContextOptions = {};
  for (const k of OVERRIDES) if (o[k] !== undefined) (overrides as Record<string, unknown>)[k] = o[k];

  async function loadMaterial(): Promise<Material> {
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

  function contextOptions(m: Material, keys: Buffer): SecureContextOptions {
    // Explicit and stable: Node's default is a hash of the command line, so a restart with other flags
    // (or another node of a cluster) could not resume. It changes with what decides who may connect
    // (CA, CRL, PSKs, client certificate mode), so a revocation also ends resumption.
    const sessionIdContext = o.sessionIdContext
      ?? digest(['moat', profileName, String(o.fips === true), mode, m.ca, m.crl, pskDigest(m.psk)]).slice(0, 32);
    return {
      ...profile, ...overrides, cert: m.cert, key: m.key, ca: m.ca, crl: m.crl, sessionIdContext, ticketKeys: keys,
    };
  }

  /** Builds every context once, so a broken file throws here and not inside a handshake. */
  function build(m: Material, keys: Buffer): { options: SecureContextOptions; sni: Map<string, SecureContext> } {
    const options = contextOptions(m, keys);
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

  const tickets: TicketKeySource = o.ticketKeyFile ? fileTicketKeys(o.ticketKeyFile) : memoryTicketKeys();
  let ticketKey = await tickets.load();
  let material = await loadMaterial();
  let built = build(material, ticketKey);
  const stats: TlsHandshakeStats = { full: 0, resumed: 0, psk: 0, failed: 0, rejected: 0 };
  /** The identity whose key the PSK callback handed out, per handshake. */
  const offered = new WeakMap<TLSSocket, string>();
  let server: TlsServer | undefined;
  const watchers: FSWatcher[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let rotation: NodeJS.Timeout | undefined;
  let reloading: Promise<boolean> = Promise.resolve(true);
  let closed = false;

  const serverOptions: TlsOptions = {
    ...built.options,
    // Checked in admit() instead of by Node, which would drop a bad certificate without saying why.
    requestCert: mode !== 'none',
    rejectUnauthorized: false,
  };
  // ALPN "mqtt" on mqtts:// (a client offering none still connects; one offering only others gets
  // no_application_protocol); wss:// negotiates HTTP, so nothing is set there.
  const alpn = o.ALPNProtocols ?? o.alpn ?? (name.startsWith('wss:') ? undefined : ['mqtt']);
  if (alpn && alpn.length > 0) serverOptions.ALPNProtocols = alpn;
  if (usesPsk) {
    serverOptions.pskCallback = (socket, identity) => {
      const key = material.psk?.get(identity);
      if (!key) {
        log.debug({ listener: name, remote: socket.remoteAddress, pskIdentity: identity }, 'unknown PSK identity');
        return null;
      }
      offered.set(socket, identity);
      return key;
    };
  }
  if (o.sni) {
    serverOptions.SNICallback = (servername, cb) => cb(null, sniLookup(built.sni, servername));
  }

  function applyTicketKey(key: Buffer): void {
    ticketKey = key;
    built.options.ticketKeys = key;
    // Node keeps one key set: tickets sealed with the previous key now get a full handshake (and a
    // new ticket). OpenSSL seals and opens tickets with the listener's first context, but the SNI
    // contexts get the key too so nothing depends on that detail.
    server?.setTicketKeys(key);
    for (const ctx of built.sni.values()) (ctx.context as { setTicketKeys(k: Buffer): void }).setTicketKeys(key);
  }

  async function rotateTicketKeys(): Promise<void> {
    applyTicketKey(await tickets.rotate());
    log.info({ listener: name, source: tickets.description }, 'TLS session ticket key rotated');
  }

  async function reloadTicketFile(): Promise<void> {
    try {
      const key = await tickets.load();
      if (!key.equals(ticketKey)) {
        applyTicketKey(key);
        log.info({ listener: name, source: tickets.description }, 'TLS session ticket key loaded');
      }
    } catch (err) {
      log.error({ listener: name, code: (err as MoatError).code, err: (err as Error).message }, 'TLS ticket key file refused: keeping the current key');
    }
  }

  async function doReload(): Promise<boolean> {
    let next: Material;
    let nextBuilt: typeof built;
    try {
      next = await loadMaterial();
      nextBuilt = build(next, ticketKey);
    } catch (err) {
      log.error({ listener: name, code: (err as MoatError).code, err: (err as Error).message },
        'TLS reload refused: new connections keep the previous certificates, keys, CA, CRL and PSKs');
      return false;
    }
    material = next;
    built = nextBuilt;
    // Live connections keep the context they were made with; new ones get this.
    server?.setSecureContext(built.options);
    log.info({ listener: name }, 'TLS files reloaded');
    return true;
  }

  function reload(): Promise<boolean> {
    reloading = reloading.then(() => (closed ? false : doReload()));
    return reloading;
  }

  function debounce(fn: () => unknown): () => void {
    let t: NodeJS.Timeout | undefined;
    return () => {
      if (t) {
        clearTimeout(t);
        timers.delete(t);
      }
      t = setTimeout(() => {
        timers.delete(t!);
        void fn();
      }, o.reloadDebounceMs ?? DEFAULT_DEBOUNCE_MS);
      timers.add(t);
    };
  }

  function startWatching(): void {
    const files = [o.certFile, o.keyFile, o.caFile, o.crlFile, o.pskFile,
      ...Object.values(o.sni ?? {}).flatMap((e) => [e.certFile, e.keyFile])].filter((f): f is string => f !== undefined);
    // Directories, not files: tools replace a certificate by renaming a new file over it, which ends
    // a watch on the old file.
    const byDir = new Map<string, Map<string, () => void>>();
    const add = (file: string, fn: () => void): void => {
      const abs = resolve(file);
      const dir = dirname(abs);
      if (!byDir.has(dir)) byDir.set(dir, new Map());
      byDir.get(dir)!.set(basename(abs), fn);
    };
    const onMaterial = debounce(reload);
    for (const f of files) add(f, onMaterial);
    if (tickets.file) add(tickets.file, debounce(reloadTicketFile));
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_event, file) => {
          const fn = file ? names.get(basename(file.toString())) : undefined;
          fn?.();
        });
        w.on('error', (err) => log.warn({ listener: name, dir, err: err.message }, 'TLS file watch failed; reload() still works'));
        w.unref();
        watchers.push(w);
      } catch (err) {
        log.warn({ listener: name, dir, err: (err as Error).message }, 'cannot watch TLS files; reload() still works');
      }
    }
  }

  function reject(socket: TLSSocket, reason: string, cert: ReturnType<TLSSocket['getPeerCertificate']> | undefined): null {
    stats.rejected++;
    log.warn({
      listener: name, remote: socket.remoteAddress, reason,
      ...(cert ? { subject: cert.subject?.CN, issuer: cert.issuer?.CN, serial: cert.serialNumber, validTo: cert.valid_to } : {}),
    }, 'client certificate rejected');
    socket.destroy();
    return null;
  }

  return {
    serverOptions,
    stats,
    attach(s) {
      server = s;
      s.on('tlsClientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: TLSSocket) => {
        stats.failed++;
        const line = { listener: name, remote: socket.remoteAddress, code: err.code, reason: err.reason ?? err.message };
        if (PEER_FAILURE.test(`${err.code ?? ''} ${err.reason ?? ''}`)) log.warn(line, 'TLS handshake refused');
        else log.info(line, 'TLS handshake failed');
      });
      if (o.watch !== false) startWatching();
      if (rotationS > 0) {
        rotation = setInterval(() => {
          rotateTicketKeys().catch((err: Error) => log.error({ listener: name, err: err.message }, 'TLS ticket key rotation failed'));
        }, rotationS * 1000);
        rotation.unref();
      }
    },
    admit(socket) {
      const reused = socket.isSessionReused();
      const identity = offered.get(socket);
      const cipher = socket.getCipher()?.name ?? '';
      // The PSK callback also runs for PSKs OpenSSL then skips (e.g. a SHA-384 suite): an identity
      // counts only if the handshake really used it, i.e. a TLS 1.2 PSK suite or a TLS 1.3 PSK hit.
      if (identity !== undefined && (cipher.startsWith('PSK-') || (socket.getProtocol() === 'TLSv1.3' && reused))) {
        stats.psk++;
        return { pskIdentity: identity };
      }
      stats[reused ? 'resumed' : 'full']++;
      if (mode === 'none') return {};
      const cert = socket.getPeerCertificate();
      const presented = cert !== null && cert !== undefined && Object.keys(cert).length > 0;
      if (!presented) return mode === 'required' ? reject(socket, 'NO_CLIENT_CERTIFICATE', undefined) : {};
      if (!socket.authorized) return reject(socket, String(socket.authorizationError ?? 'UNVERIFIED'), cert);
      const certIdentity = identityFromParts(cert.subject?.CN, cert.subjectaltname, o.certIdentity ?? 'cn');
      return { peerCertificate: cert.raw, ...(certIdentity === undefined ? {} : { certIdentity }) };
    },
    reload,
    rotateTicketKeys,
    close() {
      closed = true;
      for (const w of watchers) w.close();
      for (const t of timers) clearTimeout(t);
      if (rotation) clearInterval(rotation);
    },
  };
}

/** The per-listener keys of the broker's configuration file (src/cli/broker-config.ts ListenerConfig). */
export interface ListenerTlsKeys {
  cert?: string;
  key?: string;
  ca?: string;
  crl?: string;
  pskFile?: string;
  tlsProfile?: TlsProfileName;
  fips?: boolean;
  sni?: Record<string, { cert: string; key: string }>;
  ticketKeyFile?: string;
  ticketRotationSeconds?: number;
  requireClientCert?: boolean;
  certIdentity?: CertIdentityField;
}

/**
 * Configuration keys → prepareTls options (file paths, so reload works). Without cert/key the
 * caller's defaults (the dev PKI's files) are used; `defaults.caFile` (the dev CA) is the device CA
 * when requireClientCert is set without `ca`.
 */
export function listenerTlsOptions(l: ListenerTlsKeys, defaults: { certFile: string; keyFile: string; caFile?: string }): TlsListenerOptions {
  const ca = l.ca ?? (l.requireClientCert || l.crl ? defaults.caFile : undefined);
  const o: TlsListenerOptions = {
    certFile: l.cert ?? defaults.certFile,
    keyFile: l.key ?? defaults.keyFile,
    // With a device CA, certificates are verified when presented; requireClientCert refuses clients without one.
    clientCert: l.requireClientCert ? 'required' : ca !== undefined ? 'optional' : 'none',
  };
  if (ca !== undefined) o.caFile = ca;
  if (l.crl !== undefined) o.crlFile = l.crl;
  if (l.pskFile !== undefined) o.pskFile = l.pskFile;
  if (l.tlsProfile !== undefined) o.profile = l.tlsProfile;
  if (l.fips !== undefined) o.fips = l.fips;
  if (l.ticketKeyFile !== undefined) o.ticketKeyFile = l.ticketKeyFile;
  if (l.ticketRotationSeconds !== undefined) o.ticketRotationSeconds = l.ticketRotationSeconds;
  if (l.certIdentity !== undefined) o.certIdentity = l.certIdentity;
  if (l.sni) o.sni = Object.fromEntries(Object.entries(l.sni).map(([h, e]) => [h, { certFile: e.cert, keyFile: e.key }]));
  return o;
}

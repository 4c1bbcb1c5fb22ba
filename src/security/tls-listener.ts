/**
 * Everything a TLS listener needs besides the socket server: the profile's options and the files'
 * contexts (tls-material.ts); client certificate checks with a logged reason; PSK identities; ticket
 * keys with rotation; handshake counters; hot reload through server.setSecureContext. The listener
 * (src/broker/listeners.ts) creates the server with `serverOptions` and calls `attach` and `admit`;
 * OpenSSL does every cryptographic step.
 */
import type { SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { MoatError } from '../codec/index.js';
import { identityFromParts } from './tls-identity.js';
import { buildContexts, loadMaterial, sessionIdContext, sniLookup, type BuiltContexts, type Material } from './tls-material.js';
import { clientCertMode, type TlsListenerOptions } from './tls-options.js';
import { tlsProfile } from './tls-profiles.js';
import { fileTicketKeys, memoryTicketKeys, type TicketKeySource } from './tls-tickets.js';
import { watchFiles, type FileWatch } from './tls-watch.js';

export { listenerTlsOptions, type ListenerTlsKeys, type TlsListenerConfig, type TlsListenerOptions } from './tls-options.js';

/** Structural: the broker's Logger (pino) fits. */
export interface TlsLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

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
  /** The handshake's protocol, cipher and resumption, as admit() read them (the transport reports them). */
  protocol?: string | null;
  cipher?: string | undefined;
  resumed?: boolean;
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
/**
 * How long a session (ticket) stays resumable, announced to clients as the ticket lifetime: 2 h, what
 * OpenSSL gives when Node is told nothing (not the 300 s Node's documentation says), made explicit
 * here. Resumption's exposure to a stolen ticket key is bounded by the key rotation, not by this.
 */
export const DEFAULT_SESSION_TIMEOUT_S = 7_200;
/** RFC 8446 §4.6.1: a ticket lifetime is at most 7 days. */
const MAX_SESSION_TIMEOUT_S = 604_800;
const DEFAULT_DEBOUNCE_MS = 200;

/** Verification failures about the peer's identity or keys deserve a warning; scanners' noise does not. */
const PEER_FAILURE = /CERT|BINDER|PSK|DECRYPT|CIPHER_OPERATION|BAD_RECORD_MAC|UNKNOWN_CA/i;

type PeerCertificate = ReturnType<TLSSocket['getPeerCertificate']>;

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
  const sessionTimeout = o.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT_S;
  if (!Number.isInteger(sessionTimeout) || sessionTimeout < 1 || sessionTimeout > MAX_SESSION_TIMEOUT_S) {
    throw new MoatError('MOAT_ERR_CONFIG', `listener ${name}: sessionTimeout must be a whole number of seconds from 1 to ${MAX_SESSION_TIMEOUT_S}`);
  }
  const base: SecureContextOptions = { ...profile, sessionTimeout };
  for (const k of OVERRIDES) if (o[k] !== undefined) (base as Record<string, unknown>)[k] = o[k];
  const build = (m: Material, keys: Buffer): BuiltContexts =>
    buildContexts(m, base, o.sessionIdContext ?? sessionIdContext(m, [profileName, String(o.fips === true), mode]), keys, name);

  const tickets: TicketKeySource = o.ticketKeyFile ? fileTicketKeys(o.ticketKeyFile) : memoryTicketKeys();
  let ticketKey = await tickets.load();
  let material = await loadMaterial(o, mode, name);
  let built = build(material, ticketKey);
  const stats: TlsHandshakeStats = { full: 0, resumed: 0, psk: 0, failed: 0, rejected: 0 };
  /** The identity whose key the PSK callback handed out, per handshake. */
  const offered = new WeakMap<TLSSocket, string>();
  let server: TlsServer | undefined;
  let watcher: FileWatch | undefined;
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
  if (o.sni) serverOptions.SNICallback = (servername, cb) => cb(null, sniLookup(built.sni, servername));

  function applyTicketKey(key: Buffer): void {
    ticketKey = key;
    // setSecureContext (reload) would otherwise bring back the key the server started with.
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
    let nextBuilt: BuiltContexts;
    try {
      next = await loadMaterial(o, mode, name);
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

  function startWatching(): void {
    const onMaterial = (): void => void reload();
    const files = [o.certFile, o.keyFile, o.caFile, o.crlFile, o.pskFile,
      ...Object.values(o.sni ?? {}).flatMap((e) => [e.certFile, e.keyFile])].filter((f): f is string => f !== undefined);
    const handlers: Array<[string, () => void]> = files.map((f) => [f, onMaterial]);
    if (tickets.file) handlers.push([tickets.file, () => void reloadTicketFile()]);
    watcher = watchFiles(handlers, o.reloadDebounceMs ?? DEFAULT_DEBOUNCE_MS,
      (dir, err) => log.warn({ listener: name, dir, err: err.message }, 'cannot watch TLS files; reload() still works'));
  }

  function reject(socket: TLSSocket, reason: string, cert: X509Certificate | undefined): null {
    stats.rejected++;
    log.warn({
      listener: name, remote: socket.remoteAddress, reason,
      ...(cert ? { subject: firstCn(cert.subject), issuer: firstCn(cert.issuer), serial: cert.serialNumber, validTo: cert.validTo } : {}),
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
        // Node reports a handshake timeout here but leaves the socket open: a stalled handshake would
        // hold its connection slot for as long as the peer likes.
        socket.destroy();
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
      // Only what the counters and the checks need now: every handshake counts, also one whose client
      // never sends a byte, but the protocol and cipher hooks get are read when (if) MQTT bytes come.
      const resumed = socket.isSessionReused();
      const identity = offered.get(socket);
      const facts: TlsPeer = { resumed };
      // The PSK callback also runs for PSKs OpenSSL then skips (e.g. a SHA-384 suite): an identity
      // counts only if the handshake really used it, i.e. a TLS 1.3 PSK hit or a TLS 1.2 PSK suite
      // (TLS 1.3 suite names hold no PSK; TLS 1.2 ones do: PSK-…, ECDHE-PSK-…, DHE-PSK-…, RSA-PSK-…).
      if (identity !== undefined) {
        const protocol = socket.getProtocol();
        facts.protocol = protocol;
        if (protocol === 'TLSv1.3' ? resumed : /(^|-)PSK-/.test(socket.getCipher()?.name ?? '')) {
          stats.psk++;
          facts.pskIdentity = identity;
          return facts;
        }
      }
      stats[resumed ? 'resumed' : 'full']++;
      if (mode === 'none') return facts;
      // The X509Certificate view: getPeerCertificate() would build fingerprints and a key object per
      // handshake only for us to read the CN and the DER.
      const cert = socket.getPeerX509Certificate();
      if (!cert) return mode === 'required' ? reject(socket, 'NO_CLIENT_CERTIFICATE', undefined) : facts;
      if (!socket.authorized) return reject(socket, String(socket.authorizationError ?? 'UNVERIFIED'), cert);
      const certIdentity = identityFromParts(firstCn(cert.subject), cert.subjectAltName, o.certIdentity ?? 'cn');
      return { ...facts, peerCertificate: cert.raw, ...(certIdentity === undefined ? {} : { certIdentity }) };
    },
    reload,
    rotateTicketKeys,
    close() {
      closed = true;
      watcher?.close();
      if (rotation) clearInterval(rotation);
    },
  };
}

/** The first CN of an X509Certificate subject or issuer ("C=..\nCN=name\n..."). */
function firstCn(dn: string): string | undefined {
  return dn.split('\n').find((line) => line.startsWith('CN='))?.slice(3);
}

/**
 * Transports: open a byte link to the broker over TCP, TLS or WebSocket. They only move bytes; the
 * decoder and the engine are elsewhere. TLS verifies the server by default, sends SNI for host names
 * but never for IP addresses (RFC 6066 §3), offers ALPN `mqtt`, and keeps the session ticket so the
 * next connection resumes the TLS session.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { MoatError } from '../codec/index.js';
import { ClientErr, clientError } from './errors.js';

export interface Target {
  scheme: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  host: string;
  port: number;
  /** WebSocket path (default /mqtt). */
  path: string;
}

export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  /** Default true. false accepts any certificate: for tests against throwaway brokers only. */
  rejectUnauthorized?: boolean;
  /** Overrides the SNI / verification name (default: the URL's host when it is a name). */
  servername?: string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** TLS-PSK key (raw bytes, or hex as mosquitto takes it) and identity. Node supports PSK up to TLS 1.2. */
  psk?: Buffer | string;
  pskIdentity?: string;
}

export interface LinkEvents {
  data(chunk: Buffer): void;
  /** The bytes not yet flushed fell below the high-water mark after a write() had answered false. */
  drain(): void;
  /** Once, when the link is gone for whatever reason. */
  close(err?: MoatError): void;
}

export interface Link {
  /** The TLS session was resumed from an earlier connection's ticket. */
  readonly isResumed: boolean;
  /** Settles when the underlying socket is closed (everything written was flushed or it failed). */
  readonly closed: Promise<void>;
  /**
   * Hands bytes to the socket. False when the bytes handed over and not yet flushed to the operating
   * system reached the high-water mark: the caller should wait for `drain` before writing more.
   */
  write(bytes: Buffer): boolean;
  /** Bytes handed to the socket and not yet flushed to the operating system. */
  readonly buffered: number;
  /** Flushes what was written, then closes. */
  end(): void;
  destroy(): void;
}

const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 } as const;

export function parseTarget(url: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw clientError(ClientErr.config, `invalid broker URL "${url}"`, undefined, cause);
  }
  const scheme = u.protocol.slice(0, -1);
  if (!(scheme in DEFAULT_PORTS)) throw clientError(ClientErr.config, `broker URL "${url}": scheme must be mqtt, mqtts, ws or wss`);
  const s = scheme as Target['scheme'];
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw clientError(ClientErr.config, `broker URL "${url}" has no host`);
  return { scheme: s, host, port: u.port === '' ? DEFAULT_PORTS[s] : Number(u.port), path: u.pathname === '/' ? '/mqtt' : u.pathname };
}

/** Turns a socket error into the client's code, naming the TLS verification failure when it is one. */
export function linkError(err: NodeJS.ErrnoException, target: Target): MoatError {
  const where = `${target.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const code = String(err.code ?? '');
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME|ERR_TLS_CERT/.test(code)) {
    return clientError(ClientErr.tlsVerify, `TLS verification of ${where} failed: ${err.message} (${code})`, undefined, err);
  }
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found'
    : code === 'ETIMEDOUT' ? 'timed out' : err.message;
  return clientError(ClientErr.connectFailed, `cannot connect to ${where}: ${why}`, undefined, err);
}

/** Where a TLS session ticket can outlive the process (a file, a key-value store …). */
export interface TlsSessionStore {
  get(): Buffer | undefined;
  set(session: Buffer): void;
}

/** Remembers the last TLS session, so every reconnect (and, with a store, a restarted process) offers it. */
export class TlsSessionCache {
  private current: Buffer | undefined;

  constructor(private readonly store?: TlsSessionStore) {
    this.current = store?.get();
  }

  get session(): Buffer | undefined {
    return this.current;
  }

  set session(s: Buffer | undefined) {
    this.current = s;
    if (s) this.store?.set(s);
  }
}

/** Default high-water mark of a link: bytes written and not yet flushed before publishes wait. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/**
 * Counts the bytes handed to a socket until its write callback says they were flushed, the same way
 * for TCP, TLS and WebSocket (whose `send` has no return value), and says when to stop and resume.
 */
export class WriteGauge {
  private pending = 0;
  private blocked = false;

  constructor(private readonly mark: number, private readonly onDrain: () => void) {}

  get buffered(): number {
    return this.pending;
  }

  /** Counts `n` bytes written; returns the callback to call once they are flushed and whether under the mark. */
  add(n: number): [flushed: () => void, underMark: boolean] {
    this.pending += n;
    if (this.pending >= this.mark) this.blocked = true;
    return [() => this.flushed(n), !this.blocked];
  }

  private flushed(n: number): void {
    this.pending -= n;
    if (this.blocked && this.pending < this.mark) {
      this.blocked = false;
      this.onDrain();
    }
  }
}

/** Drops a link that is still opening (TCP connect, TLS or WebSocket handshake). */
export type AbortLink = () => void;

/** Opens the link; the returned handle destroys the socket while it is still opening. */
export function openSocketLink(target: Target, tls: TlsOptions, cache: TlsSessionCache, events: LinkEvents,
  onUp: (link: Link) => void, highWaterMark = DEFAULT_HIGH_WATER_MARK): AbortLink {
  let socket: Socket | TLSSocket;
  let closed = false;
  let failure: MoatError | undefined;
  const secure = target.scheme === 'mqtts';
  if (secure) {
    const servername = tls.servername ?? (isIP(target.host) ? undefined : target.host);
    const psk = tls.psk === undefined ? undefined : typeof tls.psk === 'string' ? Buffer.from(tls.psk, 'hex') : tls.psk;
    const t = tlsConnect({
      ...(psk ? {
        // PSK authenticates both sides with the key: there is no certificate to check.
        pskCallback: () => ({ psk, identity: tls.pskIdentity ?? '' }), ciphers: 'PSK', maxVersion: 'TLSv1.2' as const,
        checkServerIdentity: () => undefined,
      } : {}),
      host: target.host, port: target.port, ALPNProtocols: ['mqtt'],
      ...(servername !== undefined ? { servername } : {}),
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
      ...(tls.minVersion !== undefined ? { minVersion: tls.minVersion } : {}),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      ...(cache.session ? { session: cache.session } : {}),
    });
    // TLS 1.3 tickets arrive after the handshake, possibly several: keep the latest.
    t.on('session', (s: Buffer) => { cache.session = s; });
    t.once('secureConnect', () => up());
    socket = t;
  } else {
    socket = netConnect({ host: target.host, port: target.port });
    socket.once('connect', () => up());
  }
  socket.setNoDelay(true);
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const gauge = new WriteGauge(highWaterMark, () => { if (!closed) events.drain(); });
  const up = (): void => {
    const link: Link = {
      isResumed: secure ? (socket as TLSSocket).isSessionReused() : false,
      closed: gone,
      get buffered() { return gauge.buffered; },
      write: (b) => {
        if (closed) return true;
        // Packets written in one tick leave in one segment: cork now, uncork once the tick is over.
        if (socket.writableCorked === 0) {
          socket.cork();
          process.nextTick(() => socket.uncork());
        }
        const [flushed, underMark] = gauge.add(b.length);
        socket.write(b, flushed);
        return underMark;
      },
      end: () => {
        if (closed) return;
        socket.end();
        // A half-open peer never answers the FIN: do not hold the socket (and the process) for it.
        setTimeout(() => socket.destroy(), 2000).unref();
      },
      destroy: () => socket.destroy(),
    };
    onUp(link);
  };
  socket.on('data', (c: Buffer) => events.data(c));
  socket.on('error', (err: NodeJS.ErrnoException) => { failure ??= linkError(err, target); });
  socket.on('close', () => {
    closed = true;
    events.close(failure);
  });
  return () => socket.destroy();
}

/**
 * What a transport is to the client, with no I/O of its own: the broker's address, the link (bytes in
 * and out, back-pressure), the opener the Node and browser entries each supply, the write gauge and
 * the TLS session cache. Node built-ins stay out of this file so the browser bundle can use it.
 */
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

/**
 * Opens a link to `target`; the Node entry opens TCP, TLS or `ws` sockets, the browser entry the
 * browser's WebSocket. `onUp` gets the link once it carries bytes; the handle drops it while opening.
 */
export type LinkOpener = (target: Target, tls: TlsOptions, cache: TlsSessionCache, events: LinkEvents,
  onUp: (link: Link) => void, highWaterMark: number) => AbortLink;

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
import {
  DEFAULT_HIGH_WATER_MARK, WriteGauge, type AbortLink, type Link, type LinkEvents, type Target, type TlsOptions,
  type TlsSessionCache,
} from './link.js';

// The I/O-free half lives in link.ts (shared with the browser entry); re-exported for existing importers.
export {
  DEFAULT_HIGH_WATER_MARK, TlsSessionCache, WriteGauge, parseTarget, type AbortLink, type Link, type LinkEvents,
  type LinkOpener, type Target, type TlsOptions, type TlsSessionStore,
} from './link.js';

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

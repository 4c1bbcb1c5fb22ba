/**
 * MQTT over WebSocket (subprotocol `mqtt` [MQTT-6.0.0-3], binary frames [MQTT-6.0.0-1]). `ws` is
 * loaded on first use only, so a client that never uses ws:/wss: does not load it.
 */
import { isIP, type createConnection as netCreateConnection } from 'node:net';
import type { MoatError } from '../codec/index.js';
import { ClientErr, clientError } from './errors.js';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { DEFAULT_HIGH_WATER_MARK, WriteGauge, linkError, type AbortLink, type Link, type LinkEvents, type Target, type TlsOptions, type TlsSessionCache } from './transport.js';

export function openWebSocketLink(target: Target, tls: TlsOptions, cache: TlsSessionCache, events: LinkEvents,
  onUp: (link: Link) => void, highWaterMark = DEFAULT_HIGH_WATER_MARK): AbortLink {
  let closed = false;
  let aborted = false;
  let terminate: (() => void) | undefined;
  let failure: MoatError | undefined;
  import('ws').then(({ WebSocket }) => {
    if (aborted) return;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const url = `${target.scheme}://${host}:${target.port}${target.path}`;
    const secure = target.scheme === 'wss';
    const servername = tls.servername ?? (isIP(target.host) ? undefined : target.host);
    let socket: TLSSocket | undefined;
    const ws = new WebSocket(url, ['mqtt'], secure ? {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(servername !== undefined ? { servername } : {}),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      // Our own tls.connect: the last ticket is offered, new tickets are kept, the socket is known.
      createConnection: ((opts: ConnectionOptions) => {
        socket = tlsConnect({ ...opts, ...(cache.session ? { session: cache.session } : {}) });
        socket.on('session', (t: Buffer) => { cache.session = t; });
        return socket;
      }) as unknown as typeof netCreateConnection,
    } : {});
    ws.binaryType = 'nodebuffer';
    terminate = () => ws.terminate();
    const gone = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    // `send` has no return value: its callback (the frame flushed to the socket) drives the gauge.
    const gauge = new WriteGauge(highWaterMark, () => { if (!closed) events.drain(); });
    ws.on('open', () => onUp({
      isResumed: secure && socket ? socket.isSessionReused() : false,
      closed: gone,
      get buffered() { return gauge.buffered; },
      write: (b) => {
        if (closed) return true;
        const [flushed, underMark] = gauge.add(b.length);
        ws.send(b, flushed);
        return underMark;
      },
      end: () => { if (!closed) ws.close(1000); },
      destroy: () => ws.terminate(),
    }));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (closed) return;
      if (!isBinary) {
        // [MQTT-6.0.0-1] MQTT travels in binary frames: a text frame closes the connection.
        failure ??= clientError(ClientErr.protocolError, 'the broker sent a WebSocket text frame [MQTT-6.0.0-1]', 0x82);
        ws.terminate();
        return;
      }
      events.data(data);
    });
    ws.on('error', (err: NodeJS.ErrnoException) => { failure ??= linkError(err, target); });
    ws.on('close', () => {
      if (closed) return;
      closed = true;
      events.close(failure);
    });
  }, (cause: unknown) => events.close(clientError(ClientErr.config, 'ws:/wss: needs the "ws" package', undefined, cause)));
  return () => {
    aborted = true;
    terminate?.();
  };
}

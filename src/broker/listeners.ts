/**
 * Listeners from URLs: `mqtt://host:port` (TCP), `mqtts://` (TLS), `ws://host:port/path` and `wss://`
 * (MQTT over WebSocket, subprotocol `mqtt`, default path /mqtt). Each only accepts sockets and hands
 * them to the transports.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { MoatError } from '../codec/index.js';
import type { Broker } from './broker.js';
import { serveSocket, serveWebSocket } from './transport.js';

export interface ListenerSpec {
  url: string;
  /** For mqtts:// and wss://: key, cert, ca, and TLS settings (the security issue fills profiles). */
  tls?: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean; ALPNProtocols?: string[] };
}

export interface RunningListener {
  url: string;
  /** The bound address, with the real port when 0 was asked. */
  address: { host: string; port: number };
  close(): Promise<void>;
}

export interface ParsedListenUrl {
  scheme: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  host: string;
  port: number;
  path: string;
}

const CLOSE_GRACE_MS = 1000;
const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, ws: 8080, wss: 8081 } as const;

export function parseListenUrl(url: string): ParsedListenUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new MoatError('MOAT_ERR_CONFIG', `invalid listener URL "${url}"`, { cause });
  }
  const scheme = u.protocol.slice(0, -1);
  if (!(scheme in DEFAULT_PORTS)) {
    throw new MoatError('MOAT_ERR_CONFIG', `listener URL "${url}": scheme must be mqtt, mqtts, ws or wss`);
  }
  const s = scheme as ParsedListenUrl['scheme'];
  const host = u.hostname.replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = u.port === '' ? DEFAULT_PORTS[s] : Number(u.port);
  const path = s === 'ws' || s === 'wss' ? (u.pathname === '/' ? '/mqtt' : u.pathname) : '';
  return { scheme: s, host, port, path };
}

export async function startListener(broker: Broker, spec: ListenerSpec): Promise<RunningListener> {
  const p = parseListenUrl(spec.url);
  const secure = p.scheme === 'mqtts' || p.scheme === 'wss';
  if (secure && !spec.tls) throw new MoatError('MOAT_ERR_CONFIG', `listener ${spec.url} needs TLS settings (key, cert)`);
  let server: NetServer | HttpServer;
  let wss: WebSocketServer | undefined;
  if (p.scheme === 'mqtt') {
    server = createNetServer((s) => serveSocket(broker, s, 'tcp'));
  } else if (p.scheme === 'mqtts') {
    server = createTlsServer({ ALPNProtocols: ['mqtt'], ...spec.tls }, (s) => serveSocket(broker, s, 'tls'));
    server.on('tlsClientError', (err) => broker.log.debug({ err: err.message }, 'TLS handshake failed'));
  } else {
    server = p.scheme === 'ws' ? createHttpServer() : createHttpsServer({ ...spec.tls });
    wss = new WebSocketServer({
      server: server as HttpServer, path: p.path, maxPayload: broker.options.limits.maxPacketSize + 5,
      // [MQTT-6.0.0-3] subprotocol "mqtt"; clients that offer none still get in.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    const kind = p.scheme;
    wss.on('connection', (ws, req) => {
      const socket = req.socket as TLSSocket;
      const tls = kind === 'wss'
        ? { protocol: socket.getProtocol?.() ?? null, cipher: socket.getCipher?.()?.name, resumed: socket.isSessionReused?.() ?? false }
        : undefined;
      serveWebSocket(broker, ws, req.socket.remoteAddress ?? '', kind, tls);
    });
  }
  // net/tls servers wait for every socket on close(); keep them so close() can end the stragglers.
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? `address ${p.host}:${p.port} is already in use`
        : err.code === 'EACCES' ? `no permission to listen on ${p.host}:${p.port}` : err.message;
      reject(new MoatError('MOAT_ERR_LISTEN', `cannot listen on ${spec.url}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(p.port, p.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : p.port;
  const shown = p.host.includes(':') ? `[${p.host}]` : p.host;
  return {
    url: `${p.scheme}://${shown}:${port}${p.path}`,
    address: { host: p.host, port },
    close: () => new Promise<void>((resolve) => {
      wss?.close();
      server.close(() => resolve());
      // The broker asked its clients to leave (DISCONNECT 0x8B); what is still open gets a short grace.
      for (const s of sockets) s.end();
      setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, CLOSE_GRACE_MS).unref();
    }),
  };
}

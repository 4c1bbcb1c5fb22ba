/**
 * Listeners from URLs: `mqtt://host:port` (TCP), `mqtts://` (TLS), `ws://host:port/path` and `wss://`
 * (MQTT over WebSocket, subprotocol `mqtt`, default path /mqtt). Each only accepts sockets and hands
 * them to the transports.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions,
} from 'node:tls';
import { WebSocketServer } from 'ws';
import { MoatError } from '../codec/index.js';
import type { Broker } from './broker.js';
import { serveSocket, serveWebSocket, tlsInfo, type TlsPeerFacts } from './transport.js';

export interface TlsHandshakeStats {
  full: number;
  resumed: number;
  psk: number;
  failed: number;
  rejected: number;
}

/**
 * A prepared TLS side: profile, files, PSKs, client certificate checks, ticket keys, reload.
 * `prepareTls` in src/security/tls-listener.ts makes one; the broker layer may not import the
 * security layer, so the CLI (or a test) makes it and hands it over.
 */
export interface TlsSetup {
  readonly serverOptions: TlsOptions;
  readonly stats: Readonly<TlsHandshakeStats>;
  attach(server: TlsServer): void;
  /** On 'secureConnection': null when the client is refused (the socket is destroyed). */
  admit(socket: TLSSocket): TlsPeerFacts | null;
  reload(): Promise<boolean>;
  rotateTicketKeys(): Promise<void>;
  close(): void;
}

/** Plain Node options, as before profiles: used as given (ALPN mqtt added on mqtts://). */
export type PlainTlsOptions = SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean; ALPNProtocols?: string[] };

export interface ListenerSpec {
  url: string;
  /** For mqtts:// and wss://: a TlsSetup (profiles, reload, mutual TLS, PSK) or plain Node options. */
  tls?: TlsSetup | PlainTlsOptions;
}

/** The TLS side of a running mqtts:// or wss:// listener. */
export interface ListenerTls {
  /** Handshake counters since start: full, resumed, psk, failed, rejected. */
  stats(): TlsHandshakeStats;
  /** Re-reads the TLS files now (the CLI ties this to SIGHUP); false when a file was refused. */
  reload(): Promise<boolean>;
  /** A new session ticket key now (scheduled rotation does the same). */
  rotateTicketKeys(): Promise<void>;
}

export interface RunningListener {
  url: string;
  /** The bound address, with the real port when 0 was asked. */
  address: { host: string; port: number };
  /** Present on mqtts:// and wss:// listeners. */
  tls?: ListenerTls;
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

/** Host names and addresses a listener can be bound to that only this machine reaches. */
export const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

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

function isTlsSetup(tls: TlsSetup | PlainTlsOptions): tls is TlsSetup {
  return typeof (tls as TlsSetup).admit === 'function';
}

/** Plain options: Node verifies as told; the setup only counts and logs. */
function plainTls(broker: Broker, scheme: ParsedListenUrl['scheme'], tls: PlainTlsOptions): TlsSetup {
  const stats: TlsHandshakeStats = { full: 0, resumed: 0, psk: 0, failed: 0, rejected: 0 };
  let server: TlsServer | undefined;
  return {
    // ALPN "mqtt" on mqtts:// (clients offering none still connect); wss:// speaks HTTP.
    serverOptions: scheme === 'mqtts' ? { ALPNProtocols: ['mqtt'], ...tls } : { ...tls },
    stats,
    attach(s) {
      server = s;
      s.on('tlsClientError', (err, socket) => {
        stats.failed++;
        broker.log.debug({ err: err.message }, 'TLS handshake failed');
        // Node leaves a timed-out handshake's socket open (see withHandshakeTimeout).
        socket.destroy();
      });
    },
    admit(s) {
      const resumed = s.isSessionReused();
      stats[resumed ? 'resumed' : 'full']++;
      return { resumed };
    },
    reload: async () => false,
    rotateTicketKeys: async () => server?.setTicketKeys(randomBytes(48)),
    close() {},
  };
}

/**
 * A TLS handshake gets the broker's connect timeout, not Node's 120 s: a client that connects and
 * stalls mid-handshake (or sends nothing) holds a connection slot no longer than one that completes
 * the handshake and then sends no CONNECT. Options that set their own handshakeTimeout keep it. Node
 * only reports the timeout ('tlsClientError') and leaves the socket open: the TlsSetup's handler
 * destroys it (measured on Node 20: without that a stalled handshake is never closed).
 */
function withHandshakeTimeout(broker: Broker, o: TlsOptions): TlsOptions {
  return { handshakeTimeout: broker.options.limits.connectTimeoutMs, ...o };
}

export async function startListener(broker: Broker, spec: ListenerSpec): Promise<RunningListener> {
  const p = parseListenUrl(spec.url);
  const secure = p.scheme === 'mqtts' || p.scheme === 'wss';
  if (secure && !spec.tls) throw new MoatError('MOAT_ERR_CONFIG', `listener ${spec.url} needs TLS settings (key, cert)`);
  const tlsRt = secure ? (isTlsSetup(spec.tls!) ? spec.tls : plainTls(broker, p.scheme, spec.tls!)) : undefined;
  /** PSK / certificate identity of admitted wss:// sockets, until the WebSocket upgrade. */
  const peers = new WeakMap<TLSSocket, TlsPeerFacts>();
  let server: NetServer | HttpServer;
  let wss: WebSocketServer | undefined;
  const loopback = LOOPBACK_HOST.test(p.host);
  if (p.scheme === 'mqtt') {
    server = createNetServer((s) => serveSocket(broker, s, 'tcp', loopback));
  } else if (p.scheme === 'mqtts') {
    const rt = tlsRt!;
    const tlsServer = createTlsServer(withHandshakeTimeout(broker, rt.serverOptions));
    tlsServer.on('secureConnection', (s: TLSSocket) => {
      const peer = rt.admit(s);
      if (peer) serveSocket(broker, s, 'tls', loopback, peer);
    });
    rt.attach(tlsServer);
    server = tlsServer;
  } else {
    server = p.scheme === 'ws' ? createHttpServer() : createHttpsServer(withHandshakeTimeout(broker, tlsRt!.serverOptions));
    if (tlsRt) {
      // After https' own listener: a refused client's socket is destroyed before the upgrade.
      server.on('secureConnection', (s: TLSSocket) => {
        const peer = tlsRt.admit(s);
        if (peer) peers.set(s, peer);
      });
      tlsRt.attach(server as unknown as TlsServer);
    }
    wss = new WebSocketServer({
      server: server as HttpServer, path: p.path, maxPayload: broker.options.limits.maxPacketSize + 5,
      // [MQTT-6.0.0-3] subprotocol "mqtt"; clients that offer none still get in.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    const kind = p.scheme;
    wss.on('connection', (ws, req) => {
      const socket = req.socket as TLSSocket;
      const tls = kind === 'wss' ? tlsInfo(socket, peers.get(socket)) : undefined;
      serveWebSocket(broker, ws, req.socket.remoteAddress ?? '', kind, tls, loopback);
    });
  }
  // net/tls servers wait for every socket on close(); keep them so close() can end the stragglers.
  const sockets = new Set<Socket>();
  // One listener function for all sockets ('close' comes once), not a closure per connection.
  function untrack(this: Socket): void {
    sockets.delete(this);
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', untrack);
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
  }).catch((err: unknown) => {
    tlsRt?.close();
    throw err;
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : p.port;
  const shown = p.host.includes(':') ? `[${p.host}]` : p.host;
  return {
    url: `${p.scheme}://${shown}:${port}${p.path}`,
    address: { host: p.host, port },
    ...(tlsRt ? {
      tls: { stats: () => ({ ...tlsRt.stats }), reload: () => tlsRt.reload(), rotateTicketKeys: () => tlsRt.rotateTicketKeys() },
    } : {}),
    close: () => new Promise<void>((resolve) => {
      tlsRt?.close();
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

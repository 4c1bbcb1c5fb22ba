/**
 * Transports only move bytes: a TCP/TLS socket or a WebSocket becomes a `TransportPort` for the
 * connection engine, and received bytes go through the codec's decoder into it. Writes made in one
 * tick leave in one batch (cork/uncork; one WebSocket frame).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import { PacketDecoder, malformed } from '../codec/index.js';
import type { Broker } from './broker.js';
import type { Connection } from './connection.js';
import type { TlsInfo } from './hooks.js';
import type { TransportPort } from './ports.js';

/** How long a closing socket may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/** Kept as a name for the TLS facts a transport reports; `certIdentity` is part of TlsInfo. */
export type TransportTlsInfo = TlsInfo;

/**
 * What the TLS listener learnt during the handshake (PSK identity, verified certificate, its identity)
 * and, when it read them, the handshake's protocol, cipher and resumption: tlsInfo() then does not
 * ask OpenSSL a second time for what admit() already asked.
 */
export interface TlsPeerFacts {
  pskIdentity?: string;
  peerCertificate?: Buffer;
  certIdentity?: string;
  protocol?: string | null;
  cipher?: string | undefined;
  resumed?: boolean;
}

export function tlsInfo(socket: TLSSocket, peer: TlsPeerFacts = {}): TransportTlsInfo {
  const info: TransportTlsInfo = {
    protocol: peer.protocol !== undefined ? peer.protocol : socket.getProtocol(),
    cipher: 'cipher' in peer ? peer.cipher : socket.getCipher()?.name,
    resumed: peer.resumed ?? socket.isSessionReused(),
  };
  if (peer.peerCertificate) {
    info.peerCertificate = peer.peerCertificate;
  } else if (socket.authorized) {
    const cert = socket.getPeerCertificate();
    if (cert && cert.raw) info.peerCertificate = cert.raw;
  }
  if (peer.pskIdentity !== undefined) info.pskIdentity = peer.pskIdentity;
  if (peer.certIdentity !== undefined && info.peerCertificate) info.certIdentity = peer.certIdentity;
  return info;
}

function feed(broker: Broker, conn: Connection, decoder: PacketDecoder, chunk: Buffer): void {
  broker.count('bytesIn', chunk.length);
  try {
    decoder.write(chunk, (packet) => conn.receive(packet));
  } catch (err) {
    conn.fail(err);
  }
}

const kPort = Symbol('moat.socketPort');
type PortSocket = Socket & { [kPort]: SocketPort };

/**
 * A TCP/TLS socket as the engine's transport. Every connection pays for its set-up, also one that
 * never sends a byte (a TLS health check, a port scan, a handshake flood), so the methods and socket
 * listeners are shared (prototype methods, module functions finding the port on the socket) instead
 * of closures made per connection, and what only matters once bytes flow waits for them. Until the
 * first bytes the broker only holds the port (counted against maxConnections, closed by the shared
 * connect timeout sweep); then come the Connection, the TlsInfo, the decoder and the peer address (a
 * getpeername system call); TCP_NODELAY and the 'drain' listener wait for our first write (Nagle and
 * 'drain' only concern bytes we send).
 */
class SocketPort implements TransportPort {
  private remote: string | undefined;
  conn: Connection | undefined;
  decoder: PacketDecoder | undefined;
  corked = false;
  wrote = false;
  closeTimer: NodeJS.Timeout | undefined;
  /** The connect deadline while the broker holds it (WaitingRoom). */
  deadline = 0;
  tls: TransportTlsInfo | undefined;

  constructor(
    readonly socket: Socket, readonly broker: Broker, readonly kind: 'tcp' | 'tls', readonly loopbackListener: boolean,
    readonly peer: TlsPeerFacts | undefined,
  ) {}

  /** Read once, while the socket is open (Node cannot tell it after close): on the first bytes at the latest. */
  get remoteAddress(): string {
    return (this.remote ??= this.socket.remoteAddress ?? '');
  }

  write(chunks: Buffer[]): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (!this.wrote) {
      this.wrote = true;
      socket.setNoDelay(true);
      if (this.conn) socket.on('drain', onDrain);
    }
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    for (const c of chunks) socket.write(c);
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    this.closeTimer ??= setTimeout(destroySocket, CLOSE_GRACE_MS, this.socket).unref();
  }
}

function uncork(port: SocketPort): void {
  port.corked = false;
  port.socket.uncork();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function onData(this: PortSocket, chunk: Buffer): void {
  const port = this[kPort];
  if (!port.conn && !start(port)) return;
  feed(port.broker, port.conn!, port.decoder!, chunk);
}

/** The first bytes: now the connection is made. false when it was closed meanwhile (timed out, refused). */
function start(port: SocketPort): boolean {
  const socket = port.socket;
  if (socket.destroyed || socket.writableEnded) return false; // bytes after our close are not read
  void port.remoteAddress; // read now, while the socket is surely open (see SocketPort)
  if (socket instanceof TLSSocket) port.tls = tlsInfo(socket, port.peer);
  const conn = port.broker.accept(port, port);
  if (!conn) return false;
  port.conn = conn;
  port.decoder = new PacketDecoder({ maxPacketSize: port.broker.options.limits.maxPacketSize });
  if (port.wrote) socket.on('drain', onDrain);
  return true;
}

function onDrain(this: PortSocket): void {
  this[kPort].conn!.transportDrained();
}

function onError(this: PortSocket, err: Error): void {
  const port = this[kPort];
  port.broker.log.debug({ remote: port.remoteAddress, err: err.message }, 'socket error');
}

function onClose(this: PortSocket): void {
  const port = this[kPort];
  if (port.closeTimer) clearTimeout(port.closeTimer);
  if (port.conn) port.conn.transportClosed();
  else port.broker.release(port);
}

/** A new TCP or TLS socket (after `admit`, with what it learnt): held by the broker until its first bytes. */
export function serveSocket(broker: Broker, socket: Socket, kind: 'tcp' | 'tls', loopbackListener: boolean, peer?: TlsPeerFacts): void {
  const port = new SocketPort(socket, broker, kind, loopbackListener, peer);
  if (!broker.hold(port)) return;
  (socket as PortSocket)[kPort] = port;
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
}

export function serveWebSocket(
  broker: Broker, ws: WebSocket, remoteAddress: string, kind: 'ws' | 'wss', tls: TlsInfo | undefined, loopbackListener: boolean,
): void {
  let batch: Buffer[] = [];
  let conn: Connection | undefined;
  // ws has no 'drain' event: the send callback tells when a frame left, so queued messages can follow.
  const sent = (): void => conn?.transportDrained();
  const flush = (): void => {
    const chunks = batch;
    batch = [];
    if (ws.readyState === ws.OPEN) ws.send(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), sent);
  };
  const port: TransportPort = {
    remoteAddress,
    kind,
    loopbackListener,
    tls,
    write(chunks) {
      if (batch.length === 0) process.nextTick(flush);
      for (const c of chunks) batch.push(c);
    },
    bufferedBytes: () => ws.bufferedAmount,
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close() {
      if (batch.length > 0) flush();
      ws.close();
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
  };
  conn = broker.accept(port);
  if (!conn) return;
  const c = conn;
  const decoder = new PacketDecoder({ maxPacketSize: broker.options.limits.maxPacketSize });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    // MQTT over WebSocket is binary frames only [MQTT-6.0.0-1].
    if (!isBinary) return c.fail(malformed('text WebSocket frame [MQTT-6.0.0-1]'));
    feed(broker, c, decoder, data);
  });
  ws.on('error', (err) => broker.log.debug({ remote: remoteAddress, err: err.message }, 'websocket error'));
  ws.on('close', () => c.transportClosed());
}

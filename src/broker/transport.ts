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

/** What the TLS listener learnt during the handshake (PSK identity, verified certificate, its identity). */
export interface TlsPeerFacts {
  pskIdentity?: string;
  peerCertificate?: Buffer;
  certIdentity?: string;
}

export function tlsInfo(socket: TLSSocket, peer: TlsPeerFacts = {}): TransportTlsInfo {
  const info: TransportTlsInfo = {
    protocol: socket.getProtocol(), cipher: socket.getCipher()?.name, resumed: socket.isSessionReused(),
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

export function serveSocket(broker: Broker, socket: Socket, kind: 'tcp' | 'tls', loopbackListener: boolean, peer?: TlsPeerFacts): void {
  socket.setNoDelay(true);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  let closeTimer: NodeJS.Timeout | undefined;
  const port: TransportPort = {
    remoteAddress: socket.remoteAddress ?? '',
    kind,
    loopbackListener,
    tls: socket instanceof TLSSocket ? tlsInfo(socket, peer) : undefined,
    write(chunks) {
      if (socket.destroyed || socket.writableEnded) return;
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      for (const c of chunks) socket.write(c);
    },
    bufferedBytes: () => socket.writableLength,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close() {
      if (socket.destroyed) return;
      socket.end();
      closeTimer ??= setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  };
  const conn = broker.accept(port);
  if (!conn) return;
  const decoder = new PacketDecoder({ maxPacketSize: broker.options.limits.maxPacketSize });
  socket.on('data', (chunk: Buffer) => feed(broker, conn, decoder, chunk));
  socket.on('drain', () => conn.transportDrained());
  socket.on('error', (err) => broker.log.debug({ remote: port.remoteAddress, err: err.message }, 'socket error'));
  socket.on('close', () => {
    if (closeTimer) clearTimeout(closeTimer);
    conn.transportClosed();
  });
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

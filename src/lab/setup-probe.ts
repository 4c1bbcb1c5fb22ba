/**
 * One connection setup, measured: `net.connect` (→ delay proxy) → `tls.connect({ socket })` → CONNECT →
 * CONNACK (→ one QoS 1 PUBLISH → PUBACK), written with the codec so the lab sees the raw TCP socket
 * under TLS. Bytes are the raw socket's bytesWritten/bytesRead at secureConnect and at CONNACK; through
 * the proxy the chunks and TLS records tell the round trips and the session ticket bytes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { MoatError, PacketDecoder, encodePacket, type Packet } from '../codec/index.js';
import type { ProxyConnectionLog } from './delay-proxy.js';
import { negotiated, type Negotiated } from './modes.js';
import type { Bytes } from './report.js';

/** MQTT 5, as Moat's client speaks it by default. */
export const LAB_MQTT_VERSION = 5;
export const LAB_TOPIC = 't';

export interface ProbeTarget {
  host: string;
  port: number;
  /** undefined: plain TCP. */
  tls?: ConnectionOptions;
  /** Credentials for CONNECT (a --url broker that does not take anonymous clients). */
  login?: LabLogin;
}

export interface LabLogin {
  username?: string;
  password?: Buffer;
}

export interface OpenConnection {
  raw: Socket;
  /** The socket MQTT runs on (the TLSSocket, or raw for plain). */
  stream: Socket | TLSSocket;
  /** Resolves with the next packet received. */
  next(): Promise<Packet>;
  close(): void;
}

export interface ProbeResult {
  connackMs: number;
  /** Present when `publish` was asked. */
  pubackMs?: number;
  /** Raw socket counters once the handshake's last bytes were written (secureConnect; 0/0 plain). */
  handshake: Bytes;
  /** Raw socket counters at CONNACK. */
  atConnack: Bytes;
  tls?: Negotiated;
  /** The newest TLS session seen (for a later resumption). */
  session?: Buffer;
  conn: OpenConnection;
}

export interface ProbeOptions {
  session?: Buffer;
  clientId: string;
  /** Publish one QoS 1 message right after CONNACK and wait for its PUBACK. */
  publish?: boolean;
  /** Leave the connection open (the caller closes conn). */
  keepOpen?: boolean;
  timeoutMs?: number;
}

const ms = (since: number): number => performance.now() - since;

/** bytesWritten counts a TLS write once TLSWrap flushed it; the TLS 1.3 client Finished is flushed after secureConnect. */
async function settledWritten(raw: Socket): Promise<number> {
  let last = raw.bytesWritten;
  for (let i = 0; i < 4; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (raw.bytesWritten === last) return last;
    last = raw.bytesWritten;
  }
  return last;
}

export function publishPacket(payloadBytes: number, qos: 0 | 1, packetId = 1): Buffer {
  return encodePacket({
    type: 'publish', topic: LAB_TOPIC, payload: Buffer.alloc(payloadBytes, 0x61), qos, retain: false, dup: false,
    ...(qos > 0 ? { packetId } : {}),
  }, LAB_MQTT_VERSION);
}

export function connectPacket(clientId: string, login: LabLogin = {}): Buffer {
  return encodePacket({
    type: 'connect', protocolName: 'MQTT', protocolVersion: LAB_MQTT_VERSION, clean: true, keepAlive: 0, clientId,
    ...(login.username !== undefined ? { username: login.username } : {}), ...(login.password !== undefined ? { password: login.password } : {}),
  }, LAB_MQTT_VERSION);
}

export async function probeSetup(target: ProbeTarget, o: ProbeOptions): Promise<ProbeResult> {
  const t0 = performance.now();
  const raw = netConnect({ host: target.host, port: target.port, noDelay: true });
  let stream: Socket | TLSSocket = raw;
  let session: Buffer | undefined;
  if (target.tls) {
    const ts = tlsConnect({ ...target.tls, socket: raw, ...(o.session ? { session: o.session } : {}) });
    ts.on('session', (s: Buffer) => { session = s; });
    stream = ts;
  }
  const packets: Packet[] = [];
  const waiters: Array<{ resolve: (p: Packet) => void; reject: (e: Error) => void }> = [];
  let failure: Error | undefined;
  const decoder = new PacketDecoder({ protocolVersion: LAB_MQTT_VERSION });
  /** Rejects the handshake wait, while there is one. */
  let abortHandshake: ((err: Error) => void) | undefined;
  const failAll = (err: Error): void => {
    failure ??= err;
    abortHandshake?.(failure);
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  stream.on('data', (chunk: Buffer) => {
    try {
      decoder.write(chunk, (p) => {
        const w = waiters.shift();
        if (w) w.resolve(p);
        else packets.push(p);
      });
    } catch (err) {
      failAll(err as Error);
    }
  });
  stream.on('error', (err) => failAll(err));
  // A refused or reset TCP connection under TLS is reported on the raw socket.
  if (stream !== raw) raw.on('error', (err) => failAll(err));
  stream.on('close', () => failAll(new MoatError('MOAT_ERR_LAB_CHECK', 'the broker closed the connection')));
  const next = (): Promise<Packet> => {
    const p = packets.shift();
    if (p) return Promise.resolve(p);
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  };
  const conn: OpenConnection = { raw, stream, next, close: () => { stream.destroy(); raw.destroy(); } };
  const timer = setTimeout(() => failAll(new MoatError('MOAT_ERR_LAB_CHECK', `no handshake and CONNACK within ${o.timeoutMs ?? 15000} ms`)), o.timeoutMs ?? 15000);
  try {
    await new Promise<void>((resolve, reject) => {
      if (failure) reject(failure);
      abortHandshake = reject;
      stream.once(target.tls ? 'secureConnect' : 'connect', () => resolve());
    });
    abortHandshake = undefined;
    const handshake = target.tls ? { clientToServer: await settledWritten(raw), serverToClient: raw.bytesRead } : { clientToServer: 0, serverToClient: 0 };
    const tls = target.tls ? negotiated(stream as TLSSocket) : undefined;
    stream.write(connectPacket(o.clientId, target.login));
    const connack = await next();
    const connackMs = ms(t0);
    if (connack.type !== 'connack' || connack.reasonCode !== 0) {
      throw new MoatError('MOAT_ERR_LAB_CHECK', `expected CONNACK success, got ${connack.type} ${'reasonCode' in connack ? String(connack.reasonCode) : ''}`);
    }
    const atConnack = { clientToServer: await settledWritten(raw), serverToClient: raw.bytesRead };
    const result: ProbeResult = { connackMs, handshake, atConnack, conn, ...(tls ? { tls } : {}) };
    if (o.publish) {
      stream.write(publishPacket(16, 1, 1));
      const ack = await next();
      if (ack.type !== 'puback') throw new MoatError('MOAT_ERR_LAB_CHECK', `expected PUBACK, got ${ack.type}`);
      result.pubackMs = ms(t0);
    }
    if (session) result.session = session;
    if (!o.keepOpen) conn.close();
    return result;
  } catch (err) {
    conn.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** A TLS record's header: content type and the whole record's size (header included). */
export interface TlsRecord {
  type: number;
  offset: number;
  size: number;
  /** For a plaintext handshake record (TLS 1.2 before ChangeCipherSpec): its messages' types and sizes. */
  messages?: Array<{ type: number; size: number }>;
}

const CCS = 20;
const HANDSHAKE = 22;
const NEW_SESSION_TICKET = 4;

/** Splits one direction's bytes into TLS records; throws when they do not frame exactly. */
export function splitRecords(data: Buffer): TlsRecord[] {
  const out: TlsRecord[] = [];
  let plaintext = true;
  for (let at = 0; at < data.length;) {
    if (at + 5 > data.length) throw new MoatError('MOAT_ERR_LAB_CHECK', 'a TLS record header is cut off');
    const type = data[at]!;
    const size = 5 + data.readUInt16BE(at + 3);
    const rec: TlsRecord = { type, offset: at, size };
    if (type === CCS) plaintext = false;
    if (type === HANDSHAKE && plaintext) {
      rec.messages = [];
      for (let m = at + 5; m + 4 <= at + size;) {
        const len = 4 + data.readUIntBE(m + 1, 3);
        rec.messages.push({ type: data[m]!, size: len });
        m += len;
      }
    }
    out.push(rec);
    at += size;
  }
  return out;
}

export interface SetupAnalysis {
  roundTrips: number;
  handshake: Bytes;
  /**
   * The client's handshake bytes after its ClientHello record: the Finished (and a compatibility
   * ChangeCipherSpec), plus its Certificate and CertificateVerify when the server asked for them.
   */
  clientAfterHello: number;
  tickets: number;
  mqtt: Bytes;
}

/**
 * What one probe through the proxy shows. Round trips: the client→server→client turn-arounds among the
 * bytes the client needed before it could send CONNECT (client bytes below handshake.clientToServer,
 * server bytes below handshake.serverToClient), in the order the proxy saw them. Tickets: TLS 1.2's
 * NewSessionTicket messages (plaintext, inside the handshake) or TLS 1.3's records between the
 * handshake and the CONNACK's record.
 */
export function analyzeSetup(log: ProxyConnectionLog, r: Pick<ProbeResult, 'handshake' | 'atConnack' | 'tls'>): SetupAnalysis {
  const hs = r.handshake;
  let roundTrips = 0;
  let last: 'c2s' | 's2c' | undefined;
  for (const c of log.chunks) {
    const needed = c.dir === 'c2s' ? c.offset < hs.clientToServer : c.offset < hs.serverToClient;
    if (!needed) continue;
    if (c.dir === 's2c' && last === 'c2s') roundTrips++;
    last = c.dir;
  }
  const mqtt = { clientToServer: r.atConnack.clientToServer - hs.clientToServer, serverToClient: r.atConnack.serverToClient - hs.serverToClient };
  const handshake = { ...hs };
  let tickets = 0;
  let clientAfterHello = 0;
  if (r.tls) {
    const c2s = Buffer.concat(log.chunks.filter((c) => c.dir === 'c2s').map((c) => c.data ?? Buffer.alloc(0)));
    if (c2s.length >= 5) clientAfterHello = Math.max(0, hs.clientToServer - (5 + c2s.readUInt16BE(3)));
    const s2c = Buffer.concat(log.chunks.filter((c) => c.dir === 's2c').map((c) => c.data ?? Buffer.alloc(0)));
    if (s2c.length < r.atConnack.serverToClient) throw new MoatError('MOAT_ERR_LAB_CHECK', 'the proxy log is shorter than what the client read (keepData off?)');
    const records = splitRecords(s2c.subarray(0, r.atConnack.serverToClient));
    if (r.tls.protocol === 'TLSv1.2') {
      for (const rec of records) {
        for (const m of rec.messages ?? []) if (m.type === NEW_SESSION_TICKET) tickets += m.size + (rec.messages!.length === 1 ? 5 : 0);
      }
      handshake.serverToClient -= tickets;
    } else {
      const after = records.filter((rec) => rec.offset >= hs.serverToClient);
      if (!records.some((rec) => rec.offset === hs.serverToClient) || after.length === 0) {
        throw new MoatError('MOAT_ERR_LAB_CHECK', 'the handshake does not end on a TLS record boundary');
      }
      // The last record carries the CONNACK; the ones before it (after the handshake) are tickets.
      tickets = after.slice(0, -1).reduce((sum, rec) => sum + rec.size, 0);
      mqtt.serverToClient -= tickets;
    }
  }
  return { roundTrips, handshake, clientAfterHello, tickets, mqtt };
}

/**
 * The load generator's MQTT client: raw net/tls sockets, packets pre-encoded with Moat's codec, and a
 * fixed-header scanner that splits the received bytes into packets without decoding them. Scenarios
 * swap in their own per-packet handler once a client is connected and subscribed.
 */
import net from 'node:net';
import tls from 'node:tls';

let codec;
/** Moat's codec (dist/codec/index.js), loaded once by the benchmark's entry point. */
export function useCodec(c) {
  codec = c;
}
export function encode(packet) {
  return codec.encodePacket(packet, 4);
}

export const PUBLISH = 3;
export const PUBACK = 4;

/**
 * Splits a byte stream into MQTT packets by their fixed header only. For each complete packet it calls
 * onPacket(firstByte, buf, bodyStart, end); a packet cut by a read is kept and completed by the next.
 */
export class Scanner {
  constructor(onPacket) {
    this.onPacket = onPacket;
    this.rest = null;
  }

  push(chunk) {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const n = buf.length;
    let i = 0;
    while (i + 1 < n) {
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let b;
      let complete = true;
      do {
        if (j >= n) {
          complete = false;
          break;
        }
        b = buf[j++];
        len += (b & 127) * mul;
        mul *= 128;
      } while (b & 128 && mul <= 2097152);
      if (!complete) break;
      const end = j + len;
      if (end > n) break;
      this.onPacket(buf[i], buf, j, end);
      i = end;
    }
    if (i < n) this.rest = buf.subarray(i);
  }
}

/** Opens a TCP or TLS 1.3 socket to 127.0.0.1:port (Nagle off); rejects after timeoutMs. */
export function openSocket({ port, secure, secureContext, timeoutMs = 10000 }) {
  return new Promise((resolve, reject) => {
    let socket;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${port} timed out`));
    }, timeoutMs);
    const ok = () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      resolve(socket);
    };
    const fail = (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    if (secure) {
      // One SecureContext (the dev CA) for all sockets; no session reuse: every connect is a full handshake.
      socket = tls.connect({ host: '127.0.0.1', port, secureContext, servername: 'localhost', minVersion: 'TLSv1.3' }, ok);
    } else {
      socket = net.connect({ host: '127.0.0.1', port }, ok);
    }
    socket.once('error', fail);
  });
}

/**
 * A connected MQTT 3.1.1 client. `onPacket` and `afterChunk` are the scenario's hooks on the hot
 * path; during setup `expect()` waits for one packet type.
 */
export class Client {
  constructor(socket) {
    this.socket = socket;
    this.closed = false;
    this.error = undefined;
    this.waiter = null;
    this.afterChunk = null;
    this.scanner = new Scanner((b0, buf, start, end) => this.setupPacket(b0, buf, start, end));
    socket.on('data', (chunk) => {
      this.scanner.push(chunk);
      if (this.afterChunk !== null) this.afterChunk();
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
    socket.on('close', () => {
      this.closed = true;
      if (this.waiter) this.waiter.reject(new Error(`connection closed by the broker${this.error ? `: ${this.error.message}` : ''}`));
    });
  }

  set onPacket(fn) {
    this.scanner.onPacket = fn;
  }

  setupPacket(b0, buf, start, end) {
    const w = this.waiter;
    if (w && b0 >> 4 === w.type) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(Buffer.from(buf.subarray(start, end)));
    }
  }

  /** The body of the next packet of `type` (other packets are ignored). */
  expect(type, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('connection closed by the broker'));
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no packet of type ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { type, resolve, reject, timer };
    });
  }

  async subscribe(topicFilter, qos, timeoutMs = 10000) {
    this.socket.write(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter, qos }] }));
    const suback = await this.expect(9, timeoutMs);
    const granted = suback[suback.length - 1];
    if (granted !== qos) throw new Error(`SUBACK granted ${granted} for ${topicFilter}, asked ${qos}`);
  }

  close() {
    this.afterChunk = null;
    this.scanner.onPacket = () => {};
    this.socket.destroy();
  }
}

/** MQTT 3.1.1 CONNECT; clean = false asks for a persistent session (kept after the connection ends). */
export function connectPacket(clientId, keepAlive = 60, clean = true) {
  return encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean, keepAlive, clientId });
}

/** TCP/TLS connect, CONNECT (clean session unless clean = false; pre-encoded or made from clientId), CONNACK accepted. */
export async function mqttConnect({ port, secure, secureContext, clientId, connect, keepAlive = 60, clean = true, timeoutMs = 10000 }) {
  const socket = await openSocket({ port, secure, secureContext, timeoutMs });
  const client = new Client(socket);
  try {
    socket.write(connect ?? connectPacket(clientId, keepAlive, clean));
    const connack = await client.expect(2, timeoutMs);
    if (connack[1] !== 0) throw new Error(`CONNACK return code ${connack[1]}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/** Runs fn over items with at most `limit` at a time; rejects on the first failure. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      results[k] = await fn(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * A TCP proxy on 127.0.0.1:0 that simulates a link's round-trip time: every chunk is held rttMs/2 in
 * its direction before it is passed on, in order (a chunk is never released before the one read ahead
 * of it). A new connection's client bytes are also held until one RTT after accept: the kernel completes
 * the client's TCP handshake against this local proxy at once, but on a real link the client may send
 * only once the SYN-ACK is back — one RTT after its SYN — so its first byte reaches the server 1.5 RTT
 * after connect(). The lab's connect() → CONNACK times therefore include TCP's round trip, as a real
 * link's do. (Held here rather than in the client: the link's whole behaviour stays in one place, and any
 * client through the proxy pays it.) It also logs what it carries — direction, arrival time and size of each chunk — so that the
 * lab counts flights (round trips) from what really crossed the link instead of assuming them.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Direction = 'c2s' | 's2c';

export interface ProxyChunk {
  dir: Direction;
  /** performance.now() when the proxy read it. */
  at: number;
  /** Offset of the chunk's first byte in its direction's stream. */
  offset: number;
  bytes: number;
  /** The bytes themselves, kept only when the proxy was made with `keepData` (record parsing). */
  data?: Buffer;
}

export interface ProxyConnectionLog {
  chunks: ProxyChunk[];
}

export interface DelayProxy {
  port: number;
  /** One log per accepted connection, in accept order. */
  readonly connections: ProxyConnectionLog[];
  /** The round-trip time simulated from now on (new chunks). */
  rttMs: number;
  close(): Promise<void>;
}

export interface DelayProxyOptions {
  target: { host: string; port: number };
  rttMs: number;
  keepData?: boolean;
}

/** One direction: chunks wait until their release time, strictly in order. */
function pipeDelayed(from: Socket, to: Socket, dir: Direction, log: ProxyConnectionLog, delayOf: () => number, keepData: boolean, notBefore: () => number = () => 0): void {
  const queue: Array<{ due: number; data: Buffer }> = [];
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) to.write(queue.shift()!.data);
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
    else if (ended) to.end();
  };
  from.on('data', (data: Buffer) => {
    const at = performance.now();
    log.chunks.push({ dir, at, offset, bytes: data.length, ...(keepData ? { data: Buffer.from(data) } : {}) });
    offset += data.length;
    // A chunk read before the link could carry it (notBefore) leaves when it could, then travels delayOf().
    const delay = Math.max(0, notBefore() - at) + delayOf();
    if (delay <= 0 && queue.length === 0) {
      to.write(data);
      return;
    }
    queue.push({ due: at + delay, data });
    timer ??= setTimeout(flush, delay);
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && timer === undefined) to.end();
  });
}

export async function startDelayProxy(o: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const connections: ProxyConnectionLog[] = [];
  const proxy: DelayProxy = { port: 0, connections, rttMs: o.rttMs, close };
  const half = (): number => proxy.rttMs / 2;
  const server: Server = createServer((client) => {
    const log: ProxyConnectionLog = { chunks: [] };
    connections.push(log);
    // The simulated SYN → SYN-ACK: the client may send from one RTT after its connect.
    const acceptedAt = performance.now();
    const handshakeDone = (): number => acceptedAt + proxy.rttMs;
    client.setNoDelay(true);
    // Reads from the client wait (paused) until the upstream connection is up.
    client.pause();
    const upstream = createConnection({ host: o.target.host, port: o.target.port }, () => client.resume());
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    pipeDelayed(client, upstream, 'c2s', log, half, o.keepData === true, handshakeDone);
    pipeDelayed(upstream, client, 's2c', log, half, o.keepData === true);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as { port: number }).port;

  async function close(): Promise<void> {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return proxy;
}

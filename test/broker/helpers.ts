/** Test harness: a broker on port 0 over real sockets, and a raw MQTT client speaking through the codec. */
import { connect, type Socket } from 'node:net';
import { PacketDecoder, encodePacket, type Packet, type ProtocolVersion, MoatError } from '../../src/codec/index.js';
import { Broker, type BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import { startListener, type ListenerSpec, type RunningListener } from '../../src/broker/listeners.js';

export interface TestBroker {
  broker: Broker;
  port: number;
  url: string;
  listener: RunningListener;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}, deps: BrokerDeps = {}, spec?: Partial<ListenerSpec>): Promise<TestBroker> {
  const broker = new Broker({ sysInterval: 0, ...options }, deps);
  const listener = await startListener(broker, { url: 'mqtt://127.0.0.1:0', ...spec });
  return {
    broker, listener, port: listener.address.port, url: `mqtt://127.0.0.1:${listener.address.port}`,
    async close() {
      broker.shutdown();
      await listener.close();
    },
  };
}

/** A client that sends and receives packets exactly as written, for conformance tests. */
export class RawClient {
  readonly decoder: PacketDecoder;
  private readonly inbox: Packet[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  error: MoatError | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket, public version: ProtocolVersion) {
    this.decoder = new PacketDecoder({ protocolVersion: version, maxPacketSize: 300_000_000 });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.write(chunk, (p) => this.inbox.push(p));
      } catch (err) {
        this.error = err as MoatError;
      }
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => socket.on('close', () => {
      this.closed = true;
      this.wake();
      resolve();
    }));
    socket.on('error', () => {});
  }

  static async open(port: number, version: ProtocolVersion = 5): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket, version);
  }

  /** Opens, sends CONNECT and expects CONNACK 0. */
  static async connected(port: number, connect: Partial<Extract<Packet, { type: 'connect' }>> = {}): Promise<RawClient> {
    const version = connect.protocolVersion ?? 5;
    const c = await RawClient.open(port, version);
    c.send({ type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: true, keepAlive: 0, clientId: '', ...connect });
    const ack = await c.expect('connack');
    if (ack.reasonCode !== 0) throw new Error(`CONNACK ${ack.reasonCode}`);
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.version));
  }

  write(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s+/g, ''), 'hex') : bytes);
  }

  /** The next packet, or undefined when the connection closed first. */
  async next(timeoutMs = 2000): Promise<Packet | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.inbox.shift();
  }

  async expect<T extends Packet['type']>(type: T, timeoutMs = 2000): Promise<Extract<Packet, { type: T }>> {
    const p = await this.next(timeoutMs);
    if (!p) throw new Error(`connection closed while waiting for ${type}`);
    if (p.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { type: T }>;
  }

  /** Asserts that nothing arrives for `ms`. */
  async quiet(ms = 150): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.inbox.length > 0) throw new Error(`unexpected packet ${JSON.stringify(this.inbox[0])}`);
  }

  /** Resolves when the server closes the connection (fails after `timeoutMs`). */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.closedPromise, new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('still open')), timeoutMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  end(): void {
    this.socket.destroy();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

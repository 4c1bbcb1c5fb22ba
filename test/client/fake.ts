/** Test doubles for the client engine: a manual clock and a port that records what the engine does. */
import { PacketDecoder, type MoatError, type Packet } from '../../src/codec/index.js';
import { ClientEngine, type EngineOptions, type EnginePort } from '../../src/client/engine.js';
import { exponentialBackoff } from '../../src/client/backoff.js';
import type { Clock, Message } from '../../src/client/types.js';
import { ManualClock } from '../support/manual-clock.js';

export { ManualClock } from '../support/manual-clock.js';

export class FakePort implements EnginePort {
  readonly clock = new ManualClock();
  sent: Packet[] = [];
  opens = 0;
  closes = 0;
  messages: Message[] = [];
  offlines: MoatError[] = [];
  closedWith: Array<MoatError | undefined> = [];
  connects = 0;
  private readonly decoder: PacketDecoder;
  constructor(version: 4 | 5 = 5) {
    this.decoder = new PacketDecoder({ protocolVersion: version });
  }
  openLink(): void {
    this.opens++;
  }
  write(bytes: Buffer): void {
    this.decoder.write(bytes, (p) => this.sent.push(p));
  }
  closeLink(): void {
    this.closes++;
  }
  connected(): void {
    this.connects++;
  }
  message(msg: Message): void {
    this.messages.push(msg);
  }
  offline(reason: MoatError): void {
    this.offlines.push(reason);
  }
  closed(reason: MoatError | undefined): void {
    this.closedWith.push(reason);
  }
  /** Takes what the engine sent so far. */
  take(): Packet[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

export function engineWith(options: Partial<EngineOptions> = {}): { engine: ClientEngine; port: FakePort } {
  const port = new FakePort(options.version ?? 5);
  const engine = new ClientEngine({
    version: 5, clientId: 'c1', clean: true, keepAlive: 0, connectTimeoutMs: 5000, reconnect: true,
    backoff: exponentialBackoff(100, 1000, () => 0.5), ...options,
  }, port);
  return { engine, port };
}

/** Starts the engine, brings the link up and answers CONNACK. */
export function connectEngine(engine: ClientEngine, port: FakePort, connack: Partial<Extract<Packet, { type: 'connack' }>> = {}): void {
  engine.start();
  engine.linkUp();
  engine.receive({ type: 'connack', sessionPresent: false, reasonCode: 0, ...connack });
  port.take();
}

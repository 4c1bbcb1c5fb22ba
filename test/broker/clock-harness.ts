/**
 * Shared harness of the CONNECT, session and will conformance tests: a manual clock that broker timers
 * run on, a broker per test on it, and connection helpers.
 */
import assert from 'node:assert/strict';
import type { ConnackPacket, ConnectPacket, Packet, ProtocolVersion, PublishPacket, QoS } from '../../src/codec/index.js';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import type { Clock } from '../../src/broker/types.js';
import { RawClient, sleep, startBroker, type TestBroker } from './helpers.js';
import { ManualClock } from '../support/manual-clock.js';


/** The manual clock the broker's timers run on in these tests (epoch-like start, as Date.now()). */
export class FakeClock extends ManualClock {
  constructor() {
    super(1_700_000_000_000);
  }
}

export const VNAME = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5' } as const;
export const ALL: ProtocolVersion[] = [3, 4, 5];
export let idSeq = 0;
export const uid = (p = 'c'): string => `${p}${++idSeq}`;

export function connectOf(v: ProtocolVersion, f: Partial<ConnectPacket> = {}): ConnectPacket {
  return {
    type: 'connect', protocolName: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clean: true, keepAlive: 0,
    clientId: uid(), ...f,
  };
}

export async function until(cond: () => boolean, what: string, timeoutMs = 1500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export class Ctx {
  readonly clients: RawClient[] = [];
  constructor(readonly tb: TestBroker, readonly clock: FakeClock) {}
  get port(): number {
    return this.tb.port;
  }
  get broker(): TestBroker['broker'] {
    return this.tb.broker;
  }
  async open(v: ProtocolVersion): Promise<RawClient> {
    const c = await RawClient.open(this.port, v);
    this.clients.push(c);
    return c;
  }
  /** Sends CONNECT and returns the CONNACK, whatever its code. */
  async attempt(v: ProtocolVersion, f: Partial<ConnectPacket> = {}): Promise<{ c: RawClient; ack: ConnackPacket }> {
    const c = await this.open(v);
    c.send(connectOf(v, f));
    return { c, ack: await c.expect('connack') };
  }
  async connected(v: ProtocolVersion, f: Partial<ConnectPacket> = {}): Promise<RawClient> {
    const { c, ack } = await this.attempt(v, f);
    assert.equal(ack.reasonCode, 0, `CONNACK ${ack.reasonCode}`);
    return c;
  }
  /** A v5 client subscribed to `filter`. */
  async subscriber(filter: string, qos: QoS = 0): Promise<RawClient> {
    const c = await this.connected(5, { clientId: uid('sub') });
    c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
    assert.deepEqual((await c.expect('suback')).reasonCodes, [qos]);
    return c;
  }
  /** Number of live connections the broker holds, with sockets that have not sent a byte yet. */
  get live(): number {
    return this.broker.liveConnections;
  }
}

export async function withBroker(options: BrokerOptions, deps: BrokerDeps, fn: (x: Ctx) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const tb = await startBroker(options, { clock, ...deps });
  const x = new Ctx(tb, clock);
  try {
    await fn(x);
  } finally {
    for (const c of x.clients) c.end();
    await tb.close();
  }
}

/** Every packet until the server closes the connection. */
export async function drainUntilClosed(c: RawClient, timeoutMs = 2000): Promise<Packet[]> {
  const out: Packet[] = [];
  for (;;) {
    const p = await c.next(timeoutMs);
    if (!p) return out;
    out.push(p);
  }
}

/** Asserts the server closed the connection without sending anything. */
export async function closedSilently(c: RawClient): Promise<void> {
  assert.deepEqual(await drainUntilClosed(c), []);
  assert.equal(c.closed, true);
}

/** Asserts the connection stays open and silent for `ms` of real time. */
export async function staysOpen(c: RawClient, ms = 60): Promise<void> {
  await c.quiet(ms);
  assert.equal(c.closed, false, 'connection was closed');
}

/** CONNECT fields for a session that outlives its connection: Clean Start 0 (+ expiry 60 s in v5). */
export function persistent(v: ProtocolVersion, clientId: string, expiry = 60): Partial<ConnectPacket> {
  return v === 5
    ? { protocolVersion: v, clientId, clean: false, properties: { sessionExpiryInterval: expiry } }
    : { protocolVersion: v, clientId, clean: false };
}

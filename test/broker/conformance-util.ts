/**
 * Helpers shared by the broker conformance tests (publish, subscribe, retained, shared, v5-features,
 * malformed): one broker per test that is closed afterwards with every client it opened, packet-id
 * bookkeeping for raw clients, complete QoS flows, and byte builders for hand-made packets.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/config.js';
import type {
  ConnectPacket, Packet, PublishPacket, PublishProperties, QoS, SubscribeProperties, Subscription,
} from '../../src/codec/index.js';
import { RawClient, startBroker, type TestBroker } from './helpers.js';
import { hex } from '../support/bytes.js';

export type V = 4 | 5;
export const VERSIONS: readonly V[] = [4, 5];
/** Suffix for test names: which protocol version the case runs. */
export const tag = (v: V): string => (v === 5 ? '(MQTT 5)' : '(MQTT 3.1.1)');

export type ConnectFields = Partial<ConnectPacket>;

export interface Env extends TestBroker {
  /** A raw client connected with CONNACK 0; closed after the test. */
  client(v: V, fields?: ConnectFields): Promise<RawClient>;
  /** A raw client with an open socket and nothing sent yet. */
  open(v: V): Promise<RawClient>;
  /** An MQTT.js client, connected; ended after the test. */
  mqttjs(v: V, options?: IClientOptions): Promise<MqttClient>;
}

/** A broker for one test; it and every client opened through it are closed when the test ends. */
export async function env(t: TestContext, options: BrokerOptions = {}, deps: BrokerDeps = {}): Promise<Env> {
  const b = await startBroker(options, deps);
  const raws: RawClient[] = [];
  const libs: MqttClient[] = [];
  t.after(async () => {
    for (const c of raws) c.end();
    await Promise.all(libs.map((c) => c.endAsync(true).catch(() => undefined)));
    await b.close();
  });
  return {
    ...b,
    async client(v, fields = {}) {
      const c = await RawClient.connected(b.port, { protocolVersion: v, ...fields });
      raws.push(c);
      return c;
    },
    async open(v) {
      const c = await RawClient.open(b.port, v);
      raws.push(c);
      return c;
    },
    async mqttjs(v, o = {}) {
      const c = await mqtt.connectAsync(b.url, { protocolVersion: v, reconnectPeriod: 0, connectTimeout: 2000, ...o });
      libs.push(c);
      return c;
    },
  };
}

// --- packet identifiers -----------------------------------------------------------------------

const lastId = new WeakMap<RawClient, number>();

/** The next unused packet identifier of this raw client (1, 2, 3, …). */
export function nextId(c: RawClient): number {
  const id = (lastId.get(c) ?? 0) + 1;
  lastId.set(c, id);
  return id;
}

// --- subscribing and publishing ---------------------------------------------------------------

export type SubSpec = string | (Partial<Subscription> & { topicFilter: string });

/** SUBSCRIBE (QoS 2 unless given) and the SUBACK's reason codes; asserts the packet id matches. */
export async function subscribe(
  c: RawClient, subs: SubSpec | SubSpec[], qos: QoS = 2, properties?: SubscribeProperties,
): Promise<number[]> {
  const list = (Array.isArray(subs) ? subs : [subs]).map((s): Subscription =>
    typeof s === 'string' ? { topicFilter: s, qos } : { qos, ...s });
  const packetId = nextId(c);
  c.send({ type: 'subscribe', packetId, subscriptions: list, ...(properties ? { properties } : {}) });
  const ack = await c.expect('suback');
  assert.equal(ack.packetId, packetId, 'SUBACK packet id [MQTT-3.8.4-2]');
  return ack.reasonCodes;
}

export async function unsubscribe(c: RawClient, filters: string | string[]): Promise<number[]> {
  const packetId = nextId(c);
  c.send({ type: 'unsubscribe', packetId, topicFilters: Array.isArray(filters) ? filters : [filters] });
  const ack = await c.expect('unsuback');
  assert.equal(ack.packetId, packetId, 'UNSUBACK packet id [MQTT-2.2.1-6]');
  return ack.reasonCodes;
}

export interface PubOptions {
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  properties?: PublishProperties;
  packetId?: number;
}

/** Sends a PUBLISH and returns its packet id (0 for QoS 0); reads nothing. */
export function sendPublish(c: RawClient, topic: string, payload: string | Buffer, o: PubOptions = {}): number {
  const qos = o.qos ?? 0;
  const p: PublishPacket = {
    type: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos, retain: o.retain ?? false, dup: o.dup ?? false,
  };
  if (qos > 0) p.packetId = o.packetId ?? nextId(c);
  if (o.properties) p.properties = o.properties;
  c.send(p);
  return p.packetId ?? 0;
}

/**
 * Publishes and completes the flow: QoS 1 → PUBACK, QoS 2 → PUBREC, PUBREL, PUBCOMP. Returns the PUBACK
 * or PUBREC. The client must not be receiving PUBLISH packets meanwhile (use a separate publisher).
 */
export async function publish(
  c: RawClient, topic: string, payload: string | Buffer, o: PubOptions = {},
): Promise<Extract<Packet, { type: 'puback' | 'pubrec' }> | undefined> {
  const id = sendPublish(c, topic, payload, o);
  if ((o.qos ?? 0) === 0) return undefined;
  if (o.qos === 1) {
    const ack = await c.expect('puback');
    assert.equal(ack.packetId, id, 'PUBACK packet id [MQTT-4.3.2-4]');
    return ack;
  }
  const rec = await c.expect('pubrec');
  assert.equal(rec.packetId, id, 'PUBREC packet id [MQTT-4.3.3-8]');
  if ((rec.reasonCode ?? 0) >= 0x80) return rec;
  c.send({ type: 'pubrel', packetId: id, reasonCode: 0 });
  const comp = await c.expect('pubcomp');
  assert.equal(comp.packetId, id, 'PUBCOMP packet id [MQTT-4.3.3-11]');
  return rec;
}

/**
 * Reads `n` PUBLISH packets, acknowledging each (PUBACK; PUBREC then PUBCOMP for the PUBREL) unless
 * `ack` is false. Fails on any other packet. With `ack`, it also waits for the PUBRELs of QoS 2 ones.
 */
export async function receive(c: RawClient, n: number, ack = true, timeoutMs = 1500): Promise<PublishPacket[]> {
  const got: PublishPacket[] = [];
  let awaitingRel = 0;
  while (got.length < n || awaitingRel > 0) {
    const p = await c.next(timeoutMs);
    if (!p) throw new Error(`connection closed after ${got.length} of ${n} PUBLISH packets`);
    if (p.type === 'publish') {
      got.push(p);
      if (!ack) continue;
      if (p.qos === 1) c.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      if (p.qos === 2) {
        c.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
        awaitingRel++;
      }
    } else if (p.type === 'pubrel' && ack) {
      c.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
      awaitingRel--;
    } else {
      throw new Error(`expected PUBLISH, got ${JSON.stringify(p)}`);
    }
  }
  return got;
}

/** One PUBLISH, acknowledged. */
export async function receiveOne(c: RawClient, ack = true): Promise<PublishPacket> {
  return (await receive(c, 1, ack))[0]!;
}

export const text = (p: PublishPacket): string => p.payload.toString('utf8');

/**
 * The broker closes the connection: an MQTT 5 client first gets DISCONNECT with `reasonCode`; a 3.1.1
 * client gets no packet at all (3.1.1 has no server DISCONNECT).
 */
export async function expectServerClose(c: RawClient, v: V, reasonCode: number): Promise<void> {
  const p = await c.next(2000);
  if (v === 5) {
    assert.ok(p, `expected DISCONNECT 0x${reasonCode.toString(16)}, the connection closed without one`);
    assert.equal(p.type, 'disconnect', `expected DISCONNECT, got ${JSON.stringify(p)}`);
    assert.equal(p.reasonCode, reasonCode,
      `DISCONNECT reason code 0x${(p.reasonCode ?? 0).toString(16)}, expected 0x${reasonCode.toString(16)}`);
  } else {
    assert.equal(p, undefined, `3.1.1: expected the connection closed without a packet, got ${JSON.stringify(p)}`);
  }
  await c.waitClosed(2000);
  assert.equal(c.error, undefined, 'what the broker sent decoded');
}

/** A client that can still publish and receive: subscribes to `probe/#`, publishes QoS 1, gets it back. */
export async function assertWorks(c: RawClient, label = 'probe'): Promise<void> {
  await subscribe(c, 'probe/#', 1);
  const id = sendPublish(c, `probe/${label}`, 'still here', { qos: 1 });
  let acked = false;
  let delivered = false;
  while (!acked || !delivered) {
    const p = await c.next(1500);
    assert.ok(p, 'connection closed');
    if (p.type === 'puback') {
      assert.equal(p.packetId, id);
      acked = true;
    } else if (p.type === 'publish') {
      assert.equal(p.topic, `probe/${label}`);
      assert.equal(text(p), 'still here');
      c.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      delivered = true;
    } else {
      assert.fail(`unexpected ${JSON.stringify(p)}`);
    }
  }
}

// --- bytes ------------------------------------------------------------------------------------

export { hex, pkt } from '../support/bytes.js';

/** A length-prefixed string field from raw bytes (hex), valid UTF-8 or not. */
export function rawStr(bytesHex: string): string {
  const b = hex(bytesHex);
  return `${b.length.toString(16).padStart(4, '0')}${b.toString('hex')}`;
}

/** A length-prefixed UTF-8 string field (hex). */
export const str = (s: string): string => rawStr(Buffer.from(s, 'utf8').toString('hex'));

/**
 * Crash tests with real processes: `moat broker` on SQLite (and on Redis) is killed with SIGKILL in the
 * middle of a stream of numbered QoS 1 and QoS 2 messages, then started again on the same store. Every
 * message the publisher saw acknowledged reaches both persistent sessions (the one that was online and
 * the one that was offline): QoS 1 at least once, QoS 2 exactly once. Subscriptions, retained messages
 * and the will of a client the crash disconnected come back too. Killed at several points.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Packet } from '../../src/codec/index.js';
import { RawClient, sleep } from '../broker/helpers.js';
import { killCliBroker, startCliBroker, type CliBroker } from '../support/cli-broker.js';
import { REDIS_URL, redisPrefix } from './store-kinds.js';

type Running = CliBroker;

const startBroker = (dataDir: string, storeArgs: string[]): Promise<Running> =>
  startCliBroker(['--listen', 'mqtt://127.0.0.1:0', '--data-dir', dataDir, ...storeArgs, '--log-level', 'error']);
const kill = killCliBroker;

const connectPacket = (clientId: string, extra: Partial<Extract<Packet, { type: 'connect' }>> = {}): Packet => ({
  type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId, clean: false,
  properties: { sessionExpiryInterval: 3600 }, ...extra,
});

async function connect(port: number, clientId: string, extra: Partial<Extract<Packet, { type: 'connect' }>> = {}): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send(connectPacket(clientId, extra));
  const ack = await c.expect('connack');
  assert.equal(ack.reasonCode, 0);
  return c;
}

/**
 * A subscriber application with its own QoS 2 receive state (Method B of spec 4.3.3: deliver on PUBLISH,
 * keep the packet id until PUBREL), which outlives its connections as a real client's session would.
 */
class Subscriber {
  readonly delivered = new Map<string, number>();
  private readonly awaitingRel = new Set<number>();
  private client: RawClient | undefined;
  lastActivity = Date.now();

  attach(c: RawClient): void {
    this.client = c;
    void this.pump(c);
  }

  private async pump(c: RawClient): Promise<void> {
    for (;;) {
      let p: Packet | undefined;
      try {
        p = await c.next(60_000);
      } catch {
        return;
      }
      if (!p) return;
      this.lastActivity = Date.now();
      if (p.type === 'publish') {
        if (p.qos === 2 && this.awaitingRel.has(p.packetId!)) {
          c.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 }); // a resend: not delivered again
          continue;
        }
        const key = p.payload.toString();
        this.delivered.set(key, (this.delivered.get(key) ?? 0) + 1);
        if (p.qos === 1) c.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
        if (p.qos === 2) {
          this.awaitingRel.add(p.packetId!);
          c.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
        }
      } else if (p.type === 'pubrel') {
        this.awaitingRel.delete(p.packetId);
        c.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
      }
    }
  }

  /** Waits until nothing has arrived for `ms`. */
  async settle(ms = 600): Promise<void> {
    while (Date.now() - this.lastActivity < ms) await sleep(50);
  }

  end(): void {
    this.client?.end();
  }
}

/**
 * At most this many messages: the offline session's queue (maxQueuedMessages, 1000) keeps room for all
 * of them, the will and 'after-restart'. Past it the broker refuses every message as a whole with 0x97
 * (Quota exceeded), the will included, and a fast stream or a late kill on a loaded machine gets there.
 */
const STREAM_LIMIT = 900;

/**
 * Streams numbered messages, odd QoS 1 and even QoS 2, 16 in flight, until its connection dies or
 * STREAM_LIMIT. Only a PUBACK/PUBREC with a success code (below 0x80) is an acknowledgement.
 */
class Publisher {
  readonly acked = new Map<number, 1 | 2>();
  /** Message number → the failure reason code it was refused with (routed to nobody). */
  readonly refused = new Map<number, number>();
  /** QoS 2 messages PUBREC'd whose PUBREL is not yet completed. */
  readonly released = new Set<number>();
  next = 1;

  async stream(c: RawClient): Promise<void> {
    const outstanding = new Map<number, number>(); // packet id → message number
    const send = (): void => {
      if (this.next > STREAM_LIMIT) return;
      const n = this.next++;
      const qos = n % 2 === 0 ? 2 : 1;
      const packetId = ((n - 1) % 60_000) + 1;
      outstanding.set(packetId, n);
      c.send({ type: 'publish', topic: `crash/${n % 4}`, payload: Buffer.from(String(n)), qos, retain: false, dup: false, packetId });
    };
    for (let i = 0; i < 16; i++) send();
    for (;;) {
      let p: Packet | undefined;
      try {
        p = await c.next(10_000);
      } catch {
        return;
      }
      if (!p) return;
      if (p.type === 'puback' || (p.type === 'pubrec' && (p.reasonCode ?? 0) >= 0x80)) {
        const n = outstanding.get(p.packetId)!;
        if ((p.reasonCode ?? 0) >= 0x80) this.refused.set(n, p.reasonCode!);
        else this.acked.set(n, 1);
        outstanding.delete(p.packetId); // a failed PUBREC ends the QoS 2 flow too: no PUBREL
        send();
      } else if (p.type === 'pubrec') {
        this.acked.set(outstanding.get(p.packetId)!, 2);
        this.released.add(p.packetId);
        c.send({ type: 'pubrel', packetId: p.packetId, reasonCode: 0 });
      } else if (p.type === 'pubcomp') {
        this.released.delete(p.packetId);
        outstanding.delete(p.packetId);
        send();
      }
    }
  }
}

async function crashScenario(storeArgs: string[], killAfterMs: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'moat-crash-'));
  const online = new Subscriber();
  const offline = new Subscriber();
  let broker: Running | undefined;
  try {
    broker = await startBroker(dataDir, storeArgs);
    for (const [id, s] of [['online', online], ['offline', offline]] as const) {
      const c = await connect(broker.port, id);
      c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'crash/#', qos: 2 }] });
      assert.deepEqual((await c.expect('suback')).reasonCodes, [2]);
      if (s === offline) {
        c.send({ type: 'disconnect', reasonCode: 0 });
        await c.waitClosed();
      } else s.attach(c);
    }
    const setup = await connect(broker.port, 'setup', { clean: true, properties: {} });
    setup.send({ type: 'publish', topic: 'keep/retained', payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, packetId: 1 });
    await setup.expect('puback');
    setup.end();
    // A client with a will that the crash will disconnect: its will is due when the broker is back.
    const willer = await connect(broker.port, 'willer', {
      will: { topic: 'crash/will', payload: Buffer.from('willer-gone'), qos: 1, retain: false },
    });

    const publisher = new Publisher();
    const streaming = publisher.stream(await connect(broker.port, 'pub'));
    await sleep(killAfterMs);
    await kill(broker);
    await streaming;
    willer.end();
    assert.ok(publisher.acked.size > 0, 'the publisher saw acknowledgements before the kill');

    broker = await startBroker(dataDir, storeArgs);
    online.attach(await connect(broker.port, 'online'));
    offline.attach(await connect(broker.port, 'offline'));
    // The publisher comes back too and finishes its QoS 2 flows [MQTT-4.4.0-1].
    const pub = await connect(broker.port, 'pub');
    for (const id of publisher.released) {
      pub.send({ type: 'pubrel', packetId: id, reasonCode: 0 });
      // 0x92: the broker had completed this PUBREL before the kill, only the PUBCOMP was lost.
      assert.ok([0, 0x92].includes((await pub.expect('pubcomp')).reasonCode ?? 0), `PUBREL ${id} answered`);
    }
    // Subscriptions came back: a message published now reaches both sessions.
    pub.send({ type: 'publish', topic: 'crash/after', payload: Buffer.from('after-restart'), qos: 1, retain: false, dup: false, packetId: 1 });
    assert.equal((await pub.expect('puback')).reasonCode, 0);
    await online.settle();
    await offline.settle();

    for (const [name, s] of [['online', online], ['offline', offline]] as const) {
      for (const [n, qos] of publisher.acked) {
        const count = s.delivered.get(String(n)) ?? 0;
        if (qos === 1) assert.ok(count >= 1, `${name}: acknowledged QoS 1 message ${n} lost (${publisher.acked.size} acked)`);
        else assert.equal(count, 1, `${name}: acknowledged QoS 2 message ${n} delivered ${count} times`);
      }
      // A refused message was routed to nobody (the broker refuses it as a whole, never in part).
      for (const [n, code] of publisher.refused) {
        assert.equal(code, 0x97, `message ${n} refused with ${code}`);
        assert.equal(s.delivered.get(String(n)), undefined, `${name}: refused message ${n} delivered`);
      }
      for (const [key, count] of s.delivered) {
        if (Number(key) % 2 === 0) assert.ok(count <= 1, `${name}: QoS 2 message ${key} delivered ${count} times`);
      }
      assert.equal(s.delivered.get('after-restart'), 1, `${name}: subscription restored`);
      assert.equal(s.delivered.get('willer-gone'), 1, `${name}: the will of the client the crash disconnected`);
    }
    const fresh = await connect(broker.port, 'fresh', { clean: true, properties: {} });
    fresh.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'keep/#', qos: 1 }] });
    await fresh.expect('suback');
    const retained = await fresh.expect('publish');
    assert.equal(retained.payload.toString(), 'kept');
    assert.equal(retained.retain, true);
    for (const c of [fresh, pub]) c.end();
  } finally {
    // Also after a failed assertion: a live broker or socket would keep the test process running.
    online.end();
    offline.end();
    if (broker) await kill(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('crash: SIGKILL mid-stream, restart, nothing acknowledged is lost', { timeout: 120_000 }, () => {
  for (const ms of [40, 150, 400]) {
    test(`SQLite: killed ${ms} ms into the stream`, () => crashScenario(['--store', 'sqlite'], ms));
  }
  for (const ms of [60, 250]) {
    test(`Redis: killed ${ms} ms into the stream`, async () => {
      // A key prefix of its own (deleted after the file), given through a config file.
      const dir = mkdtempSync(join(tmpdir(), 'moat-crash-cfg-'));
      try {
        const cfg = join(dir, 'redis.yaml');
        writeFileSync(cfg, `store:\n  type: redis\n  url: ${REDIS_URL}\n  prefix: "${redisPrefix()}"\n  lockTtlSeconds: 2\n`);
        await crashScenario(['--config', cfg], ms);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

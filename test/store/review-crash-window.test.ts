/**
 * Review (h-review): SIGKILL inside a commit window. `moat broker` runs as a child process on a Redis of
 * this test's own (never the shared one); `CLIENT PAUSE … WRITE` holds the broker's MULTI/EXEC the way a
 * slow fsync would, the broker is killed while it waits (its pending transaction dies with its
 * connection), then started again on the same keys. What a client was told before the kill must hold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Packet } from '../../src/codec/index.js';
import { RawClient, sleep } from '../broker/helpers.js';
import { killCliBroker, startCliBroker, type CliBroker } from '../support/cli-broker.js';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.js';


let redis: OwnRedis;
let admin: Redis;
let url = '';
let dir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moat-review-'));
  redis = await startOwnRedis();
  ({ url, admin } = redis);
});

after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Running = CliBroker;

async function startBroker(prefix: string): Promise<Running> {
  const cfg = join(dir, `${prefix.replace(/\W/g, '')}.yaml`);
  writeFileSync(cfg, `store:\n  type: redis\n  url: ${url}\n  prefix: "${prefix}"\n`);
  return startCliBroker(['--listen', 'mqtt://127.0.0.1:0', '--data-dir', dir, '--config', cfg, '--log-level', 'error'], { timeoutMs: 15_000 });
}

const kill = killCliBroker;

const connectPacket = (clientId: string, clean = false, expiry = 3600): Packet => ({
  type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId, clean,
  properties: { sessionExpiryInterval: expiry },
});

async function connect(port: number, clientId: string): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send(connectPacket(clientId));
  assert.equal((await c.expect('connack')).reasonCode, 0);
  return c;
}

/** Holds every write the broker sends to Redis until `unpause`. */
const pause = (): Promise<unknown> => admin.call('CLIENT', 'PAUSE', '20000', 'WRITE');
const unpause = (): Promise<unknown> => admin.call('CLIENT', 'UNPAUSE');

describe('review: SIGKILL inside a commit window (Redis writes held by CLIENT PAUSE)', { timeout: 60_000 }, () => {
  test('[MQTT-3.1.2-4] a Clean Start CONNACK (session discarded) is not undone by a crash', async () => {
    const prefix = `review-${process.pid}-cw1:`;
    let broker = await startBroker(prefix);
    const old = await connect(broker.port, 'cw');
    old.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'cw/#', qos: 1 }] });
    await old.expect('suback');
    old.send({ type: 'disconnect', reasonCode: 0 });
    await old.waitClosed();

    let toldClean = false;
    await pause();
    try {
      const c = await RawClient.open(broker.port);
      c.send(connectPacket('cw', true, 0));
      const ack = await c.next(1000).catch(() => undefined);
      toldClean = ack?.type === 'connack' && ack.reasonCode === 0 && !ack.sessionPresent;
      await kill(broker);
      c.end();
    } finally {
      await unpause();
    }

    broker = await startBroker(prefix);
    try {
      const back = await RawClient.open(broker.port);
      back.send(connectPacket('cw'));
      const ack = await back.expect('connack');
      if (toldClean) assert.equal(ack.sessionPresent, false, 'told "session discarded" before the kill; the session is back after it');
      back.end();
    } finally {
      await kill(broker);
    }
  });

  test('[MQTT-4.3.3-5] a PUBREL sent on resumption before AwaitPubcomp is durable: no second delivery after a crash', async () => {
    const prefix = `review-${process.pid}-cw2:`;
    let broker = await startBroker(prefix);
    let sub = await connect(broker.port, 'rel-sub');
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'rel/#', qos: 2 }] });
    await sub.expect('suback');
    const pub = await connect(broker.port, 'rel-pub');
    pub.send({ type: 'publish', topic: 'rel/1', payload: Buffer.from('once'), qos: 2, retain: false, dup: false, packetId: 1 });
    await pub.expect('pubrec');
    pub.end();

    // The subscriber application (Method B): delivers on PUBLISH, holds the id until PUBREL.
    const delivered: string[] = [];
    const holding = new Set<number>();
    const first = await sub.expect('publish');
    delivered.push(first.payload.toString());
    holding.add(first.packetId!);

    await pause();
    try {
      sub.send({ type: 'pubrec', packetId: first.packetId!, reasonCode: 0 });
      await sleep(100); // no PUBREL yet: AwaitPubcomp is not stored
      sub.end();
      await sleep(100);
      // It comes back at once, inside the same commit window.
      sub = await RawClient.open(broker.port);
      sub.send(connectPacket('rel-sub'));
      const ack = await sub.next(1000).catch(() => undefined);
      if (ack?.type === 'connack') {
        const p = await sub.next(500).catch(() => undefined);
        if (p?.type === 'pubrel') {
          holding.delete(p.packetId);
          sub.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
          await sleep(100);
        }
      }
      await kill(broker);
      sub.end();
    } finally {
      await unpause();
    }

    broker = await startBroker(prefix);
    try {
      sub = await connect(broker.port, 'rel-sub');
      for (;;) {
        const p = await sub.next(800).catch(() => undefined);
        if (!p) break;
        if (p.type === 'publish') {
          if (!holding.has(p.packetId!)) {
            delivered.push(p.payload.toString());
            holding.add(p.packetId!);
          }
          sub.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
        } else if (p.type === 'pubrel') {
          holding.delete(p.packetId);
          sub.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
        }
      }
      assert.deepEqual(delivered, ['once'], 'QoS 2 message delivered to the application more than once');
      sub.end();
    } finally {
      await kill(broker);
    }
  });
});

/**
 * Limits: a full queue refuses a QoS 1/2 message before anyone gets it (never acknowledged and then
 * dropped), QoS 0 goes first, the broker-wide memory cap, slow consumers, the connection and session caps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startBroker, sleep } from './helpers.js';
import { until } from './clock-harness.js';
import { startSysTopics } from '../../src/broker/sys-topics.js';

const payload = (n: number): Buffer => Buffer.from(String(n));

async function offlineSubscriber(port: number, id: string, filter = 't/#', version: 4 | 5 = 5): Promise<void> {
  const s = await RawClient.connected(port, {
    clientId: id, clean: true, protocolVersion: version,
    ...(version === 5 ? { properties: { sessionExpiryInterval: 600 } } : { clean: false }),
  });
  s.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos: 1 }] });
  await s.expect('suback');
  s.send({ type: 'disconnect' });
  await s.waitClosed();
}

test('a full queue refuses QoS 1 from a v5 publisher with PUBACK 0x97; what was acknowledged is all delivered', async () => {
  const b = await startBroker({ limits: { maxQueuedMessages: 3 } });
  try {
    await offlineSubscriber(b.port, 'slow');
    const pub = await RawClient.connected(b.port, { clientId: 'pub' });
    const codes: number[] = [];
    for (let i = 1; i <= 5; i++) {
      pub.send({ type: 'publish', topic: 't/x', payload: payload(i), qos: 1, packetId: i, retain: false, dup: false });
      codes.push((await pub.expect('puback')).reasonCode ?? 0);
    }
    assert.deepEqual(codes, [0, 0, 0, 0x97, 0x97]);
    assert.equal(b.broker.stats.quotaRefusals, 2);
    const sub = await RawClient.connected(b.port, { clientId: 'slow', clean: false, properties: { sessionExpiryInterval: 600 } });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await sub.expect('publish');
      got.push(p.payload.toString());
      sub.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
    }
    assert.deepEqual(got, ['1', '2', '3']);
    await sub.quiet();
  } finally {
    await b.close();
  }
});

test('a full queue closes a 3.1.1 QoS 1 publisher without PUBACK (it resends later): no acknowledged loss', async () => {
  const b = await startBroker({ limits: { maxQueuedMessages: 1 } });
  try {
    await offlineSubscriber(b.port, 'slow311', 't/#', 4);
    const pub = await RawClient.connected(b.port, { clientId: 'pub311', protocolVersion: 4 });
    pub.send({ type: 'publish', topic: 't/x', payload: payload(1), qos: 1, packetId: 1, retain: false, dup: false });
    assert.equal((await pub.expect('puback')).packetId, 1);
    pub.send({ type: 'publish', topic: 't/x', payload: payload(2), qos: 1, packetId: 2, retain: false, dup: false });
    assert.equal(await pub.next(), undefined, 'closed without PUBACK');
  } finally {
    await b.close();
  }
});

test('QoS 0 is dropped first: queued QoS 0 makes room for QoS 1, and is counted', async () => {
  // The subscriber reads only at the end, so push back would hold the publisher: keep that pause short.
  const b = await startBroker({ limits: { maxQueuedMessages: 2, maxThrottleMs: 50 } });
  try {
    await offlineSubscriber(b.port, 'mixed');
    // QoS 0 is not queued for an offline client at all; fill its queue while it is online but not reading.
    const sub = await RawClient.connected(b.port, { clientId: 'mixed', clean: false, properties: { sessionExpiryInterval: 600, receiveMaximum: 1 } });
    const pub = await RawClient.connected(b.port, { clientId: 'pub2' });
    pub.send({ type: 'publish', topic: 't/a', payload: payload(1), qos: 1, packetId: 1, retain: false, dup: false }); // in flight
    await pub.expect('puback');
    pub.send({ type: 'publish', topic: 't/a', payload: payload(2), qos: 1, packetId: 2, retain: false, dup: false }); // queued
    await pub.expect('puback');
    pub.send({ type: 'publish', topic: 't/a', payload: payload(3), qos: 0, retain: false, dup: false }); // queued behind QoS 1
    pub.send({ type: 'publish', topic: 't/a', payload: payload(4), qos: 1, packetId: 3, retain: false, dup: false }); // evicts 3
    assert.equal((await pub.expect('puback')).reasonCode, 0);
    assert.equal(b.broker.stats.droppedQos0, 1);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await sub.expect('publish');
      seen.push(p.payload.toString());
      if (p.qos > 0) sub.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
    }
    assert.deepEqual(seen, ['1', '2', '4']);
  } finally {
    await b.close();
  }
});

test('the broker-wide memory cap refuses QoS 1 once queued payload bytes would pass it', async () => {
  const b = await startBroker({ limits: { maxMemoryBytes: 2500 } });
  try {
    await offlineSubscriber(b.port, 'm1');
    await offlineSubscriber(b.port, 'm2');
    const pub = await RawClient.connected(b.port, { clientId: 'pubm' });
    const big = Buffer.alloc(600, 1);
    const codes: number[] = [];
    for (let i = 1; i <= 3; i++) {
      pub.send({ type: 'publish', topic: 't/m', payload: big, qos: 1, packetId: i, retain: false, dup: false });
      codes.push((await pub.expect('puback')).reasonCode ?? 0);
    }
    // Two sessions × 600 B per message: 1200, 2400, then 3600 > 2500.
    assert.deepEqual(codes, [0, 0, 0x97]);
    assert.equal(b.broker.memory.used, 2400);
  } finally {
    await b.close();
  }
});

test('a slow consumer whose socket does not drain in drainTimeoutMs is disconnected and counted', async () => {
  const b = await startBroker({ limits: { maxWriteBuffer: 1024, drainTimeoutMs: 300 } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'sloth' });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'flood', qos: 0 }] });
    await sub.expect('suback');
    sub.socket.pause();
    const gone = new Promise<string>((r) => b.broker.on('clientDisconnected', (c: { clientId: string }) => r(c.clientId)));
    const pub = await RawClient.connected(b.port, { clientId: 'flooder' });
    const chunk = Buffer.alloc(60_000, 7);
    for (let i = 0; i < 200 && b.broker.stats.slowConsumers === 0; i++) {
      pub.send({ type: 'publish', topic: 'flood', payload: chunk, qos: 0, retain: false, dup: false });
      await sleep(5);
    }
    assert.equal(await gone, 'sloth');
    assert.equal(b.broker.stats.slowConsumers, 1);
  } finally {
    await b.close();
  }
});

test('maxConnections: connections beyond the limit are closed at once and counted', async () => {
  const b = await startBroker({ limits: { maxConnections: 2 } });
  try {
    const a = await RawClient.connected(b.port, { clientId: 'a' });
    const c = await RawClient.connected(b.port, { clientId: 'c' });
    const third = await RawClient.open(b.port);
    await third.waitClosed();
    assert.equal(b.broker.stats.connectionsRefused, 1);
    a.end();
    c.end();
  } finally {
    await b.close();
  }
});

test('maxConnections: sockets that have not sent a byte yet count too', async () => {
  const b = await startBroker({ limits: { maxConnections: 2 } });
  try {
    const silent = [await RawClient.open(b.port), await RawClient.open(b.port)];
    await until(() => b.broker.liveConnections === 2, 'both sockets held');
    assert.equal(b.broker.connections.size, 0); // no Connection before the first bytes
    const third = await RawClient.open(b.port);
    await third.waitClosed();
    assert.equal(b.broker.stats.connectionsRefused, 1);
    assert.equal(b.broker.stats.connectionsTotal, 2);
    // A held socket that then sends CONNECT is served within the same limit.
    silent[0]!.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 'late', clean: true });
    assert.equal((await silent[0]!.expect('connack')).reasonCode, 0);
    assert.equal(b.broker.connections.size, 1);
    assert.equal(b.broker.liveConnections, 2);
    for (const c of silent) c.end();
  } finally {
    await b.close();
  }
});

test('maxSessions: a CONNECT that would create one more session is refused (v5 0x97, 3.1.1 return code 3); resuming one is not', async () => {
  const b = await startBroker({ limits: { maxSessions: 2 } });
  try {
    for (const id of ['s1', 's2']) {
      const c = await RawClient.connected(b.port, { clientId: id, clean: false, properties: { sessionExpiryInterval: 600 } });
      c.send({ type: 'disconnect', reasonCode: 0 });
      await c.waitClosed();
    }
    const v5 = await RawClient.open(b.port);
    v5.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 's3', clean: true });
    assert.equal((await v5.expect('connack')).reasonCode, 0x97);
    await v5.waitClosed();
    const v4 = await RawClient.open(b.port, 4);
    v4.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, keepAlive: 0, clientId: 's4', clean: true });
    assert.equal((await v4.expect('connack')).reasonCode, 3);
    await v4.waitClosed();
    const back = await RawClient.open(b.port);
    back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepAlive: 0, clientId: 's1', clean: false, properties: { sessionExpiryInterval: 600 } });
    const ack = await back.expect('connack');
    assert.deepEqual([ack.reasonCode, ack.sessionPresent], [0, true]);
    back.end();
    assert.equal(b.broker.sessions.size, 2);
  } finally {
    await b.close();
  }
});

test('$SYS/broker topics are published retained, and no client may publish into $SYS', async () => {
  const b = await startBroker();
  const stop = startSysTopics(b.broker, 1, 'test');
  try {
    const c = await RawClient.connected(b.port, { clientId: 'sys' });
    c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$SYS/broker/clients/connected', qos: 0 }] });
    await c.expect('suback');
    const p = await c.expect('publish', 2500);
    assert.equal(p.topic, '$SYS/broker/clients/connected');
    assert.equal(p.retain, true);
    assert.match(p.payload.toString(), /^\d+$/);
    c.send({ type: 'publish', topic: '$SYS/broker/clients/connected', payload: Buffer.from('999'), qos: 1, packetId: 5, retain: true, dup: false });
    assert.equal((await c.expect('puback')).reasonCode, 0x87);
    assert.notEqual(b.broker.retained.match('$SYS/broker/clients/connected', Date.now())[0]?.payload.toString(), '999');
  } finally {
    stop();
    await b.close();
  }
});

test('push back: a 3.1.1 QoS 1 publisher faster than a live subscriber is paused, not disconnected, and nothing is lost', async () => {
  const b = await startBroker({ limits: { maxQueuedMessages: 40, maxInflight: 4 } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'slow-sub', protocolVersion: 4 });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'p/#', qos: 1 }] });
    await sub.expect('suback');
    const received: number[] = [];
    const subDone = (async () => {
      while (received.length < 400) {
        const p = await sub.expect('publish', 10_000);
        received.push(Number(p.payload.toString()));
        await sleep(received.length % 20 === 0 ? 5 : 0); // slower than the publisher
        sub.send({ type: 'puback', packetId: p.packetId! });
      }
    })();
    const pub = await RawClient.connected(b.port, { clientId: 'fast-pub', protocolVersion: 4 });
    let acked = 0;
    let sent = 0;
    while (acked < 400) {
      while (sent < 400 && sent - acked < 8) {
        sent++;
        pub.send({ type: 'publish', topic: 'p/x', payload: payload(sent), qos: 1, packetId: sent, retain: false, dup: false });
      }
      await pub.expect('puback', 10_000);
      acked++;
    }
    await subDone;
    assert.deepEqual(received, Array.from({ length: 400 }, (_, i) => i + 1));
    assert.equal(pub.closed, false);
    assert.equal(b.broker.stats.quotaRefusals, 0);
  } finally {
    await b.close();
  }
});

test('push back is bounded: after maxThrottleMs the publisher is read again and the queue limit refuses (0x97)', async () => {
  const b = await startBroker({ limits: { maxQueuedMessages: 4, maxInflight: 1, maxThrottleMs: 200 } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'stuck', properties: { receiveMaximum: 1 } });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 's', qos: 1 }] });
    await sub.expect('suback');
    const pub = await RawClient.connected(b.port, { clientId: 'pusher' });
    const codes: number[] = [];
    for (let i = 1; i <= 7; i++) {
      pub.send({ type: 'publish', topic: 's', payload: payload(i), qos: 1, packetId: i, retain: false, dup: false });
      codes.push((await pub.expect('puback', 3000)).reasonCode ?? 0);
    }
    // 1 in flight + 4 queued are taken; the rest are refused, never acknowledged and dropped.
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0x97, 0x97]);
    assert.ok(b.broker.stats.throttleTimeouts >= 1, 'the pause ended by its bound');
  } finally {
    await b.close();
  }
});

test('[MQTT-3.1.2-22] a publisher paused by push back is not disconnected for keep alive while the broker is not reading it', async () => {
  const b = await startBroker({ limits: { maxQueuedMessages: 4, maxInflight: 1, maxThrottleMs: 2500 } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'ka-sub', properties: { receiveMaximum: 1 } });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'k', qos: 1 }] });
    await sub.expect('suback');
    const pub = await RawClient.connected(b.port, { clientId: 'ka-pub', keepAlive: 1 });
    for (let i = 1; i <= 4; i++) {
      pub.send({ type: 'publish', topic: 'k', payload: payload(i), qos: 1, packetId: i, retain: false, dup: false });
    }
    // Paused for up to 2.5 s: longer than 1.5 × keep alive. The client keeps pinging; we keep not reading.
    for (let i = 0; i < 4; i++) {
      await sleep(500);
      pub.send({ type: 'pingreq' });
    }
    assert.equal(pub.closed, false);
    let pingresps = 0;
    let pubacks = 0;
    while (pingresps < 4) {
      const p = await pub.next(3000);
      if (p?.type === 'pingresp') pingresps++;
      else if (p?.type === 'puback') pubacks++;
      else assert.fail(`unexpected ${JSON.stringify(p)}`);
    }
    assert.equal(pub.closed, false);
    assert.ok(pubacks >= 3);
  } finally {
    await b.close();
  }
});

test('discards are logged as one summary line per interval (not one line per message)', async () => {
  const lines: Array<{ obj: Record<string, number>; msg: string | undefined }> = [];
  const log = { debug() {}, info() {}, error() {}, warn: (obj: object, msg?: string) => lines.push({ obj: obj as Record<string, number>, msg }) };
  let fire: (() => void) | undefined;
  const clock = { now: () => Date.now(), setTimeout: (fn: () => void) => { fire = fn; return 1; }, clearTimeout() {} };
  const b = await startBroker({}, { log, clock });
  try {
    b.broker.stats.droppedQos0 += 500;
    fire!();
    fire!(); // nothing new: no line
    const reports = lines.filter((l) => l.msg === 'messages discarded or refused by limits');
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.obj['droppedQos0'], 500);
  } finally {
    await b.close();
  }
});

test('[MQTT-3.1.2-26] outgoing topic aliases stop at the broker\'s topicAliasMaximum even when the client allows more', async () => {
  const b = await startBroker({ limits: { topicAliasMaximum: 2 } });
  try {
    const sub = await RawClient.connected(b.port, { clientId: 'alias-sub', properties: { topicAliasMaximum: 100 } });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a/#', qos: 0 }] });
    await sub.expect('suback');
    const pub = await RawClient.connected(b.port, { clientId: 'alias-pub' });
    const aliases: Array<number | undefined> = [];
    for (const t of ['a/1', 'a/2', 'a/3', 'a/3']) {
      pub.send({ type: 'publish', topic: t, payload: payload(1), qos: 0, retain: false, dup: false });
      const p = await sub.expect('publish');
      aliases.push(p.properties?.topicAlias);
    }
    assert.deepEqual(aliases, [1, 2, undefined, undefined]);
  } finally {
    await b.close();
  }
});

test('a will refused by a full queue (quota exceeded) is counted apart, named at debug level, and in the interval\'s one warning line', async () => {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string | undefined }> = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const log = { debug: at('debug'), info() {}, error() {}, warn: at('warn') };
  let fire: (() => void) | undefined;
  // Real (unref'd) timers for everything but the drop report: the only timer of its 10 s here, the
  // connect timeout being set to 5 s.
  const clock = {
    now: () => Date.now(),
    setTimeout: (fn: () => void, ms: number) => (ms === 10_000 ? ((fire = fn), 0) : setTimeout(fn, ms).unref()),
    clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  };
  const b = await startBroker({ limits: { maxQueuedMessages: 1, connectTimeoutMs: 5000 } }, { log, clock });
  try {
    await offlineSubscriber(b.port, 'slow');
    const pub = await RawClient.connected(b.port, { clientId: 'pub' });
    pub.send({ type: 'publish', topic: 't/x', payload: payload(1), qos: 1, packetId: 1, retain: false, dup: false });
    assert.equal((await pub.expect('puback')).reasonCode, 0);
    for (const id of ['w1', 'w2']) {
      const willer = await RawClient.connected(b.port, {
        clientId: id, will: { topic: 't/will', payload: Buffer.from('gone'), qos: 1, retain: false },
      });
      willer.end(); // abnormal close: the will is due, and the queue is full
    }
    for (let i = 0; i < 200 && b.broker.stats.willsRefused < 2; i++) await sleep(10);
    assert.equal(b.broker.stats.willsRefused, 2);
    assert.deepEqual(lines.filter((l) => l.msg?.startsWith('will refused')).map((l) => [l.level, l.obj['clientId']]).sort(),
      [['debug', 'w1'], ['debug', 'w2']]);
    fire!();
    const report = lines.filter((l) => l.level === 'warn' && l.msg === 'messages discarded or refused by limits');
    assert.equal(report.length, 1);
    assert.equal(report[0]!.obj['willsRefused'], 2);
  } finally {
    await b.close();
  }
});

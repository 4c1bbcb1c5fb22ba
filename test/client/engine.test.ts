/** Tier 3: the client engine with packets and a manual clock only — no sockets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMoatError, type Packet, type PublishPacket } from '../../src/codec/index.js';
import { ClientState } from '../../src/client/engine.js';
import { exponentialBackoff } from '../../src/client/backoff.js';
import { OfflineQueue, type PendingPublish } from '../../src/client/offline-queue.js';
import { connectEngine, engineWith } from './fake.js';

const pending = (topic: string, qos: 0 | 1 | 2, out: { ok: unknown[]; err: unknown[] }, payload = 'x'): PendingPublish => ({
  topic, payload: Buffer.from(payload), qos, retain: false,
  resolve: (r) => out.ok.push(r), reject: (e) => out.err.push(e),
});
const publishes = (ps: Packet[]): PublishPacket[] => ps.filter((p): p is PublishPacket => p.type === 'publish');
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('[MQTT-3.3.4-7] [MQTT-4.9.0-2] [MQTT-4.9.0-1] the initial send quota is the broker\'s Receive Maximum: never more QoS 1/2 in flight', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port, { properties: { receiveMaximum: 2 } });
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  for (let i = 0; i < 5; i++) engine.outbound.publish(pending('t', 1, out));
  let sent = publishes(port.take());
  assert.equal(sent.length, 2);
  assert.equal(engine.outbound.queue.length, 3);
  engine.receive({ type: 'puback', packetId: sent[0]!.packetId!, reasonCode: 0 });
  sent = publishes(port.take());
  assert.equal(sent.length, 1, 'one ack frees exactly one slot');
  assert.equal(engine.outbound.inflight, 2);
  assert.equal(out.ok.length, 1);
});

test('[MQTT-4.4.0-2] a PUBACK or PUBREC ≥ 0x80 rejects with MOAT_ERR_PUBLISH_REFUSED and its reason code; no PUBREL', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('a', 1, out));
  engine.outbound.publish(pending('b', 2, out));
  const [p1, p2] = publishes(port.take());
  engine.receive({ type: 'puback', packetId: p1!.packetId!, reasonCode: 0x87 });
  engine.receive({ type: 'pubrec', packetId: p2!.packetId!, reasonCode: 0x97 });
  assert.deepEqual(port.take(), []);
  assert.equal(out.err.length, 2);
  assert.ok(isMoatError(out.err[0], 'MOAT_ERR_PUBLISH_REFUSED'));
  assert.deepEqual(out.err.map((e) => (e as { reasonCode: number }).reasonCode), [0x87, 0x97]);
  assert.equal(engine.outbound.inflight, 0);
});

test('[MQTT-4.3.3-4] QoS 2: PUBREC → PUBREL with the same identifier, resolved at PUBCOMP', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('q2', 2, out));
  const [p] = publishes(port.take());
  engine.receive({ type: 'pubrec', packetId: p!.packetId!, reasonCode: 0 });
  assert.deepEqual(port.take(), [{ type: 'pubrel', packetId: p!.packetId!, reasonCode: 0 }]);
  assert.equal(out.ok.length, 0);
  engine.receive({ type: 'pubcomp', packetId: p!.packetId!, reasonCode: 0 });
  assert.equal(out.ok.length, 1);
});

test('[MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-3.3.1-1] session present: unacknowledged PUBLISH resent in order with DUP, PUBREL resent', () => {
  const { engine, port } = engineWith({ sessionExpiry: 60, clean: false });
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('a', 1, out));
  engine.outbound.publish(pending('b', 2, out));
  engine.outbound.publish(pending('c', 2, out));
  const [, pb] = publishes(port.take());
  engine.receive({ type: 'pubrec', packetId: pb!.packetId!, reasonCode: 0 });
  port.take();
  engine.linkDown();
  assert.equal(engine.state, ClientState.Backoff);
  port.clock.advance(100);
  assert.equal(port.opens, 2);
  engine.linkUp();
  const connect = port.take()[0];
  assert.equal(connect?.type === 'connect' && connect.clean, false, 'a reconnect resumes the session');
  engine.receive({ type: 'connack', sessionPresent: true, reasonCode: 0 });
  const again = port.take();
  assert.deepEqual(again.map((p) => p.type === 'publish' ? `publish ${p.topic} dup=${p.dup}` : p.type),
    ['publish a dup=true', 'pubrel', 'publish c dup=true']);
});

test('PUBCOMP 0x92 answering a PUBREL resent on a resumed session completes the publish (not an error during recovery); outside recovery it rejects', () => {
  const { engine, port } = engineWith({ sessionExpiry: 60, clean: false });
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('r', 2, out));
  engine.outbound.publish(pending('s', 2, out));
  const [pr, ps] = publishes(port.take());
  engine.receive({ type: 'pubrec', packetId: pr!.packetId!, reasonCode: 0 });
  port.take();
  // The broker released "r" and died before its PUBCOMP left.
  engine.linkDown();
  port.clock.advance(100);
  engine.linkUp();
  port.take();
  engine.receive({ type: 'connack', sessionPresent: true, reasonCode: 0 });
  assert.deepEqual(port.take().map((p) => p.type), ['pubrel', 'publish']);
  engine.receive({ type: 'pubcomp', packetId: pr!.packetId!, reasonCode: 0x92 });
  assert.deepEqual(out.ok, [{ reasonCode: 0, packetId: pr!.packetId! }]);
  assert.equal(out.err.length, 0);
  // "s" had its first PUBREL on this connection: 0x92 there is a session mismatch.
  engine.receive({ type: 'pubrec', packetId: ps!.packetId!, reasonCode: 0 });
  port.take();
  engine.receive({ type: 'pubcomp', packetId: ps!.packetId!, reasonCode: 0x92 });
  assert.equal(out.err.length, 1);
  assert.ok(isMoatError(out.err[0], 'MOAT_ERR_PUBLISH_REFUSED'));
  assert.equal(engine.outbound.inflight, 0);
});

test('[MQTT-3.2.2-4] session lost: PUBREC\'d messages complete, unacknowledged ones are published again; subscriptions restored', async () => {
  const { engine, port } = engineWith({ sessionExpiry: 60, clean: false });
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.requests.request({ type: 'subscribe', subscriptions: [{ topicFilter: 's/#', qos: 1 }] }, () => {}, () => {});
  const sub = port.take()[0]!;
  engine.receive({ type: 'suback', packetId: (sub as { packetId: number }).packetId, reasonCodes: [1] });
  engine.outbound.publish(pending('a', 1, out));
  engine.outbound.publish(pending('b', 2, out));
  const [, pb] = publishes(port.take());
  engine.receive({ type: 'pubrec', packetId: pb!.packetId!, reasonCode: 0 });
  port.take();
  engine.linkDown();
  port.clock.advance(100);
  engine.linkUp();
  port.take();
  engine.receive({ type: 'connack', sessionPresent: false, reasonCode: 0 });
  const after = port.take();
  assert.deepEqual(after.map((p) => p.type === 'publish' ? `publish ${p.topic} dup=${p.dup}` : p.type), ['publish a dup=false', 'subscribe']);
  assert.equal(out.ok.length, 1, 'the PUBREC\'d QoS 2 message is complete');
  await tick();
});

test('[MQTT-4.3.3-10] [MQTT-4.3.3-11] incoming QoS 2 resent before PUBREL is acknowledged again but delivered once', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const pub: PublishPacket = { type: 'publish', topic: 'x', payload: Buffer.from('1'), qos: 2, retain: false, dup: false, packetId: 7 };
  engine.receive(pub);
  engine.receive({ ...pub, dup: true });
  assert.equal(port.messages.length, 1);
  engine.receive({ type: 'pubrel', packetId: 7, reasonCode: 0 });
  assert.deepEqual(port.take().map((p) => p.type), ['pubrec', 'pubrec', 'pubcomp']);
  engine.receive(pub); // [MQTT-4.3.3-12] after PUBCOMP the identifier is new
  assert.equal(port.messages.length, 2);
});

test('[MQTT-3.1.2-20] keep alive: PINGREQ after K s idle; a half-open link is declared dead by 1.5 × K', () => {
  const { engine, port } = engineWith({ keepAlive: 10 });
  connectEngine(engine, port);
  port.clock.advance(9_999);
  assert.deepEqual(port.take(), []);
  port.clock.advance(1);
  assert.deepEqual(port.take().map((p) => p.type), ['pingreq']);
  engine.receive({ type: 'pingresp' });
  port.clock.advance(10_000);
  assert.deepEqual(port.take().map((p) => p.type), ['pingreq']);
  // No answer now: the link is half-open.
  port.clock.advance(4_999);
  assert.equal(engine.state, ClientState.Connected);
  port.clock.advance(1);
  assert.equal(engine.state, ClientState.Backoff);
  assert.ok(isMoatError(port.offlines[0], 'MOAT_ERR_KEEPALIVE_TIMEOUT'));
});

test('[MQTT-3.1.2-20] keep alive probes a link that only sends (QoS 0 publishes) and hears nothing back', () => {
  const { engine, port } = engineWith({ keepAlive: 2 });
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  for (let i = 0; i < 30; i++) {
    port.clock.advance(100);
    if (engine.state === ClientState.Connected) engine.outbound.publish(pending('t', 0, out));
  }
  assert.equal(engine.state, ClientState.Backoff, 'dead within 1.5 × 2 s = 3 s');
});

test('[MQTT-3.2.2-21] [MQTT-3.1.2-21] the Server Keep Alive replaces ours', () => {
  const { engine, port } = engineWith({ keepAlive: 60 });
  connectEngine(engine, port, { properties: { serverKeepAlive: 5 } });
  port.clock.advance(5_000);
  assert.deepEqual(port.take().map((p) => p.type), ['pingreq']);
});

test('[MQTT-3.2.2-15] [MQTT-3.2.2-11] [MQTT-3.2.2-14] the broker\'s Maximum Packet Size, Maximum QoS and Retain Available refuse locally', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port, { properties: { maximumPacketSize: 100, maximumQoS: 1, retainAvailable: false } });
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('big', 0, out, 'x'.repeat(200)));
  engine.outbound.publish(pending('q2', 2, out));
  engine.outbound.publish({ ...pending('r', 0, out), retain: true });
  assert.deepEqual(port.take(), []);
  assert.deepEqual(out.err.map((e) => (e as { code: string }).code),
    ['MOAT_ERR_PACKET_TOO_LARGE', 'MOAT_ERR_QOS_NOT_SUPPORTED', 'MOAT_ERR_RETAIN_NOT_SUPPORTED']);
});

test('[MQTT-3.2.2-17] [MQTT-3.3.2-7] outgoing topic aliases up to the broker\'s maximum, reset per connection', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port, { properties: { topicAliasMaximum: 1 } });
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  for (const t of ['a/b', 'a/b', 'c']) engine.outbound.publish(pending(t, 0, out));
  const sent = publishes(port.take()).map((p) => [p.topic, p.properties?.topicAlias]);
  assert.deepEqual(sent, [['a/b', 1], ['', 1], ['c', undefined]]);
  engine.linkDown();
  port.clock.advance(100);
  engine.linkUp();
  engine.receive({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 1 } });
  port.take();
  engine.outbound.publish(pending('a/b', 0, out));
  assert.deepEqual(publishes(port.take()).map((p) => [p.topic, p.properties?.topicAlias]), [['a/b', 1]]);
});

test('reconnect backoff: exponential, capped, jittered between half and all of the cap', () => {
  const lo = exponentialBackoff(100, 1000, () => 0);
  const hi = exponentialBackoff(100, 1000, () => 0.999999);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => lo.delay(a)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => hi.delay(a)), [100, 200, 400, 800, 1000, 1000]);
});

test('a refused first CONNACK closes with MOAT_ERR_CONNECT_REFUSED; 3.1.1 return codes map to v5 reason codes', () => {
  const { engine, port } = engineWith({ version: 4 });
  engine.start();
  engine.linkUp();
  engine.receive({ type: 'connack', sessionPresent: false, reasonCode: 5 });
  assert.equal(engine.state, ClientState.Closed);
  assert.ok(isMoatError(port.closedWith[0], 'MOAT_ERR_CONNECT_REFUSED'));
  assert.equal(port.closedWith[0]?.reasonCode, 0x87);
});

test('DISCONNECT 0x8E (session taken over) stops reconnecting; 0x8B (shutting down) reconnects', () => {
  for (const [code, state] of [[0x8e, ClientState.Closed], [0x8b, ClientState.Backoff]] as const) {
    const { engine, port } = engineWith();
    connectEngine(engine, port);
    engine.receive({ type: 'disconnect', reasonCode: code });
    assert.equal(engine.state, state);
  }
});

test('offline queue: bounded by count and bytes; reject refuses the new one, drop-oldest drops QoS 0 first', () => {
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  const q = new OfflineQueue({ maxMessages: 2, maxBytes: 1000 });
  assert.equal(q.push(pending('a', 1, out)), true);
  assert.equal(q.push(pending('b', 1, out)), true);
  assert.equal(q.push(pending('c', 1, out)), false);
  assert.ok(isMoatError(out.err[0], 'MOAT_ERR_QUEUE_FULL'));
  const bytes = new OfflineQueue({ maxMessages: 100, maxBytes: 20 });
  assert.equal(bytes.push(pending('a', 1, out, '0123456789')), true);
  assert.equal(bytes.push(pending('b', 1, out, '0123456789')), false, '2 × (10 + 1) bytes > 20');
  const drop = new OfflineQueue({ maxMessages: 2, overflow: 'drop-oldest' });
  const dropped = { ok: [] as unknown[], err: [] as unknown[] };
  drop.push(pending('q1', 1, dropped));
  drop.push(pending('q0', 0, dropped));
  drop.push(pending('new', 1, dropped));
  assert.equal(dropped.err.length, 1);
  assert.match((dropped.err[0] as Error).message, /q0/);
  assert.deepEqual([drop.shift()?.topic, drop.shift()?.topic], ['q1', 'new']);
});

test('end(): waits for in-flight acks, then DISCONNECT; gives up after the timeout and rejects what is left', async () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('a', 1, out));
  const [p] = publishes(port.take());
  let ended = false;
  void engine.end(1000).then(() => { ended = true; });
  assert.deepEqual(port.take(), []);
  engine.receive({ type: 'puback', packetId: p!.packetId!, reasonCode: 0 });
  assert.deepEqual(port.take().map((x) => x.type), ['disconnect']);
  await tick();
  assert.equal(ended, true);
  assert.equal(out.ok.length, 1);

  const second = engineWith();
  connectEngine(second.engine, second.port);
  const out2 = { ok: [] as unknown[], err: [] as unknown[] };
  second.engine.outbound.publish(pending('a', 1, out2));
  void second.engine.end(1000);
  second.port.clock.advance(1000);
  assert.ok(isMoatError(out2.err[0], 'MOAT_ERR_CLIENT_CLOSED'));
  assert.equal(second.engine.state, ClientState.Closed);
});

test('packet identifiers exhausted: the publish waits (no busy loop) and goes out once an identifier is released', () => {
  const { engine, port } = engineWith({ version: 4, queue: { maxMessages: 100_000 } });
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  let subscribed = 0;
  engine.requests.request({ type: 'subscribe', subscriptions: [{ topicFilter: 'a', qos: 0 }] }, () => { subscribed++; }, () => {});
  const subscribe = port.take().find((p) => p.type === 'subscribe');
  const realWrite = port.write.bind(port);
  let writes = 0;
  port.write = () => { writes++; };
  for (let i = 0; i < 65_534; i++) engine.outbound.publish(pending('t', 1, out));
  assert.equal(engine.outbound.inflight, 65_534);
  engine.outbound.publish(pending('t', 1, out)); // hung here before: no identifier, re-queued forever
  assert.equal(engine.outbound.queue.length, 1);
  assert.equal(writes, 65_534);
  port.write = realWrite;
  assert.ok(subscribe?.type === 'subscribe');
  engine.receive({ type: 'suback', packetId: subscribe.packetId, reasonCodes: [0] });
  assert.equal(subscribed, 1);
  const sent = publishes(port.take());
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.packetId, subscribe.packetId);
  assert.equal(engine.outbound.queue.length, 0);
});

test('an offline callback that throws does not stop the reconnect: the backoff timer is set first', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  port.offline = () => { throw new Error('app bug in offline listener'); };
  engine.receive({ type: 'disconnect', reasonCode: 0x8b });
  assert.equal(engine.state, ClientState.Backoff);
  port.clock.advance(1000);
  assert.equal(port.opens, 2, 'reconnected after the backoff');
});

test('queue.maxMessages < 1 is refused with MOAT_ERR_CONFIG (it would refuse every publish, or loop with drop-oldest)', () => {
  for (const overflow of ['reject', 'drop-oldest'] as const) {
    assert.throws(() => engineWith({ queue: { maxMessages: 0, overflow } }), (e: unknown) => isMoatError(e, 'MOAT_ERR_CONFIG'));
  }
  const q = new OfflineQueue({ maxMessages: 1, overflow: 'drop-oldest' });
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  assert.equal(q.push(pending('a', 0, out)), true);
  assert.equal(q.push(pending('b', 0, out)), true);
  assert.equal(q.length, 1);
  assert.equal(out.err.length, 1, 'the oldest was evicted');
});

test('v5: PUBREL for an unknown packet identifier is answered PUBCOMP 0x92; a known one PUBCOMP 0x00', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  engine.receive({ type: 'pubrel', packetId: 77, reasonCode: 0 });
  assert.deepEqual(port.take(), [{ type: 'pubcomp', packetId: 77, reasonCode: 0x92 }]);
  engine.receive({ type: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 5 });
  port.take();
  engine.receive({ type: 'pubrel', packetId: 5, reasonCode: 0 });
  assert.deepEqual(port.take(), [{ type: 'pubcomp', packetId: 5, reasonCode: 0 }]);
});

test('[MQTT-3.2.2-18] a CONNACK without Topic Alias Maximum: no topic alias is ever sent, the topic goes in full each time', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  for (const t of ['a/b', 'a/b', 'a/b']) engine.outbound.publish(pending(t, 0, out));
  assert.deepEqual(publishes(port.take()).map((p) => [p.topic, p.properties?.topicAlias]), [['a/b', undefined], ['a/b', undefined], ['a/b', undefined]]);
});

test('[MQTT-3.3.2-10] incoming topic aliases from 1 to our Topic Alias Maximum are accepted; one above it is a protocol error (0x94)', () => {
  const { engine, port } = engineWith({ topicAliasMaximum: 3 });
  connectEngine(engine, port);
  for (const alias of [1, 3]) {
    engine.receive({ type: 'publish', topic: `t/${alias}`, payload: Buffer.from('set'), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
    engine.receive({ type: 'publish', topic: '', payload: Buffer.from('use'), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
  }
  assert.deepEqual(port.messages.map((m) => `${m.topic}:${m.payload.toString()}`), ['t/1:set', 't/1:use', 't/3:set', 't/3:use']);
  port.take();
  engine.receive({ type: 'publish', topic: 'x', payload: Buffer.from('over'), qos: 0, retain: false, dup: false, properties: { topicAlias: 4 } });
  assert.equal(port.messages.length, 4, 'not delivered');
  assert.deepEqual(port.take().filter((p) => p.type === 'disconnect').map((p) => (p as { reasonCode?: number }).reasonCode), [0x94]);
});

test('[MQTT-4.6.0-2] [MQTT-4.6.0-3] PUBACKs and PUBRECs go out in the order the PUBLISH packets came', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const ids = [9, 3, 7, 1];
  for (const [i, packetId] of ids.entries()) {
    engine.receive({ type: 'publish', topic: 'in', payload: Buffer.from(String(i)), qos: i % 2 === 0 ? 1 : 2, retain: false, dup: false, packetId });
  }
  assert.deepEqual(port.take().map((p) => `${p.type} ${'packetId' in p ? p.packetId : ''}`), ['puback 9', 'pubrec 3', 'puback 7', 'pubrec 1']);
});

test('[MQTT-4.6.0-4] [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] QoS 2 publishes: distinct unused identifiers, DUP 0, unacknowledged until PUBREC; PUBRELs follow the order of the PUBRECs', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  for (let i = 0; i < 3; i++) engine.outbound.publish(pending(`q2/${i}`, 2, out));
  const sent = publishes(port.take());
  const ids = sent.map((p) => p.packetId!);
  assert.equal(new Set(ids).size, 3);
  assert.ok(ids.every((id) => id > 0));
  assert.ok(sent.every((p) => p.qos === 2 && p.dup === false));
  assert.equal(engine.outbound.inflight, 3, 'all three unacknowledged');
  // A link drop before any PUBREC: on the resumed session all three go again (still unacknowledged), with DUP.
  engine.linkDown();
  port.clock.advance(100);
  engine.linkUp();
  engine.receive({ type: 'connack', sessionPresent: true, reasonCode: 0 });
  const again = publishes(port.take());
  assert.deepEqual(again.map((p) => [p.packetId, p.dup]), ids.map((id) => [id, true]));
  for (const i of [2, 0, 1]) engine.receive({ type: 'pubrec', packetId: ids[i]!, reasonCode: 0 });
  assert.deepEqual(port.take().map((p) => `${p.type} ${'packetId' in p ? p.packetId : ''}`), [2, 0, 1].map((i) => `pubrel ${ids[i]}`));
  assert.equal(out.ok.length, 0, 'resolved only at PUBCOMP');
});

test('[MQTT-3.3.4-8] with the send quota used up (Receive Maximum 1, one QoS 1 unacknowledged), SUBSCRIBE and PINGREQ still go out at once; the queued PUBLISH waits', () => {
  const { engine, port } = engineWith({ keepAlive: 10 });
  connectEngine(engine, port, { properties: { receiveMaximum: 1 } });
  const out = { ok: [] as unknown[], err: [] as unknown[] };
  engine.outbound.publish(pending('q/a', 1, out));
  engine.outbound.publish(pending('q/b', 1, out));
  const [first] = publishes(port.take());
  const codes: number[][] = [];
  engine.requests.request({ type: 'subscribe', subscriptions: [{ topicFilter: 'x/#', qos: 1 }] }, (c) => codes.push(c), () => undefined);
  assert.deepEqual(port.take().map((p) => p.type), ['subscribe'], 'not held behind the quota');
  port.clock.advance(10_000);
  assert.deepEqual(port.take().map((p) => p.type), ['pingreq']);
  engine.receive({ type: 'puback', packetId: first!.packetId!, reasonCode: 0 });
  assert.deepEqual(publishes(port.take()).map((p) => p.topic), ['q/b'], 'the quota freed: the next PUBLISH');
});

test('[MQTT-4.5.0-2] every incoming QoS 1/2 PUBLISH is acknowledged, also when nobody consumes it', () => {
  const { engine, port } = engineWith();
  connectEngine(engine, port);
  engine.receive({ type: 'publish', topic: 'nobody/listens', payload: Buffer.from('1'), qos: 1, retain: false, dup: false, packetId: 11 });
  engine.receive({ type: 'publish', topic: 'nobody/listens', payload: Buffer.from('2'), qos: 2, retain: false, dup: false, packetId: 12 });
  assert.deepEqual(port.take().map((p) => `${p.type} ${'packetId' in p ? p.packetId : ''}`), ['puback 11', 'pubrec 12']);
});

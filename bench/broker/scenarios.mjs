/**
 * The broker benchmark's scenarios. Each runs against one started broker over one transport and
 * returns its metrics. Throughput rows count what subscribers receive in a fixed window after a
 * warm-up; the CPU time of the broker process and of this (load generator) process is measured over
 * the same window.
 *
 * ctx: { broker, secure, secureContext, warmupMs, measureMs, sleep(ms), payloadSize, latencyRate,
 *        connectConcurrency, idleConnections, persistentSessions?, probe?(pid, ms) }
 * `probe`, when given, is started with the measured window and its promise's value is returned with
 * the result (the persistence benchmark counts the broker's fsync calls with it).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { cpuMs, ioWriteBytes, rssBytes } from './proc.mjs';
import { PUBACK, PUBLISH, connectPacket, encode, mqttConnect, pool } from './client.mjs';

const DISCONNECT = Buffer.from([0xe0, 0x00]);
const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

async function connect(ctx, clientId, extra = {}) {
  const client = await mqttConnect({
    port: ctx.secure ? ctx.broker.ports.tls : ctx.broker.ports.tcp, secure: ctx.secure,
    secureContext: ctx.secureContext, clientId, ...extra,
  });
  client.id = clientId;
  return client;
}

function publishPacket(topic, payload, qos = 0, packetId = undefined) {
  const p = { type: 'publish', topic, payload, qos, retain: false, dup: false };
  if (qos > 0) p.packetId = packetId;
  return encode(p);
}

/**
 * Warm-up, then the measured window: counter delta per second, the delta of a second counter `aux`,
 * and CPU shares (% of one core).
 */
async function measure(ctx, read, aux = () => 0) {
  await ctx.sleep(ctx.warmupMs);
  const pid = ctx.broker.pid;
  const probe = ctx.probe?.(pid, ctx.measureMs);
  const a0 = aux();
  const c0 = read();
  const b0 = cpuMs(pid);
  const w0 = ioWriteBytes(pid);
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  await ctx.sleep(ctx.measureMs);
  const c1 = read();
  const a1 = aux();
  const b1 = cpuMs(pid);
  const w1 = ioWriteBytes(pid);
  const g1 = process.cpuUsage(g0);
  const ms = performance.now() - t0;
  return {
    rate: (c1 - c0) / (ms / 1000), count: c1 - c0, ms, auxRate: (a1 - a0) / (ms / 1000),
    brokerCpu: ((b1 - b0) / ms) * 100, loadCpu: ((g1.user + g1.system) / 1000 / ms) * 100,
    writeBytes: w0 === undefined || w1 === undefined ? undefined : w1 - w0,
    probe: probe === undefined ? undefined : await probe,
  };
}

function assertOpen(clients, what) {
  const closed = clients.filter((c) => c.closed);
  if (closed.length > 0) {
    const why = closed[0].error ? ` (${closed[0].error.message})` : '';
    const ids = closed.slice(0, 8).map((c) => c.id).join(', ');
    throw new Error(`${what}: the broker closed ${closed.length} of ${clients.length} connections during the run: ${ids}${why}`);
  }
}

/**
 * Publishes a pre-encoded batch as fast as the socket takes it: write until the socket's buffer is
 * full, then wait for 'drain'; yield to the event loop every 32 writes so the subscribers are read.
 */
function flood(client, batch, perBatch, state) {
  const socket = client.socket;
  const pump = () => {
    if (!state.running || client.closed) return;
    for (let k = 0; k < 32; k++) {
      state.sent += perBatch;
      if (!socket.write(batch)) {
        socket.once('drain', pump);
        return;
      }
    }
    setImmediate(pump);
  };
  pump();
}

function batchOf(packet, n) {
  return Buffer.concat(Array.from({ length: n }, () => packet));
}

/** Counts PUBLISH packets; one whose size differs from what was published is counted as `bad`. */
function counting(client, bodyLength) {
  client.count = 0;
  client.bad = 0;
  client.onPacket = (b0, buf, start, end) => {
    if (b0 >> 4 !== PUBLISH) return;
    client.count++;
    if (end - start !== bodyLength) client.bad++;
  };
}

async function floodScenario(ctx, { publishers, subscribers, tag }) {
  const clients = [];
  try {
    const topic = `bench/${tag}`;
    const packet = publishPacket(topic, Buffer.alloc(ctx.payloadSize, 0x61));
    const bodyLength = packet.length - 2; // remaining length < 128: a 2-byte fixed header
    const subs = [];
    for (let i = 0; i < subscribers; i++) {
      const s = await connect(ctx, `${tag}-sub-${i}`);
      clients.push(s);
      await s.subscribe(topic, 0);
      counting(s, bodyLength);
      subs.push(s);
    }
    const pubs = [];
    for (let i = 0; i < publishers; i++) {
      const p = await connect(ctx, `${tag}-pub-${i}`);
      clients.push(p);
      pubs.push(p);
    }
    const perBatch = 64;
    const batch = batchOf(packet, perBatch);
    const state = { running: true, sent: 0 };
    for (const p of pubs) flood(p, batch, perBatch, state);
    const m = await measure(ctx, () => subs.reduce((a, s) => a + s.count, 0), () => state.sent);
    state.running = false;
    assertOpen(clients, tag);
    if (m.count === 0) throw new Error(`${tag}: subscribers received nothing in the measured window`);
    const bad = subs.reduce((a, s) => a + s.bad, 0);
    if (bad > 0) throw new Error(`${tag}: ${bad} received PUBLISH packets differ in size from the one published`);
    const published = m.auxRate; // written to the sockets; the kernel and broker may still hold some
    return {
      value: m.rate, brokerCpu: m.brokerCpu, loadCpu: m.loadCpu,
      detail: { publishedPerSec: published, deliveredShare: m.rate / (published * subscribers) },
    };
  } finally {
    for (const c of clients) c.close();
  }
}

export function fanIn(ctx) {
  return floodScenario(ctx, { publishers: 4, subscribers: 1, tag: 'fan-in' });
}

export function fanOut(ctx) {
  return floodScenario(ctx, { publishers: 1, subscribers: 20, tag: 'fan-out' });
}

/**
 * Point-to-point QoS 1: 4 publisher → subscriber pairs, each on its own topic. A publisher keeps
 * `window` PUBLISH unacknowledged: every PUBACK read lets one more go (the packets, with packet ids
 * 1..65535, are encoded once into a ring and sent as slices of it). Subscribers PUBACK what they get,
 * one write per read. With ctx.persistentSessions every client connects with clean session 0 (3.1.1):
 * the broker keeps the sessions, so a durable store writes each message and its delivery state.
 */
export async function p2pQos1(ctx, { pairs = 4, window = 64 } = {}) {
  const clean = !ctx.persistentSessions;
  const clients = [];
  try {
    const payload = Buffer.alloc(ctx.payloadSize, 0x62);
    const subs = [];
    const pubs = [];
    const state = { running: true };
    for (let i = 0; i < pairs; i++) {
      const topic = `bench/p2p/${i}`;
      const s = await connect(ctx, `p2p-sub-${i}`, { clean });
      clients.push(s);
      await s.subscribe(topic, 1);
      s.count = 0;
      let ids = [];
      s.onPacket = (b0, buf, start) => {
        if (b0 >> 4 !== PUBLISH) return;
        s.count++;
        if ((b0 & 6) === 0) return;
        const topicLen = buf.readUInt16BE(start);
        ids.push(buf.readUInt16BE(start + 2 + topicLen));
      };
      s.afterChunk = () => {
        if (ids.length === 0) return;
        const acks = Buffer.allocUnsafe(ids.length * 4);
        for (let k = 0; k < ids.length; k++) {
          acks[k * 4] = 0x40;
          acks[k * 4 + 1] = 2;
          acks.writeUInt16BE(ids[k], k * 4 + 2);
        }
        ids = [];
        s.socket.write(acks);
      };
      subs.push(s);

      const p = await connect(ctx, `p2p-pub-${i}`, { clean });
      clients.push(p);
      const one = publishPacket(topic, payload, 1, 1);
      const size = one.length;
      const idOffset = size - payload.length - 2;
      const ring = Buffer.allocUnsafe(size * 65535);
      for (let id = 1; id <= 65535; id++) {
        one.copy(ring, (id - 1) * size);
        ring.writeUInt16BE(id, (id - 1) * size + idOffset);
      }
      let next = 0; // index in the ring of the next packet id to send (id = next + 1)
      let acked = 0;
      p.outstanding = 0;
      p.acks = 0;
      const send = (n) => {
        if (!state.running || n <= 0) return;
        p.outstanding += n;
        const first = Math.min(n, 65535 - next);
        p.socket.write(ring.subarray(next * size, (next + first) * size));
        if (first < n) p.socket.write(ring.subarray(0, (n - first) * size));
        next = (next + n) % 65535;
      };
      p.onPacket = (b0) => {
        if (b0 >> 4 === PUBACK) acked++;
      };
      p.afterChunk = () => {
        if (acked === 0) return;
        p.outstanding -= acked;
        p.acks += acked;
        const n = acked;
        acked = 0;
        send(n);
      };
      p.start = () => send(window);
      pubs.push(p);
    }
    for (const p of pubs) p.start();
    const m = await measure(ctx, () => subs.reduce((a, s) => a + s.count, 0), () => pubs.reduce((a, p) => a + p.acks, 0));
    state.running = false;
    assertOpen(clients, 'p2p-qos1');
    if (m.count === 0) throw new Error('p2p-qos1: subscribers received nothing in the measured window');
    return {
      value: m.rate, brokerCpu: m.brokerCpu, loadCpu: m.loadCpu,
      detail: { pubacksPerSec: m.auxRate, writeBytes: m.writeBytes, windowMs: m.ms, count: m.count, probe: m.probe },
    };
  } finally {
    for (const c of clients) c.close();
  }
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Latency: one publisher at a fixed rate (QoS 0), one subscriber; the payload starts with the send
 * time (performance.now(), float64); the subscriber records receive − send for messages received in
 * the measured window. Both ends live in this process, so they share the clock.
 */
export async function latency(ctx) {
  const clients = [];
  let timer;
  try {
    const topic = 'bench/latency';
    const sub = await connect(ctx, 'lat-sub');
    clients.push(sub);
    await sub.subscribe(topic, 0);
    const pub = await connect(ctx, 'lat-pub');
    clients.push(pub);
    const rate = ctx.latencyRate;
    const capacity = Math.ceil((rate * (ctx.warmupMs + ctx.measureMs)) / 1000 * 1.5) + 1000;
    const samples = new Float64Array(capacity);
    let n = 0;
    let recording = false;
    let received = 0;
    sub.onPacket = (b0, buf, start) => {
      if (b0 >> 4 !== PUBLISH) return;
      const now = performance.now();
      received++;
      if (!recording || n >= capacity) return;
      const at = start + 2 + buf.readUInt16BE(start);
      samples[n++] = now - buf.readDoubleLE(at);
    };
    const template = publishPacket(topic, Buffer.alloc(ctx.payloadSize, 0x63));
    const at = template.length - ctx.payloadSize;
    let sent = 0;
    const t0 = performance.now();
    timer = setInterval(() => {
      const due = Math.min(50, Math.floor(((performance.now() - t0) * rate) / 1000) - sent);
      for (let k = 0; k < due; k++) {
        const p = Buffer.from(template);
        p.writeDoubleLE(performance.now(), at);
        pub.socket.write(p);
        sent++;
      }
    }, 1);
    await ctx.sleep(ctx.warmupMs);
    recording = true;
    const sent0 = sent;
    const received0 = received;
    const b0 = cpuMs(ctx.broker.pid);
    const w0 = performance.now();
    await ctx.sleep(ctx.measureMs);
    recording = false;
    const ms = performance.now() - w0;
    const brokerCpu = ((cpuMs(ctx.broker.pid) - b0) / ms) * 100;
    const sentInWindow = sent - sent0;
    const receivedInWindow = received - received0;
    clearInterval(timer);
    timer = undefined;
    assertOpen(clients, 'latency');
    if (n === 0) throw new Error('latency: no message received in the measured window');
    const sorted = samples.slice(0, n).sort();
    return {
      metrics: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) },
      brokerCpu,
      detail: {
        samples: n, sentPerSec: sentInWindow / (ms / 1000), receivedPerSec: receivedInWindow / (ms / 1000),
        p999: percentile(sorted, 0.999), max: sorted[n - 1], mean: sorted.reduce((a, x) => a + x, 0) / n,
      },
    };
  } finally {
    if (timer) clearInterval(timer);
    for (const c of clients) c.close();
  }
}

/**
 * One connection's life: connect (TCP, or a full TLS 1.3 handshake), CONNECT, CONNACK, DISCONNECT,
 * then wait for the broker to close the connection. A lean path (no Client, one timer) so that the
 * load generator spends as little as possible per connection.
 */
function connectOnce(ctx, connect) {
  return new Promise((resolve, reject) => {
    const port = ctx.secure ? ctx.broker.ports.tls : ctx.broker.ports.tcp;
    let phase = 'connect';
    let got = 0;
    const socket = ctx.secure
      ? tls.connect({ host: '127.0.0.1', port, secureContext: ctx.secureContext, servername: 'localhost', minVersion: 'TLSv1.3' })
      : net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish(new Error(`connection stuck in phase ${phase} for 5 s`)), 5000);
    function finish(err) {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    }
    socket.once(ctx.secure ? 'secureConnect' : 'connect', () => {
      socket.setNoDelay(true);
      phase = 'connack';
      socket.write(connect);
    });
    socket.on('data', (chunk) => {
      // CONNACK is 20 02 00 00 (3.1.1, accepted); it may arrive in pieces.
      for (let i = 0; i < chunk.length && got < 4; i++, got++) {
        if (chunk[i] !== CONNACK_OK[got]) return finish(new Error(`unexpected CONNACK byte ${chunk[i]} at ${got}`));
      }
      if (got === 4 && phase === 'connack') {
        phase = 'close';
        socket.write(DISCONNECT);
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => {
      if (phase === 'close') finish();
      else finish(new Error(`connection closed by the broker in phase ${phase}`));
    });
  });
}

/** Connections per second, `concurrency` loops each connecting one client after another. */
export async function connects(ctx, concurrency) {
  const stats = { ok: 0, errors: 0, firstError: undefined };
  const deadline = performance.now() + ctx.warmupMs + ctx.measureMs;
  let stop = false;
  const loop = async (k) => {
    const packet = connectPacket(`conn-${k}`, 60);
    while (!stop && performance.now() < deadline) {
      try {
        await connectOnce(ctx, packet);
        stats.ok++;
      } catch (err) {
        stats.errors++;
        stats.firstError ??= err.message;
        if (stats.errors > 50) {
          stop = true;
          return;
        }
      }
    }
  };
  const loops = Array.from({ length: concurrency }, (_, k) => loop(k));
  const finished = Promise.all(loops);
  let m;
  try {
    m = await measure(ctx, () => stats.ok);
  } finally {
    stop = true;
    await finished;
  }
  if (stats.errors > 0) throw new Error(`connects: ${stats.errors} failed connections, first: ${stats.firstError}`);
  return { value: m.rate, brokerCpu: m.brokerCpu, loadCpu: m.loadCpu, detail: { concurrency } };
}

/**
 * Memory per idle connection: VmRSS of the broker before and after `n` clients connected (CONNECT with
 * keep alive 60 s, nothing else), divided by n.
 */
export async function idleMemory(ctx) {
  const n = ctx.idleConnections;
  const clients = [];
  try {
    await ctx.sleep(1000);
    const before = rssBytes(ctx.broker.pid);
    const ids = Array.from({ length: n }, (_, k) => `idle-${k}`);
    await pool(ids, ctx.secure ? 20 : 50, async (id) => {
      clients.push(await connect(ctx, id));
    });
    await ctx.sleep(2000);
    const after = rssBytes(ctx.broker.pid);
    assertOpen(clients, 'memory');
    return { value: (after - before) / n, detail: { rssBeforeBytes: before, rssAfterBytes: after, connections: n } };
  } finally {
    for (const c of clients) c.close();
  }
}

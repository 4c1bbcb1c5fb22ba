#!/usr/bin/env node
/**
 * Reproduction: a QoS 1 pipeline whose subscriber is a little slower than its publisher. The broker
 * acknowledges each PUBLISH once it is queued for the subscriber, so the publisher's 64-message window
 * does not bound the subscriber's queue; when the queue reaches maxQueuedMessages Moat refuses the
 * next message and, the publisher being MQTT 3.1.1, closes its connection (documented: "a 3.1.1
 * publisher is disconnected without acknowledgement"). Nothing pushes back on the publisher earlier.
 * In the benchmark's point-to-point QoS 1 row this happened to Moat's publishers within a 4 s run
 * when its subscribers were only ~2 % slower.
 *
 *   npm run build && node bench/broker/repro-qos1-slow-subscriber.mjs [moat|mosquitto|aedes] [ackDelayMs]
 *
 * The subscriber acknowledges everything it receives, one write per read, after ackDelayMs (default 2).
 * Prints, once a second, what was acknowledged to the publisher and what reached the subscriber, and
 * stops after 20 s or when the broker closes a connection.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startBroker } from './brokers.mjs';
import { PUBACK, PUBLISH, mqttConnect, useCodec } from './client.mjs';
import { killAll } from './proc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
useCodec(await import(pathToFileURL(join(root, 'dist', 'codec', 'index.js')).href));
const brokerName = process.argv[2] ?? 'moat';
const ackDelayMs = Number(process.argv[3] ?? 2);

const tmp = mkdtempSync(join(tmpdir(), 'moat-repro-'));
const ctx = { root, tmp, moatDataDir: join(tmp, 'moat-data'), moatNodeArgs: [], moatLogLevel: 'warn' };
let broker;
try {
  // The first Moat start writes the dev PKI the other brokers' TLS listeners need.
  const first = await startBroker('moat', ctx);
  if (brokerName !== 'moat') await first.stop();
  const pki = join(ctx.moatDataDir, 'pki');
  ctx.pki = { certPath: join(pki, 'server.crt'), keyPath: join(pki, 'server.key'), ca: readFileSync(join(pki, 'ca.crt')) };
  broker = brokerName === 'moat' ? first : await startBroker(brokerName, ctx);
  const port = broker.ports.tcp;

  const sub = await mqttConnect({ port, secure: false, clientId: 'slow-sub' });
  await sub.subscribe('repro/qos1', 1);
  let received = 0;
  let ids = [];
  sub.onPacket = (b0, buf, start) => {
    if (b0 >> 4 !== PUBLISH) return;
    received++;
    ids.push(buf.readUInt16BE(start + 2 + buf.readUInt16BE(start)));
  };
  sub.afterChunk = () => {
    const mine = ids;
    ids = [];
    setTimeout(() => {
      const acks = Buffer.alloc(mine.length * 4);
      mine.forEach((id, k) => {
        acks[k * 4] = 0x40;
        acks[k * 4 + 1] = 2;
        acks.writeUInt16BE(id, k * 4 + 2);
      });
      if (!sub.closed) sub.socket.write(acks);
    }, ackDelayMs);
  };

  const pub = await mqttConnect({ port, secure: false, clientId: 'pub' });
  const { encodePacket } = await import(pathToFileURL(join(root, 'dist', 'codec', 'index.js')).href);
  let nextId = 0;
  let acked = 0;
  const send = (n) => {
    const packets = [];
    for (let k = 0; k < n; k++) {
      nextId = (nextId % 65535) + 1;
      packets.push(encodePacket({ type: 'publish', topic: 'repro/qos1', payload: Buffer.alloc(64), qos: 1, retain: false, dup: false, packetId: nextId }, 4));
    }
    if (!pub.closed) pub.socket.write(Buffer.concat(packets));
  };
  let pending = 0;
  pub.onPacket = (b0) => {
    if (b0 >> 4 === PUBACK) pending++;
  };
  pub.socket.once('close', () => {
    process.stdout.write(`${brokerName}: publisher connection closed at acknowledged ${acked}, received ${received}\n`);
  });
  pub.afterChunk = () => {
    acked += pending;
    const n = pending;
    pending = 0;
    send(n);
  };
  send(64);
  const t0 = Date.now();
  for (let s = 1; s <= 20; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    process.stdout.write(`${brokerName} t=${s}s acknowledged to publisher ${acked}, received by subscriber ${received}, `
      + `held by the broker ≈ ${acked - received}\n`);
    if (pub.closed || sub.closed) {
      process.stdout.write(`${brokerName}: after ${((Date.now() - t0) / 1000).toFixed(1)} s the broker closed the `
        + `${pub.closed ? 'publisher' : 'subscriber'}'s connection; broker log: ${broker.tail().trim().slice(-400)}\n`);
      break;
    }
  }
  pub.close();
  sub.close();
} finally {
  if (broker) await broker.stop();
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}

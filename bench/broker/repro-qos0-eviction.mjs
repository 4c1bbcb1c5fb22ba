#!/usr/bin/env node
/**
 * Regression check for a collapse found by the broker benchmark: once a session's queue was full of
 * QoS 0 messages, every further QoS 0 message cost time proportional to maxQueuedMessages
 * (Session.evictQos0 dropped the oldest with Array.splice, moving the whole queue). Under overload the
 * broker got slower the further it fell behind: in fan-in over TLS (one subscriber slower than four
 * publishers) Moat fell to ~15–35k msg/s with maxQueuedMessages 10000 and evictQos0 was ~60 % of its
 * CPU profile. Before commit 62bfc06 this printed ~6 / ~50 / ~300 µs per message for 1,000 / 10,000 /
 * 100,000; since then (OutQueue, amortized O(1) eviction) it stays at ~1–2 µs for all three.
 *
 *   npm run build && node bench/broker/repro-qos0-eviction.mjs
 *
 * Uses the compiled Session directly (dist/broker/session.js): a link that never becomes writable
 * stands for a subscriber whose socket is full.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { Session } = await import(pathToFileURL(join(root, 'dist', 'broker', 'session.js')).href);

const message = { topic: 'bench/fan-in', payload: Buffer.alloc(64), qos: 0, retain: false, publisherId: 'pub' };
for (const maxQueuedMessages of [1000, 10000, 100000]) {
  const counters = { droppedQos0: 0, droppedTooLarge: 0, droppedExpired: 0 };
  const session = new Session('sub', { maxQueuedMessages, maxQueuedBytes: 2 ** 30 }, counters, () => Date.now(),
    { used: 0, max: 2 ** 30 });
  session.link = { version: 4, sendWindow: 64, writable: () => false, sendPublish: () => true, sendPubrel() {} };
  for (let i = 0; i < maxQueuedMessages; i++) session.deliver(message, 0, false, []);
  const n = 20000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) session.deliver(message, 0, false, []);
  const us = ((performance.now() - t0) * 1000) / n;
  process.stdout.write(`maxQueuedMessages ${String(maxQueuedMessages).padStart(6)}: ${us.toFixed(2).padStart(7)} µs per QoS 0 `
    + `message once the queue is full (${counters.droppedQos0} dropped) → at most ${Math.round(1e6 / us).toLocaleString('en-US')} msg/s\n`);
}

/**
 * The measurements on direct connections (no delay proxy): CPU per setup, broker memory per idle
 * connection, per-message overhead on the wire, bulk throughput.
 */
import { MoatError } from '../codec/index.js';
import type { ChildBroker } from './lab-broker.js';
import type { LabPlan } from './runner.js';
import { caseName, checkNegotiated, MODE_SPECS, type LabCase } from './modes.js';
import type { MessageOverhead, Stat } from './report.js';
import { probeSetup, publishPacket, type OpenConnection, type ProbeTarget } from './setup-probe.js';
import { stat } from './stats.js';

export type Target = ProbeTarget;

/** The session a resumed mode resumes from; each setup replaces it with its newest ticket. */
export interface SessionRef {
  session?: Buffer | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Until the child holds no connection (at most ~1 s: a straggler then only adds noise, not a hang). */
async function drained(child: ChildBroker): Promise<void> {
  for (let i = 0; i < 200 && (await child.connections()) > 0; i++) await sleep(5);
}

/** One checked setup to CONNACK; resumed modes must really resume (fails loudly otherwise). */
async function checkedSetup(c: LabCase, target: Target, ref: SessionRef, id: string, keepOpen: boolean): Promise<OpenConnection> {
  const r = await probeSetup(target, { clientId: id, keepOpen, ...(ref.session ? { session: ref.session } : {}) });
  if (r.tls) checkNegotiated(c.mode, r.tls, caseName(c));
  if (MODE_SPECS[c.mode].resumed && r.session) ref.session = r.session;
  return r.conn;
}

/**
 * CPU per setup: process.cpuUsage() around `cpuBatch` sequential setups (connect → CONNACK → close),
 * divided by the batch size; the broker's is its child process's CPU delta over the same batch.
 */
export async function measureCpu(c: LabCase, target: Target, ref: SessionRef, plan: LabPlan, child: ChildBroker | undefined,
  id: () => string): Promise<{ clientUs: Stat; serverUs?: Stat }> {
  const client: number[] = [];
  const server: number[] = [];
  // One unmeasured batch: code paths and caches warm on both sides. A single setup was not enough — the
  // first batches of a row read up to twice the later ones (the first row measured most of all), and
  // --quick measures only two batches.
  for (let i = 0; i < plan.cpuBatch; i++) await checkedSetup(c, target, ref, id(), false);
  if (child) await drained(child);
  for (let b = 0; b < plan.repeat; b++) {
    const s0 = child ? await child.cpuUs() : 0;
    const c0 = process.cpuUsage();
    for (let i = 0; i < plan.cpuBatch; i++) await checkedSetup(c, target, ref, id(), false);
    const cd = process.cpuUsage(c0);
    client.push((cd.user + cd.system) / plan.cpuBatch);
    if (child) {
      // The broker handles the batch's last close after our side has gone: its CPU is read once it holds
      // no connection again (not after a fixed pause, which a loaded machine outlasts).
      await drained(child);
      server.push((await child.cpuUs() - s0) / plan.cpuBatch);
    }
  }
  return { clientUs: stat(client), ...(child ? { serverUs: stat(server) } : {}) };
}

/**
 * RSS once it stands still: a young process still gives memory back over its first collections
 * (start-up garbage, code flushed after a few GCs); a difference across that would come out negative.
 */
async function settledRss(child: ChildBroker): Promise<number> {
  let last = await child.rss();
  for (let i = 0; i < 6; i++) {
    const now = await child.rss();
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return last;
}

/** `n` setups at once into `open`; when one fails, the others that succeeded are still closed by the caller. */
async function openMore(open: OpenConnection[], n: number, setup: () => Promise<OpenConnection>): Promise<void> {
  const settled = await Promise.allSettled(Array.from({ length: n }, setup));
  for (const s of settled) if (s.status === 'fulfilled') open.push(s.value);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Broker memory per idle connection: the RSS of a broker child started for this measurement alone
 * (after a full GC) before and after `memConnections` more connections of the mode are open, divided
 * by their number. Each repetition adds connections on top of the previous ones: nothing is freed in
 * between, so the allocator cannot hand back memory an earlier measurement released (which would
 * make RSS stand still).
 */
export async function measureMemory(c: LabCase, target: Target, ref: SessionRef, plan: LabPlan, child: ChildBroker, id: () => string): Promise<Stat> {
  const perConn: number[] = [];
  const open: OpenConnection[] = [];
  try {
    // Ten connections first, kept open and not counted: what the first connection of a mode allocates
    // once (code, caches, buffers pools) is not a per-connection cost.
    await openMore(open, 10, () => checkedSetup(c, target, ref, id(), true));
    // Each measurement's "after" is the next one's "before": nothing is freed in between.
    let before = await settledRss(child);
    for (let r = 0; r < plan.memRepeat; r++) {
      const goal = open.length + plan.memConnections;
      // Ten at a time: fast, and no burst larger than a listener backlog.
      while (open.length < goal) {
        const n = Math.min(10, goal - open.length);
        await openMore(open, n, () => checkedSetup(c, target, ref, id(), true));
      }
      if ((await child.connections()) !== open.length) throw new MoatError('MOAT_ERR_LAB_CHECK', 'the lab broker does not hold every connection opened');
      const after = await settledRss(child);
      perConn.push((after - before) / plan.memConnections);
      before = after;
    }
  } finally {
    for (const conn of open) conn.close();
  }
  return stat(perConn);
}

/** Bytes written so far, once the write just made has reached the raw socket (TLS flushes it in a later tick). */
async function writtenAfter(conn: OpenConnection, before: number): Promise<number> {
  for (let i = 0; i < 1000 && conn.raw.bytesWritten === before; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  let last = conn.raw.bytesWritten;
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (conn.raw.bytesWritten === last) return last;
    last = conn.raw.bytesWritten;
  }
}

export const OVERHEAD_PAYLOADS = [16, 256, 4096] as const;

/**
 * Per-message overhead: on one open connection, one PUBLISH per payload size and QoS; the raw socket's
 * bytes written (and, for QoS 1, read: the PUBACK) around it, minus the payload.
 */
export async function measureOverhead(c: LabCase, target: Target, ref: SessionRef, clientId: string): Promise<MessageOverhead[]> {
  const conn = await checkedSetup(c, target, ref, clientId, true);
  const out: MessageOverhead[] = [];
  let packetId = 1;
  try {
    for (const qos of [0, 1] as const) {
      for (const payloadBytes of OVERHEAD_PAYLOADS) {
        const w0 = conn.raw.bytesWritten;
        const r0 = conn.raw.bytesRead;
        conn.stream.write(publishPacket(payloadBytes, qos, packetId));
        if (qos === 1) {
          const ack = await conn.next();
          if (ack.type !== 'puback' || ack.packetId !== packetId) throw new MoatError('MOAT_ERR_LAB_CHECK', `expected PUBACK ${packetId}, got ${ack.type}`);
          packetId++;
        }
        const w1 = await writtenAfter(conn, w0);
        const wireBytes = w1 - w0 + (conn.raw.bytesRead - r0);
        const overheadBytes = wireBytes - payloadBytes;
        out.push({ payloadBytes, qos, wireBytes, overheadBytes, overheadPercent: (overheadBytes / payloadBytes) * 100 });
      }
    }
  } finally {
    conn.close();
  }
  return out;
}

const BULK_PAYLOAD = 16 * 1024;
/**
 * The socket's 'drain' — or a MOAT_ERR_LAB_CHECK when the connection closes or fails first, or nothing
 * drains for 15 s (a broker that stopped reading): never a promise that stays pending.
 */
function drainOf(conn: OpenConnection): Promise<void> {
  const s = conn.stream;
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      s.off('drain', onDrain);
      s.off('close', onClose);
      s.off('error', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new MoatError('MOAT_ERR_LAB_CHECK', 'the broker closed the connection during the throughput run'));
    const timer = setTimeout(() => done(new MoatError('MOAT_ERR_LAB_CHECK', 'the broker stopped reading during the throughput run (nothing drained in 15 s)')), 15_000);
    if (s.destroyed) return onClose();
    s.once('drain', onDrain);
    s.once('close', onClose);
    s.once('error', onClose);
  });
}

/** Whether this process already ran a throughput burst (see measureThroughput). */
let throughputWarm = false;

/**
 * Bulk throughput: one connection publishes QoS 0 messages of 16 KiB for `throughputMs` (respecting the
 * socket's back-pressure), then one QoS 1 message as a fence: payload bytes / time to the fence's PUBACK.
 * Each run first sends an unmeasured burst (half the run, at most 50 ms) with its own fence, so that the
 * code paths on both sides are compiled and warm when the clock starts: without it the first rows of a
 * --quick run read several times below the later ones.
 */
export async function measureThroughput(c: LabCase, target: Target, ref: SessionRef, plan: LabPlan, id: () => string): Promise<Stat> {
  const rates: number[] = [];
  const packet = publishPacket(BULK_PAYLOAD, 0);
  let fenceId = 0;
  /** QoS 0 messages for `ms`, then a QoS 1 fence acknowledged: the messages sent. */
  const burst = async (conn: OpenConnection, ms: number): Promise<number> => {
    const t0 = performance.now();
    let sent = 0;
    while (performance.now() - t0 < ms) {
      sent++;
      if (!conn.stream.write(packet)) await drainOf(conn);
    }
    fenceId = (fenceId % 0xffff) + 1;
    conn.stream.write(publishPacket(BULK_PAYLOAD, 1, fenceId));
    const ack = await conn.next();
    if (ack.type !== 'puback') throw new MoatError('MOAT_ERR_LAB_CHECK', `expected the fence's PUBACK, got ${ack.type}`);
    return sent + 1;
  };
  for (let r = 0; r < plan.throughputRepeat; r++) {
    const conn = await checkedSetup(c, target, ref, id(), true);
    try {
      // The process's first run warms longer: its code paths are not compiled yet.
      await burst(conn, throughputWarm ? Math.min(50, plan.throughputMs / 2) : 300);
      throughputWarm = true;
      const t0 = performance.now();
      const sent = await burst(conn, plan.throughputMs);
      const seconds = (performance.now() - t0) / 1000;
      rates.push((sent * BULK_PAYLOAD) / 1e6 / seconds);
    } finally {
      conn.close();
    }
  }
  return stat(rates);
}

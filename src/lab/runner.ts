/**
 * `moat lab`'s measuring side: starts the broker in a child process (or uses --url), then measures each
 * mode × server key row (src/lab/modes.ts) and returns a LabReport. Progress goes to `onProgress`; the
 * CLI decides how to show it.
 *
 * Per row, one after the other (so that CPU figures are not shared with another row): setups through
 * the delay proxy at RTT 0 (bytes, round trips, times), CPU batches, idle connections for memory,
 * per-message overhead, bulk throughput. Then the setups at the other RTTs, several rows at a time:
 * those mostly wait on the proxy's timers, and a millisecond of CPU is small beside 50 ms of delay.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { MoatError } from '../codec/index.js';
import { startDelayProxy } from './delay-proxy.js';
import { labEnvironment } from './environment.js';
import type { ChildPorts } from './broker-child.js';
import { startChildBroker, makeMaterial, type ChildBroker, type ChildBrokerOptions, type LabMaterial } from './lab-broker.js';
import { measureCpu, measureMemory, measureOverhead, measureThroughput, type Target } from './measures.js';
import { caseName, checkNegotiated, clientTlsOptions, hasServerKey, labCases, MODE_SPECS, type ClientCredentials, type LabCase } from './modes.js';
import { LAB_KEYS, LAB_MODES, type LabKey, type LabMode, type LabReport, type ModeResult, type SetupAtRtt } from './report.js';
import { analyzeSetup, probeSetup, type LabLogin, type SetupAnalysis } from './setup-probe.js';
import { stat } from './stats.js';
import { ticketLifetimeHint } from './tls-session.js';

export interface LabTlsOptions {
  /** CA bundle (PEM) that verifies a --url broker's certificate. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key (PEM) for mtls13 against a --url broker. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** PSK identity and key (hex) for the PSK modes against a --url broker. */
  pskIdentity?: string;
  pskHex?: string;
  /** Server name to verify (default: the URL's host). */
  servername?: string;
  /** Skip server certificate verification (like moat pub --insecure). */
  insecure?: boolean;
}

export interface LabOptions {
  modes?: LabMode[];
  keys?: LabKey[];
  /** Repetitions per measurement (default 5; quick 2). */
  repeat?: number;
  /** Fewer repetitions and connections: the whole default set in < 30 s. */
  quick?: boolean;
  /** Simulated round-trip times in ms (default 0, 50, 200). */
  rtts?: number[];
  /** Measure against this broker (mqtt:// or mqtts://) instead of a child broker. */
  url?: string;
  tls?: LabTlsOptions;
  /** CONNECT username and password for a --url broker (never written into the report). */
  login?: LabLogin;
  onProgress?: (text: string) => void;
  /** Stops the run between two steps (Ctrl-C): the broker child, proxies and the temp key folder are cleaned up. */
  signal?: AbortSignal;
}

/** How much work each measurement does. */
export interface LabPlan {
  repeat: number;
  /** Setups per RTT above 0 (at 0 it is `repeat`: they are cheap). */
  delayedSetups: number;
  /** Sequential setups per CPU batch. */
  cpuBatch: number;
  /**
   * Idle connections per memory measurement, and how many measurements. Fewer than about 200 do not
   * give a figure: RSS grows in steps (V8 heap pages, malloc reusing what handshakes freed), and a run
   * of 40–100 connections read anywhere from a fifth to all of the per-connection cost 200 read.
   */
  memConnections: number;
  memRepeat: number;
  /** Memory for every key type, or (quick) for the first selected one per mode: each row costs ~200 setups. */
  memAllKeys: boolean;
  throughputMs: number;
  throughputRepeat: number;
  /** Rows whose delayed setups run at the same time. */
  delayedParallel: number;
}

export function labPlan(quick: boolean, repeat?: number): LabPlan {
  const r = repeat ?? (quick ? 2 : 5);
  if (!Number.isInteger(r) || r < 1) throw new MoatError('MOAT_ERR_CONFIG', `repeat must be a whole number ≥ 1 (got ${String(repeat)})`);
  return quick
    ? { repeat: r, delayedSetups: 2, cpuBatch: 8, memConnections: 200, memRepeat: 1, memAllKeys: false, throughputMs: 100, throughputRepeat: 1, delayedParallel: 17 }
    : { repeat: r, delayedSetups: r, cpuBatch: 20, memConnections: 200, memRepeat: Math.min(r, 3), memAllKeys: true, throughputMs: 1000, throughputRepeat: Math.min(r, 3), delayedParallel: 4 };
}

interface Context {
  plan: LabPlan;
  rtts: number[];
  creds: ClientCredentials;
  host: string;
  login?: LabLogin;
  /** DER length of the client certificate (mutual rows check that it was sent), once read. */
  clientCertDer?: number;
  child?: ChildBroker;
  /**
   * A new broker child with the same listeners (memory is measured in one of its own). With `more`
   * (rows follow) the next one starts at once, so that it boots while this one is measured, not while
   * the next row waits.
   */
  freshChild?: (more: boolean) => Promise<ChildBroker>;
  /** Closes the child started ahead that no row took. */
  closeSpare?: () => Promise<void>;
  /** The port a row connects to; undefined when the target cannot do the mode (the string says why). */
  portFor(c: LabCase): number | string;
  progress(text: string): void;
  builtIn: boolean;
  signal?: AbortSignal;
}

const DEFAULT_RTTS = [0, 50, 200];
let clientSeq = 0;
const clientId = (): string => `lab-${process.pid}-${++clientSeq}`;

export async function runLab(options: LabOptions = {}): Promise<LabReport> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const environment = labEnvironment();
  const quick = options.quick === true;
  const plan = labPlan(quick, options.repeat);
  const rtts = [...new Set(options.rtts ?? DEFAULT_RTTS)].sort((a, b) => a - b);
  if (rtts.length === 0 || rtts.some((r) => !Number.isFinite(r) || r < 0 || r > 10_000)) {
    throw new MoatError('MOAT_ERR_CONFIG', `RTTs must be one or more values from 0 to 10000 ms (got ${rtts.join(', ') || 'none'})`);
  }
  const modes = options.modes ?? [...LAB_MODES];
  const keys = options.keys ?? [...LAB_KEYS];
  for (const m of modes) if (!(LAB_MODES as readonly string[]).includes(m)) throw new MoatError('MOAT_ERR_CONFIG', `unknown lab mode "${m}"; known: ${LAB_MODES.join(', ')}`);
  for (const k of keys) if (!(LAB_KEYS as readonly string[]).includes(k)) throw new MoatError('MOAT_ERR_CONFIG', `unknown key type "${k}"; known: ${LAB_KEYS.join(', ')}`);
  const progress = options.onProgress ?? ((): void => undefined);

  let material: LabMaterial | undefined;
  let child: ChildBroker | undefined;
  let ctx: Context | undefined;
  // With --url the server has whatever key it has: one row per mode, without a key type.
  let cases: LabCase[];
  try {
    if (options.url) {
      ctx = urlContext(options.url, options.tls ?? {}, plan, rtts, progress);
      if (options.login) ctx.login = options.login;
      cases = labCases(modes, []).concat(modes.filter(hasServerKey).map((mode) => ({ mode }))).sort((a, b) => LAB_MODES.indexOf(a.mode) - LAB_MODES.indexOf(b.mode));
    } else {
      cases = labCases(modes, keys);
      progress('preparing keys and starting the lab broker');
      material = await makeMaterial(keys);
      const childOptions = { connectTimeoutMs: setupTimeoutMs(Math.max(...rtts)) };
      child = await startChildBroker(material, childOptions);
      ctx = builtInContext(material, child, plan, rtts, progress, childOptions);
    }
    if (options.signal) ctx.signal = options.signal;
    const results = await measureAll(cases, ctx);
    return {
      version: 1, startedAt, durationMs: Math.round(performance.now() - started), target: options.url ?? 'built-in', environment,
      repeat: plan.repeat, rtts, quick, results,
      method: {
        cpuBatch: plan.cpuBatch, delayedSetups: plan.delayedSetups, throughputMs: plan.throughputMs, throughputRepeat: plan.throughputRepeat,
        ...(ctx.freshChild ? { memConnections: plan.memConnections, memRepeat: plan.memRepeat, ...(memKeyOf(cases, plan) ? { memKey: memKeyOf(cases, plan)! } : {}) } : {}),
      },
    };
  } finally {
    await ctx?.closeSpare?.();
    await child?.close();
    await material?.remove();
  }
}

/**
 * How long one setup may take at this RTT: generous (a loaded machine), plus six round trips — TLS 1.2
 * full sends CONNECT 3.5 round trips after connect() (TCP's included) and CONNACK and PUBACK add two.
 * The lab broker's connect timeout is the same, so that it never cuts a slow simulated link short.
 */
export const setupTimeoutMs = (rttMs: number): number => 15_000 + 6 * rttMs;

function builtInContext(m: LabMaterial, child: ChildBroker, plan: LabPlan, rtts: number[], progress: (t: string) => void,
  childOptions: ChildBrokerOptions): Context {
  return {
    plan, rtts, progress, child, builtIn: true, host: '127.0.0.1',
    creds: { ca: m.ca, cert: m.device.cert, key: m.device.key, psk: m.psk, servername: 'localhost' },
    portFor: (c) => portIn(c, child.ports),
    ...memoryChildren(m, childOptions),
  };
}

function memoryChildren(m: LabMaterial, childOptions: ChildBrokerOptions): Pick<Context, 'freshChild' | 'closeSpare'> {
  let spare: Promise<ChildBroker> | undefined;
  const start = (): Promise<ChildBroker> => {
    const p = startChildBroker(m, { ...childOptions, memory: true });
    p.catch(() => undefined); // awaited by the row that takes it
    return p;
  };
  return {
    freshChild: (more) => {
      const next = spare ?? start();
      spare = more ? start() : undefined;
      return next;
    },
    closeSpare: async () => {
      const p = spare;
      spare = undefined;
      await (await p?.catch(() => undefined))?.close();
    },
  };
}

function portIn(c: LabCase, ports: ChildPorts): number | string {
  const spec = MODE_SPECS[c.mode];
  if (!spec.version) return ports.plain;
  if (spec.psk) return ports.psk;
  return (spec.mutual ? ports.mtls : ports.tls)[c.key!] ?? `no listener for ${c.key!}`;
}

function urlContext(url: string, tls: LabTlsOptions, plan: LabPlan, rtts: number[], progress: (t: string) => void): Context {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new MoatError('MOAT_ERR_CONFIG', `--url ${url} is not a URL`, { cause: err });
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'mqtt' && scheme !== 'mqtts') throw new MoatError('MOAT_ERR_CONFIG', `--url must be mqtt:// or mqtts:// (got ${scheme}://)`);
  // Reports name the URL: credentials in it would be written into every one (login is given apart).
  if (u.username || u.password) throw new MoatError('MOAT_ERR_CONFIG', '--url must not carry user:password (reports name the URL): give them with -u and -P');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : scheme === 'mqtt' ? 1883 : 8883;
  const creds: ClientCredentials = {};
  // SNI is for host names only (an IP address there is refused by RFC 6066, and Node warns).
  const servername = tls.servername ?? (isIP(host) ? undefined : host);
  if (servername !== undefined) creds.servername = servername;
  if (tls.ca !== undefined) creds.ca = tls.ca;
  if (tls.cert !== undefined) creds.cert = tls.cert;
  if (tls.key !== undefined) creds.key = tls.key;
  if (tls.insecure) creds.insecure = true;
  if (tls.pskIdentity !== undefined && tls.pskHex !== undefined) creds.psk = { identity: tls.pskIdentity, key: Buffer.from(tls.pskHex, 'hex') };
  return {
    plan, rtts, progress, creds, host, builtIn: false,
    portFor(c) {
      const spec = MODE_SPECS[c.mode];
      if (!spec.version) return scheme === 'mqtt' ? port : `${url} is TLS; plain needs an mqtt:// URL`;
      if (scheme !== 'mqtts') return `${url} is plain TCP; ${c.mode} needs an mqtts:// URL`;
      if (spec.psk && !creds.psk) return 'no PSK identity and key given';
      if (spec.mutual && (creds.cert === undefined || creds.key === undefined)) return 'no client certificate and key given';
      return port;
    },
  };
}

interface RowState {
  c: LabCase;
  result: ModeResult;
  port: number;
  /** A session to resume from (resumed modes). */
  session?: Buffer;
  analyses: SetupAnalysis[];
}

async function measureAll(cases: LabCase[], ctx: Context): Promise<ModeResult[]> {
  const rows: RowState[] = [];
  const results: ModeResult[] = [];
  // The rows whose memory is measured (each in a broker child of its own, the next one booted ahead).
  const memKey = memKeyOf(cases, ctx.plan);
  const memoryRows = ctx.freshChild ? cases.filter((c) => memKey === undefined || c.key === undefined || c.key === memKey) : [];
  for (const c of cases) {
    ctx.signal?.throwIfAborted();
    const port = ctx.portFor(c);
    if (typeof port === 'string') {
      results.push(skippedRow(c, port));
      continue;
    }
    try {
      const m = memoryRows.indexOf(c);
      const row = await measureRow(c, port, ctx, m < 0 ? undefined : { more: m < memoryRows.length - 1 });
      rows.push(row);
      results.push(row.result);
    } catch (err) {
      // Against the built-in broker every mode must work: a failure is a bug or a broken check, said loudly.
      if (ctx.builtIn) throw err;
      results.push(skippedRow(c, whyFailed(err)));
    }
  }
  // The other RTTs (those the row phase did not measure), several rows at a time.
  const queue = [...rows];
  const worker = async (): Promise<void> => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      ctx.signal?.throwIfAborted();
      const done = new Set(row.result.setup.map((s) => s.rttMs));
      for (const rtt of ctx.rtts.filter((r) => !done.has(r))) row.result.setup.push(await setupsAt(row, rtt, ctx.plan.delayedSetups, ctx));
    }
  };
  await Promise.all(Array.from({ length: Math.min(ctx.plan.delayedParallel, queue.length) }, worker));
  for (const row of rows) {
    row.result.setup.sort((a, b) => a.rttMs - b.rttMs);
    // Cross-check: the round trips counted at every RTT agree.
    const counts = new Set(row.analyses.map((a) => a.roundTrips));
    if (counts.size !== 1) throw new MoatError('MOAT_ERR_LAB_CHECK', `${caseName(row.c)}: round trips counted differently across setups (${[...counts].join(', ')})`);
    row.result.roundTrips = row.analyses[0]!.roundTrips;
    // Bytes vary by a few between setups (an ECDSA signature's DER length, the client id's digits): the median of every setup.
    const med = (f: (a: SetupAnalysis) => number): number => Math.round(stat(row.analyses.map(f)).median);
    row.result.setupBytes = {
      handshake: { clientToServer: med((a) => a.handshake.clientToServer), serverToClient: med((a) => a.handshake.serverToClient) },
      tickets: med((a) => a.tickets),
      mqtt: { clientToServer: med((a) => a.mqtt.clientToServer), serverToClient: med((a) => a.mqtt.serverToClient) },
    };
  }
  return results;
}

/** With --quick, memory is measured for one server key type (the first row's) and the keyless rows. */
const memKeyOf = (cases: LabCase[], plan: LabPlan): LabKey | undefined => (plan.memAllKeys ? undefined : cases.find((c) => c.key)?.key);

/** A --url row's failure for the table: OpenSSL's own reason (its message also names a source file and line). */
function whyFailed(err: unknown): string {
  const e = err as { reason?: unknown; message?: unknown };
  if (typeof e.reason === 'string' && e.reason) return `the TLS handshake failed: ${e.reason}`;
  return typeof e.message === 'string' ? e.message : String(err);
}

function skippedRow(c: LabCase, why: string): ModeResult {
  return {
    mode: c.mode, ...(c.key ? { key: c.key } : {}), roundTrips: 0, tcpRoundTrips: 1,
    setupBytes: { handshake: { clientToServer: 0, serverToClient: 0 }, tickets: 0, mqtt: { clientToServer: 0, serverToClient: 0 } },
    setup: [], cpu: { clientUs: { min: 0, median: 0, max: 0, n: 0 } }, overhead: [], skipped: why,
  };
}

/** `count` setups through a delay proxy at `rtt` (connect → CONNACK → PUBACK), each analysed and checked. */
async function setupsAt(row: RowState, rtt: number, count: number, ctx: Context): Promise<SetupAtRtt> {
  const proxy = await startDelayProxy({ target: { host: ctx.host, port: row.port }, rttMs: rtt, keepData: true });
  const timeoutMs = setupTimeoutMs(rtt);
  const connack: number[] = [];
  const puback: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      ctx.progress(`${caseName(row.c)}: setup at ${rtt} ms RTT ${i + 1}/${count}`);
      const tls = clientTlsOptions(row.c.mode, ctx.creds);
      const before = proxy.connections.length;
      const r = await probeSetup({ host: '127.0.0.1', port: proxy.port, ...(tls ? { tls } : {}), ...(ctx.login ? { login: ctx.login } : {}) },
        { clientId: clientId(), publish: true, timeoutMs, ...(row.session ? { session: row.session } : {}) });
      if (r.tls) checkNegotiated(row.c.mode, r.tls, `${caseName(row.c)} at ${rtt} ms RTT`);
      if (MODE_SPECS[row.c.mode].resumed && r.session) row.session = r.session;
      const log = proxy.connections[before];
      if (!log) throw new MoatError('MOAT_ERR_LAB_CHECK', 'the delay proxy saw no connection');
      const analysis = analyzeSetup(log, r);
      if (MODE_SPECS[row.c.mode].mutual) checkClientCertificateSent(analysis, ctx, `${caseName(row.c)} at ${rtt} ms RTT`);
      row.analyses.push(analysis);
      connack.push(r.connackMs);
      puback.push(r.pubackMs!);
    }
  } finally {
    await proxy.close();
  }
  return { rttMs: rtt, connack: stat(connack), firstPuback: stat(puback) };
}

/**
 * A mutual-TLS row must have sent its certificate: a server that asks for none (a --url broker without
 * client certificates) still completes the handshake, and the row would measure plain server-auth TLS.
 * TLS 1.3 encrypts the client's Certificate, so the proof is its size: the client's handshake bytes
 * after its ClientHello hold at least the certificate's DER (no certificate compression in OpenSSL 3.0).
 */
function checkClientCertificateSent(a: SetupAnalysis, ctx: Context, what: string): void {
  ctx.clientCertDer ??= ctx.creds.cert !== undefined ? new X509Certificate(ctx.creds.cert).raw.length : 0;
  if (a.clientAfterHello < ctx.clientCertDer) {
    throw new MoatError('MOAT_ERR_LAB_CHECK', `${what}: no client certificate was sent (the server asked for none; ${a.clientAfterHello} handshake bytes after the ClientHello)`);
  }
}

async function measureRow(c: LabCase, port: number, ctx: Context, memory: { more: boolean } | undefined): Promise<RowState> {
  const name = caseName(c);
  const spec = MODE_SPECS[c.mode];
  const tls = clientTlsOptions(c.mode, ctx.creds);
  const target: Target = { host: ctx.host, port, ...(tls ? { tls } : {}), ...(ctx.login ? { login: ctx.login } : {}) };
  const row: RowState = {
    c, port, analyses: [],
    result: {
      mode: c.mode, ...(c.key ? { key: c.key } : {}), roundTrips: 0, tcpRoundTrips: 1,
      setupBytes: { handshake: { clientToServer: 0, serverToClient: 0 }, tickets: 0, mqtt: { clientToServer: 0, serverToClient: 0 } },
      setup: [], cpu: { clientUs: { min: 0, median: 0, max: 0, n: 0 } }, overhead: [],
    },
  };
  // One unmeasured setup first: code paths warm (the first row would otherwise pay for JIT
  // compilation), and for the resumed modes a full handshake whose ticket the measured setups resume.
  ctx.progress(`${name}: warm-up setup`);
  const warm = await probeSetup(target, { clientId: clientId() });
  if (spec.resumed) {
    if (!warm.session) throw new MoatError('MOAT_ERR_LAB_CHECK', `${name}: the server issued no session ticket`);
    row.session = warm.session;
  }
  if (ctx.rtts.includes(0)) row.result.setup.push(await setupsAt(row, 0, ctx.plan.repeat, ctx));
  else row.result.setup.push(await setupsAt(row, ctx.rtts[0]!, ctx.plan.delayedSetups, ctx));
  // The negotiated parameters, from one more direct setup (the probes above checked each one).
  const probe = await probeSetup(target, { clientId: clientId(), ...(row.session ? { session: row.session } : {}) });
  if (probe.tls) {
    checkNegotiated(c.mode, probe.tls, name);
    if (probe.tls.protocol) row.result.protocol = probe.tls.protocol;
    if (probe.tls.cipher) row.result.cipher = probe.tls.cipher;
    if (probe.tls.group) row.result.group = probe.tls.group;
    if (spec.resumed) row.result.resumed = probe.tls.resumed === true;
    if (spec.resumed && probe.session) row.session = probe.session;
    // A resumed setup may bring no new ticket: the warm-up's full handshake did.
    const session = probe.session ?? warm.session;
    const lifetime = session ? ticketLifetimeHint(session) : undefined;
    if (lifetime !== undefined) row.result.ticketLifetimeS = lifetime;
  }
  const sessionRef = { session: row.session };
  ctx.progress(`${name}: CPU per setup`);
  row.result.cpu = await measureCpu(c, target, sessionRef, ctx.plan, ctx.child, clientId);
  if (ctx.freshChild && memory) {
    ctx.progress(`${name}: memory per idle connection`);
    const memChild = await ctx.freshChild(memory.more);
    try {
      const memPort = portIn(c, memChild.ports);
      if (typeof memPort === 'string') throw new MoatError('MOAT_ERR_LAB_SETUP', memPort);
      row.result.memoryPerConnection = await measureMemory(c, { ...target, port: memPort }, sessionRef, ctx.plan, memChild, clientId);
    } finally {
      await memChild.close();
    }
  }
  ctx.progress(`${name}: per-message overhead`);
  // On connections of the row's own kind: a resumed row's are resumed too.
  row.result.overhead = await measureOverhead(c, target, sessionRef, clientId());
  ctx.progress(`${name}: bulk throughput`);
  row.result.throughputMBps = await measureThroughput(c, target, sessionRef, ctx.plan, clientId);
  if (sessionRef.session) row.session = sessionRef.session;
  return row;
}

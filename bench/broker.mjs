#!/usr/bin/env node
/**
 * Broker benchmark: Moat against Aedes and Mosquitto, each a separate process on 127.0.0.1, with the
 * same load over plain TCP and TLS 1.3.
 *
 *   npm run bench:broker                          full run: Markdown table on stdout, progress on stderr
 *   node bench/broker.mjs --quick                 one short round (a smoke run)
 *   node bench/broker.mjs --only fan-in           scenarios whose id contains "fan-in" (comma-separated list)
 *   node bench/broker.mjs --json                  JSON on stdout instead of the table
 *   node bench/broker.mjs --json=out.json         table on stdout and JSON written to out.json
 *   --brokers=moat,mosquitto  --transport=tcp|tls  --rounds=N  --warmup-ms=MS  --measure-ms=MS
 *   --connections=N (idle memory)  --rate=N (latency msg/s)  --moat-log-level=L (default error)
 *   --moat-node-args="--cpu-prof --cpu-prof-dir=DIR"   node flags for the Moat process (profiling)
 *   --moat-limits=maxQueuedMessages=1000,…        Moat's limits for an experiment (default: as Mosquitto's)
 *   --moat-dist=DIR                               the Moat build to run instead of the repository's dist/
 *   --moat-args="--store memory"                  more `moat broker` flags (an experiment)
 *
 * Moat runs with its default store (SQLite under a temp data dir): every client here uses a clean
 * session, which the broker never writes, so no scenario touches the disk (the persistence benchmark,
 * bench/broker/persistence.mjs, measures durable sessions).
 *
 * Scenarios (ids): fan-in (QoS 0, 4 publishers → 1 subscriber), fan-out (QoS 0, 1 → 20), p2p-qos1
 * (4 pairs, 64 in flight per publisher), latency (QoS 0 at a fixed rate, p50/p99), connect-seq and
 * connect-conc (CONNECT → CONNACK → DISCONNECT, one at a time / 16 at a time), memory (VmRSS growth
 * per idle connection, N = 2,000).
 *
 * Method: every measurement starts a fresh broker process, connects the clients, publishes for a
 * warm-up, then counts what subscribers receive in a fixed window; per round each scenario runs on
 * every broker back to back, in an order that rotates from one to the next, so that noise on a shared
 * machine falls on all of them. The score is the median of the rounds. The load generator is this
 * process: raw net/tls sockets, packets pre-encoded with Moat's codec, received bytes split into
 * packets by their fixed header only (bench/broker/client.mjs).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import tls from 'node:tls';
import { LIMITS, MOSQUITTO, startBroker, versions } from './broker/brokers.mjs';
import { useCodec } from './broker/client.mjs';
import { killAll } from './broker/proc.mjs';
import { parseOptions } from './lib/options.mjs';
import { connects, fanIn, fanOut, idleMemory, latency, p2pQos1 } from './broker/scenarios.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// ---------------------------------------------------------------------------------------------------
// Options

const opts = parseOptions(import.meta.url, {
  flags: ['quick', 'json'],
  valued: ['only', 'brokers', 'transport', 'rounds', 'warmup-ms', 'measure-ms', 'connections', 'rate',
    'moat-log-level', 'moat-node-args', 'moat-limits', 'moat-dist', 'moat-args'],
});
const quick = opts.quick === true;
const config = {
  rounds: Number(opts.rounds ?? (quick ? 1 : 3)),
  warmupMs: Number(opts['warmup-ms'] ?? (quick ? 500 : 1000)),
  measureMs: Number(opts['measure-ms'] ?? (quick ? 1500 : 3000)),
  payloadSize: 64,
  latencyRate: Number(opts.rate ?? 2000),
  connectConcurrency: 16,
  idleConnections: Number(opts.connections ?? 2000),
};
const brokerNames = typeof opts.brokers === 'string' ? opts.brokers.split(',') : ['moat', 'aedes', 'mosquitto'];
const transports = typeof opts.transport === 'string' ? opts.transport.split(',') : ['tcp', 'tls'];
const onlyList = typeof opts.only === 'string' ? opts.only.split(',') : undefined;
const moatArgs = typeof opts['moat-args'] === 'string' ? opts['moat-args'].split(/\s+/).filter(Boolean) : [];
const moatNodeArgs = typeof opts['moat-node-args'] === 'string' ? opts['moat-node-args'].split(/\s+/).filter(Boolean) : [];
// --moat-limits=maxQueuedMessages=1000,maxWriteBuffer=65536 overrides the shared limits for Moat only.
const moatLimits = { ...LIMITS };
if (typeof opts['moat-limits'] === 'string') {
  for (const kv of opts['moat-limits'].split(',')) {
    const [k, v] = kv.split('=');
    moatLimits[k] = Number(v);
  }
}
const moatLogLevel = typeof opts['moat-log-level'] === 'string' ? opts['moat-log-level'] : 'error';
const json = opts.json;
for (const b of brokerNames) {
  if (!['moat', 'aedes', 'mosquitto'].includes(b)) {
    process.stderr.write(`bench: unknown broker ${b}\n`);
    process.exit(2);
  }
}

const moatDist = typeof opts['moat-dist'] === 'string' ? resolve(opts['moat-dist']) : join(root, 'dist');
if (!existsSync(join(moatDist, 'codec', 'index.js')) || !existsSync(join(moatDist, 'cli', 'main.js'))) {
  process.stderr.write(`bench: ${moatDist} is missing: run \`npm run build\` first (npm run bench:broker does it).\n`);
  process.exit(1);
}
// Every measurement starts a new Moat process: a rebuild of dist/ during the run would mix versions.
// The run uses a copy taken now, inside node_modules/ so that Moat's own dependencies still resolve.
const snapshot = join(root, 'node_modules', `.moat-bench-${process.pid}`);
cpSync(moatDist, join(snapshot, 'dist'), { recursive: true });
writeFileSync(join(snapshot, 'package.json'), readFileSync(join(root, 'package.json')));
process.on('exit', () => rmSync(snapshot, { recursive: true, force: true }));
const codecPath = join(snapshot, 'dist', 'codec', 'index.js');
if (!existsSync(join(here, 'node_modules', 'aedes')) && brokerNames.includes('aedes')) {
  process.stderr.write('bench: aedes is missing: run `npm --prefix bench install` (npm run bench:broker does it).\n');
  process.exit(1);
}
if (!existsSync(MOSQUITTO) && brokerNames.includes('mosquitto')) {
  process.stderr.write(`bench: ${MOSQUITTO} is missing (Debian package mosquitto).\n`);
  process.exit(1);
}
useCodec(await import(pathToFileURL(codecPath).href));

// ---------------------------------------------------------------------------------------------------
// Scenarios and rows

const SCENARIOS = [
  { id: 'fan-in', title: 'fan-in QoS 0, 4 → 1', metrics: [{ key: 'value', label: 'msg/s', higher: true, kind: 'throughput' }], run: fanIn },
  { id: 'fan-out', title: 'fan-out QoS 0, 1 → 20', metrics: [{ key: 'value', label: 'msg/s', higher: true, kind: 'throughput' }], run: fanOut },
  { id: 'p2p-qos1', title: 'point-to-point QoS 1, 4 pairs, 64 in flight', metrics: [{ key: 'value', label: 'msg/s', higher: true, kind: 'throughput' }], run: p2pQos1 },
  {
    id: 'latency', title: `latency QoS 0 at ${config.latencyRate.toLocaleString('en-US')} msg/s`,
    metrics: [{ key: 'p50', label: 'p50 ms', higher: false, kind: 'latency' }, { key: 'p99', label: 'p99 ms', higher: false, kind: 'latency' }],
    run: latency,
  },
  { id: 'connect-seq', title: 'connects/s, sequential', metrics: [{ key: 'value', label: 'conn/s', higher: true, kind: 'connect' }], run: (ctx) => connects(ctx, 1) },
  {
    id: 'connect-conc', title: `connects/s, ${config.connectConcurrency} concurrent`,
    metrics: [{ key: 'value', label: 'conn/s', higher: true, kind: 'connect' }], run: (ctx) => connects(ctx, config.connectConcurrency),
  },
  {
    id: 'memory', title: `memory per idle connection, N = ${config.idleConnections.toLocaleString('en-US')}`,
    metrics: [{ key: 'value', label: 'KB', higher: false, kind: 'memory' }], run: idleMemory,
  },
];
const scenarios = SCENARIOS.filter((s) => !onlyList || onlyList.some((o) => s.id.includes(o)));
if (scenarios.length === 0) {
  process.stderr.write(`bench: --only matches no scenario; ids: ${SCENARIOS.map((s) => s.id).join(', ')}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// Run

const tmp = mkdtempSync(join(tmpdir(), 'moat-bench-broker-'));
const moatDataDir = join(tmp, 'moat-data');
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const ctxBase = { root, moatRoot: snapshot, tmp, moatDataDir, moatNodeArgs: [], moatLogLevel, moatLimits, moatArgs };
const cells = [];
const crashes = [];
const started = new Date();
const loadStart = loadavg();
const isTty = process.stderr.isTTY;

function progress(line, final = false) {
  if (isTty) process.stderr.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
  else process.stderr.write(`${line}\n`);
}

function fmtCellValue(result) {
  if (!result) return '';
  if (result.metrics) return Object.entries(result.metrics).map(([k, v]) => `${k} ${v.toFixed(3)} ms`).join(', ');
  return Math.round(result.value).toLocaleString('en-US');
}

async function prepare() {
  // Start Moat once with a TLS listener: it writes its dev PKI into moatDataDir; the other brokers use
  // the same server certificate and key, and clients verify them against the same dev CA.
  progress('bench: creating the dev PKI with moat broker …');
  const b = await startBroker('moat', ctxBase);
  await b.stop();
  const pkiDir = join(moatDataDir, 'pki');
  const pki = {
    certPath: join(pkiDir, 'server.crt'), keyPath: join(pkiDir, 'server.key'),
    ca: readFileSync(join(pkiDir, 'ca.crt')),
  };
  return { ...ctxBase, pki, moatNodeArgs, secureContext: tls.createSecureContext({ ca: pki.ca }) };
}

async function runCell(ctx, scenario, transport, brokerName, round) {
  const cell = { scenario: scenario.id, transport, broker: brokerName, round, ok: false };
  let broker;
  const t0 = Date.now();
  try {
    broker = await startBroker(brokerName, ctx);
    cell.pid = broker.pid;
    let crashed;
    const died = broker.exited.then((r) => {
      crashed = r;
      throw new Error(`${brokerName} exited during the run (code ${r.code}, signal ${r.signal})`);
    });
    died.catch(() => {});
    const sleep = (ms) => Promise.race([new Promise((r) => setTimeout(r, ms)), died]);
    const budget = config.warmupMs + config.measureMs + 60000;
    let hangTimer;
    const hang = new Promise((_, reject) => {
      hangTimer = setTimeout(() => reject(new Error(`no result after ${budget} ms: the scenario hung`)), budget);
    });
    try {
      const result = await Promise.race([
        scenario.run({ ...ctx, ...config, broker, secure: transport === 'tls', sleep }),
        died, hang,
      ]);
      Object.assign(cell, result, { ok: true });
    } finally {
      clearTimeout(hangTimer);
    }
    if (crashed) throw new Error('broker died');
  } catch (err) {
    cell.error = err.message;
    if (broker && !broker.alive()) {
      const r = await broker.exited;
      crashes.push({ scenario: scenario.id, transport, broker: brokerName, round, code: r.code, signal: r.signal, output: broker.tail() });
      cell.crash = true;
    }
  } finally {
    if (broker) {
      const r = broker.alive() ? await broker.stop() : await broker.exited;
      cell.exit = r;
      cell.outputTail = broker.tail().slice(-1500) || undefined;
    }
  }
  cell.wallMs = Date.now() - t0;
  cells.push(cell);
  return cell;
}

function rotate(list, k) {
  const n = list.length;
  return list.map((_, i) => list[(i + k) % n]);
}

function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

let exitCode = 0;
try {
  const ctx = await prepare();
  const total = config.rounds * scenarios.length * transports.length * brokerNames.length;
  let k = 0;
  let turn = 0;
  for (let round = 1; round <= config.rounds; round++) {
    for (const scenario of scenarios) {
      for (const transport of transports) {
        for (const brokerName of rotate(brokerNames, turn++ % brokerNames.length)) {
          k++;
          progress(`[${k}/${total}] round ${round}/${config.rounds} ${scenario.id} ${transport} ${brokerName} …`);
          const cell = await runCell(ctx, scenario, transport, brokerName, round);
          const shown = cell.ok ? fmtCellValue(cell) : `FAILED: ${cell.error}`;
          progress(`[${k}/${total}] round ${round}/${config.rounds} ${scenario.id} ${transport} ${brokerName}: ${shown}`, !cell.ok);
        }
      }
    }
  }
  progress(`bench: ${cells.length} measurements in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`, true);
} catch (err) {
  process.stderr.write(`\nbench: ${err.stack ?? err.message}\n`);
  exitCode = 1;
} finally {
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------
// Report

const rows = [];
for (const scenario of scenarios) {
  for (const transport of transports) {
    for (const metric of scenario.metrics) {
      const row = { scenario: scenario.id, title: scenario.title, transport, metric: metric.key, label: metric.label, higherIsBetter: metric.higher, kind: metric.kind, brokers: {} };
      for (const b of brokerNames) {
        const mine = cells.filter((c) => c.scenario === scenario.id && c.transport === transport && c.broker === b);
        const values = mine.filter((c) => c.ok).map((c) => (c.metrics ? c.metrics[metric.key] : c[metric.key]));
        const cpu = mine.filter((c) => c.ok && c.brokerCpu !== undefined).map((c) => c.brokerCpu);
        const load = mine.filter((c) => c.ok && c.loadCpu !== undefined).map((c) => c.loadCpu);
        // Broker CPU time per delivered message (or per connection), µs: less sensitive to a shared
        // machine's noise than the rate itself.
        const perUnit = mine.filter((c) => c.ok && c.brokerCpu !== undefined && c.value > 0).map((c) => (c.brokerCpu * 1e4) / c.value);
        row.brokers[b] = {
          median: values.length ? median(values) : null, rounds: values,
          failures: mine.filter((c) => !c.ok).map((c) => c.error),
          brokerCpu: cpu.length ? median(cpu) : null, loadCpu: load.length ? median(load) : null,
          cpuUsPerUnit: perUnit.length ? median(perUnit) : null,
        };
      }
      const moat = row.brokers.moat?.median;
      const mosq = row.brokers.mosquitto?.median;
      row.ratio = moat != null && mosq != null && mosq !== 0 ? moat / mosq : null;
      rows.push(row);
    }
  }
}

function fmt(row, v) {
  if (v == null || Number.isNaN(v)) return 'failed';
  if (row.kind === 'latency') return v.toFixed(3);
  if (row.kind === 'memory') return (v / 1024).toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

function goals() {
  const out = [];
  if (!brokerNames.includes('moat')) return out;
  for (const row of rows) {
    const moat = row.brokers.moat.median;
    if (row.kind === 'throughput' || row.kind === 'connect') {
      if (!brokerNames.includes('mosquitto')) continue;
      const what = row.kind === 'throughput' ? 'throughput' : 'connection rate';
      const met = row.ratio != null && row.ratio >= 1;
      out.push({ goal: `Moat ≥ Mosquitto (${what})`, row: `${row.title}, ${row.transport.toUpperCase()}`, met, value: row.ratio == null ? 'failed' : `${row.ratio.toFixed(2)}×` });
    } else if (row.kind === 'latency' && row.metric === 'p99') {
      out.push({ goal: 'p99 latency ≤ 1 ms', row: `${row.title}, ${row.transport.toUpperCase()}`, met: moat != null && moat <= 1, value: moat == null ? 'failed' : `${moat.toFixed(3)} ms` });
    } else if (row.kind === 'memory' && row.transport === 'tcp') {
      out.push({ goal: '≤ 4 KB per idle plain connection', row: `${row.title}, TCP`, met: moat != null && moat <= 4096, value: moat == null ? 'failed' : `${(moat / 1024).toFixed(1)} KB` });
    }
  }
  return out;
}

function gitInfo() {
  const git = (...a) => {
    try {
      return execFileSync('git', ['-C', root, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src');
  return { commit: git('rev-parse', '--short', 'HEAD'), srcModified: dirty === undefined ? undefined : dirty.length > 0 };
}

const goalList = goals();
const meta = {
  started: started.toISOString(), seconds: Math.round((Date.now() - started.getTime()) / 1000),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGB: Math.round(totalmem() / 2 ** 30), kernel: release(), loadavgStart: loadStart, loadavgEnd: loadavg() },
  versions: versions(root), git: gitInfo(), config: { ...config, brokers: brokerNames, transports, limits: LIMITS, moatLimits, moatLogLevel, moatNodeArgs, moatArgs, moatDist },
};

function markdown() {
  const names = { moat: 'Moat', aedes: 'Aedes', mosquitto: 'Mosquitto' };
  const header = ['scenario', 'transport', 'unit', ...brokerNames.map((b) => names[b])];
  const withRatio = brokerNames.includes('moat') && brokerNames.includes('mosquitto');
  if (withRatio) header.push('Moat/Mosquitto');
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const title = row.metric === 'value' ? row.title : `${row.title}, ${row.metric}`;
    const unit = `${row.label}${row.higherIsBetter ? '' : ' (lower is better)'}`;
    const cellsOut = brokerNames.map((b) => fmt(row, row.brokers[b].median));
    const r = [title, row.transport.toUpperCase(), unit, ...cellsOut];
    if (withRatio) r.push(row.ratio == null ? '—' : `${row.ratio.toFixed(2)}×`);
    lines.push(`| ${r.join(' | ')} |`);
  }
  const cpuRows = rows.filter((r) => r.kind === 'throughput' || r.kind === 'connect');
  if (cpuRows.length) {
    lines.push('', 'CPU in the measured window, medians: broker process % / load generator % of one core; '
      + 'then broker CPU µs per delivered message (per connection for connects/s).', '');
    lines.push(`| scenario | transport | ${brokerNames.map((b) => `${names[b]} CPU %`).join(' | ')} | ${brokerNames.map((b) => `${names[b]} µs`).join(' | ')} |`);
    lines.push(`|---|---|${brokerNames.map(() => '---:|---:').join('|')}|`);
    for (const row of cpuRows) {
      const c = brokerNames.map((b) => {
        const x = row.brokers[b];
        return x.brokerCpu == null ? '—' : `${Math.round(x.brokerCpu)} / ${Math.round(x.loadCpu)}`;
      });
      const u = brokerNames.map((b) => {
        const x = row.brokers[b].cpuUsPerUnit;
        return x == null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(0);
      });
      lines.push(`| ${row.title} | ${row.transport.toUpperCase()} | ${c.join(' | ')} | ${u.join(' | ')} |`);
    }
  }
  const failures = cells.filter((c) => !c.ok);
  if (failures.length) {
    lines.push('', 'Failed measurements:', '');
    for (const f of failures) lines.push(`- ${f.broker} ${f.scenario} ${f.transport} round ${f.round}: ${f.error}`);
  }
  if (crashes.length) {
    lines.push('', 'Broker processes that died during a run:', '');
    for (const c of crashes) lines.push(`- ${c.broker} ${c.scenario} ${c.transport} round ${c.round}: code ${c.code}, signal ${c.signal}; output: ${JSON.stringify(c.output.slice(-300))}`);
  }
  if (goalList.length) {
    lines.push('', 'Goals:', '');
    for (const g of goalList) lines.push(`- ${g.met ? 'met' : '**missed**'}: ${g.goal} — ${g.row}: ${g.value}`);
  }
  const v = meta.versions;
  const g = meta.git;
  lines.push('', `Node ${v.node}, Moat ${v.moat}${g.commit ? ` (${g.commit}${g.srcModified ? ', src/ modified' : ''})` : ''}, Aedes ${v.aedes}, Mosquitto ${v.mosquitto}; ${meta.machine.cores} × ${meta.machine.cpu}; `
    + `${config.rounds} round(s), warm-up ${config.warmupMs} ms, window ${config.measureMs} ms; load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} → ${meta.machine.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}.`);
  return lines.join('\n') + '\n';
}

const report = { meta, rows, goals: goalList, crashes, cells };
if (json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else {
  process.stdout.write(markdown());
  if (typeof json === 'string') writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
}
process.exitCode = exitCode;

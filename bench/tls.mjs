#!/usr/bin/env node
/**
 * TLS benchmark: handshakes per second and server CPU time per handshake of Moat's TLS listener (the
 * real `moat broker` process) against a bare Node TLS server with the same options that does nothing
 * but the handshake; and the memory each idle TLS connection costs either server.
 *
 *   npm run bench:tls                         full run: Markdown tables on stdout, progress on stderr
 *   node bench/tls.mjs --quick                one short round (a smoke run)
 *   node bench/tls.mjs --only=ecdsa,mtls      rows (ecdsa, ed25519, rsa, resumed, psk, mtls, tls12, memory)
 *   --variants=moat,moat-connect,bare         which servers/clients run (default all three)
 *   --rounds=N --warmup-ms=MS --measure-ms=MS --concurrency=N (handshake loops) --connections=N (memory)
 *   --dist=DIR                                the Moat build to run (default ./dist; npm run bench:tls builds it)
 *   --dist-b=DIR                              a second build, variant `moat-b` (an A/B of a change; with
 *                                             --paired all of moat, moat-b and bare share each window)
 *   --moat-log-level=L (default warn, the product's default)
 *   --moat-node-args="--cpu-prof --cpu-prof-dir=DIR"   node flags for the Moat process (profiling)
 *   --bare-node-args="…"                      the same for the bare server
 *   --json / --json=FILE                      JSON on stdout / JSON written to FILE as well as the table
 *   --paired                                  Moat and bare run at the same time, the loops split between
 *                                             them, so both see the same load from other processes
 *
 * Variants: `moat` = Moat's listener, the client completes the handshake and closes (what the bare
 * server is compared with); `moat-connect` = the same plus MQTT CONNECT → CONNACK → DISCONNECT (for
 * information); `bare` = bench/tls/bare-server.mjs. A handshake counts when the server has closed the
 * connection after the client's end(), so the server has read (and checked) every handshake byte.
 *
 * Method: every measurement starts a fresh server process (CPU probe preloaded: bench/tls/probe.mjs) and
 * drives it from one load generator process (bench/tls/load.mjs) with `concurrency` handshake loops;
 * after a warm-up the window's handshakes are counted and the server's process.cpuUsage() is read from
 * inside it at both ends. Per round each row runs every variant back to back, in an order that rotates
 * from round to round; the score is the median of the rounds.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { killAll, rssBytes } from './broker/proc.mjs';
import { parseOptions } from './lib/options.mjs';
import { startLoad } from './tls/load-client.mjs';
import { makePki, rows as makeRows } from './tls/rows.mjs';
import { startBare, startMoat } from './tls/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// ---------------------------------------------------------------------------------------------------
// Options

const opts = parseOptions(import.meta.url, {
  flags: ['quick', 'json', 'paired'],
  valued: ['only', 'variants', 'rounds', 'warmup-ms', 'measure-ms', 'concurrency', 'connections', 'dist', 'dist-b',
    'moat-log-level', 'moat-node-args', 'bare-node-args'],
});
const quick = opts.quick === true;
const config = {
  rounds: Number(opts.rounds ?? (quick ? 1 : 3)),
  warmupMs: Number(opts['warmup-ms'] ?? (quick ? 700 : 1500)),
  measureMs: Number(opts['measure-ms'] ?? (quick ? 1500 : 4000)),
  concurrency: Number(opts.concurrency ?? 16),
  connections: Number(opts.connections ?? (quick ? 500 : 2000)),
};
const onlyList = typeof opts.only === 'string' ? opts.only.split(',') : undefined;
const variants = typeof opts.variants === 'string' ? opts.variants.split(',') : ['moat', 'moat-connect', 'bare'];
const moatNodeArgs = typeof opts['moat-node-args'] === 'string' ? opts['moat-node-args'].split(/\s+/).filter(Boolean) : [];
const bareNodeArgs = typeof opts['bare-node-args'] === 'string' ? opts['bare-node-args'].split(/\s+/).filter(Boolean) : [];
const profiling = [...moatNodeArgs, ...bareNodeArgs].some((a) => a.startsWith('--cpu-prof') || a.startsWith('--heap-prof'));
const json = opts.json;
const paired = opts.paired === true;
for (const v of variants) {
  if (!['moat', 'moat-connect', 'bare', 'moat-b'].includes(v)) {
    process.stderr.write(`bench: unknown variant ${v}\n`);
    process.exit(2);
  }
}

const distIn = resolve(typeof opts.dist === 'string' ? opts.dist : join(root, 'dist'));
if (!existsSync(join(distIn, 'cli', 'main.js'))) {
  process.stderr.write(`bench: ${distIn}/cli/main.js is missing: run \`npm run build\` first (npm run bench:tls does it).\n`);
  process.exit(1);
}
// Every measurement starts a new Moat process: a rebuild during the run would mix versions. The run
// uses a copy taken now, inside node_modules/ so that Moat's own dependencies still resolve.
const snapshot = join(root, 'node_modules', `.moat-tls-bench-${process.pid}`);
cpSync(distIn, join(snapshot, 'dist'), { recursive: true });
writeFileSync(join(snapshot, 'package.json'), readFileSync(join(root, 'package.json')));
const distB = typeof opts['dist-b'] === 'string' ? resolve(opts['dist-b']) : undefined;
if (variants.includes('moat-b') && !distB) {
  process.stderr.write('bench: variant moat-b needs --dist-b=DIR\n');
  process.exit(2);
}
const snapshotB = distB ? join(root, 'node_modules', `.moat-tls-bench-b-${process.pid}`) : undefined;
if (distB) {
  cpSync(distB, join(snapshotB, 'dist'), { recursive: true });
  writeFileSync(join(snapshotB, 'package.json'), readFileSync(join(root, 'package.json')));
}
const tmp = mkdtempSync(join(tmpdir(), 'moat-tls-bench-'));
process.on('exit', () => {
  killAll();
  rmSync(snapshot, { recursive: true, force: true });
  if (snapshotB) rmSync(snapshotB, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

const log = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const ctx = {
  tmp, dist: join(snapshot, 'dist'), moatNodeArgs, bareNodeArgs,
  moatLogLevel: typeof opts['moat-log-level'] === 'string' ? opts['moat-log-level'] : 'warn',
};

// ---------------------------------------------------------------------------------------------------
// Machine: the share of CPU other processes took during a window (/proc/stat minus server and load).

function busyJiffies() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
}
const cpuUs = (c) => c.user + c.system;

// ---------------------------------------------------------------------------------------------------
// One handshake measurement

/** A connection made like the load's must still be open 300 ms after the handshake: not refused. */
async function admitted(port, row) {
  const c = row.client;
  const o = { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['mqtt'], minVersion: c.minVersion, maxVersion: c.maxVersion };
  if (c.ciphers) o.ciphers = c.ciphers;
  if (c.certFile) {
    o.cert = readFileSync(c.certFile);
    o.key = readFileSync(c.keyFile);
  }
  if (c.psk) o.pskCallback = () => ({ psk: Buffer.from(c.psk.keyHex, 'hex'), identity: c.psk.identity });
  await new Promise((resolveP, reject) => {
    const s = tls.connect(o);
    s.on('error', reject);
    s.on('close', () => reject(new Error(`${row.id}: the server closed a fresh connection (client refused?)`)));
    s.on('secureConnect', () => setTimeout(() => {
      s.removeAllListeners('close');
      s.destroy();
      resolveP();
    }, 300));
  });
}

async function startServer(variant, row, extra) {
  if (variant === 'bare') return startBare(ctx, row.bare);
  return startMoat(variant === 'moat-b' ? { ...ctx, dist: join(snapshotB, 'dist') } : ctx, row.moat, extra);
}

/**
 * One window with the servers of `unit` (one variant, or in the paired mode Moat and bare at once, the
 * load's loops split between them so both see the same machine); returns a result per variant.
 */
async function measureHandshakes(load, row, unit) {
  const servers = [];
  try {
    for (const v of unit) servers.push(await startServer(v, row));
    for (const s of servers) await admitted(s.ports.tls, row);
    const targets = unit.map((v, i) => ({ host: '127.0.0.1', port: servers[i].ports.tls, mqtt: v === 'moat-connect' }));
    await load.ask('run', { targets, client: row.client, concurrency: Math.max(1, Math.round(config.concurrency / unit.length)) });
    await sleep(config.warmupMs);
    const snap = async () => {
      const [l, ...s] = await Promise.all([load.ask('mark'), ...servers.map((x) => x.cpu())]);
      return { l, s, busy: busyJiffies() };
    };
    const a = await snap();
    await sleep(config.measureMs);
    const b = await snap();
    const end = await load.ask('stop');
    const wallS = (b.l.t - a.l.t) / 1000;
    const loadUs = cpuUs(b.l.cpu) - cpuUs(a.l.cpu);
    const busyUs = ((b.busy - a.busy) * 1e6) / 100;
    const serversUs = unit.map((_, i) => cpuUs(b.s[i].cpu) - cpuUs(a.s[i].cpu));
    const total = unit.reduce((acc, _, i) => acc + b.l.per[i].done - a.l.per[i].done, 0);
    const othersShare = Math.max(0, (busyUs - serversUs.reduce((x, y) => x + y, 0) - loadUs) / 1e6 / wallS / cpus().length);
    return unit.map((v, i) => {
      const where = `${row.id}/${v}`;
      if (!servers[i].alive()) throw new Error(`${where}: the server died: ${servers[i].tail()}`);
      const n = b.l.per[i].done - a.l.per[i].done;
      const errors = b.l.per[i].errors - a.l.per[i].errors;
      if (n <= 0) throw new Error(`${where}: no handshakes completed; first error: ${end.firstError}`);
      if (errors > 0.01 * n) throw new Error(`${where}: ${errors} failed handshakes for ${n}; first: ${end.firstError}`);
      const bad = row.check?.({ done: n, resumed: b.l.per[i].resumed - a.l.per[i].resumed });
      if (bad) throw new Error(`${where}: ${bad}`);
      return {
        variant: v, rate: n / wallS, serverUsPerHs: serversUs[i] / n, loadUsPerHs: loadUs / total,
        serverShare: serversUs[i] / 1e6 / wallS, othersShare, errors, handshakes: n,
        // Kernel time (system) apart: TCP segments, shutdown and close are kernel work, OpenSSL is user.
        serverSysUsPerHs: (b.s[i].cpu.system - a.s[i].cpu.system) / n,
      };
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop(profiling ? 20000 : 3000)));
  }
}

// ---------------------------------------------------------------------------------------------------
// Memory per idle connection

const MEMORY_VARIANTS = [
  // The goal's comparison: Moat with an MQTT session per connection against the bare TLS server.
  { id: 'moat-tls', server: 'moat', mqtt: true, port: 'tls', label: 'Moat, TLS 1.3 + CONNECT/CONNACK' },
  { id: 'bare-tls', server: 'bare', mqtt: false, port: 'tls', label: 'bare Node TLS server, TLS 1.3 handshake' },
  // Context: Moat's TLS listener without an MQTT session, and Moat over plain TCP with one.
  { id: 'moat-tls-hs', server: 'moat', mqtt: false, port: 'tls', label: 'Moat, TLS 1.3 handshake only (no CONNECT)' },
  { id: 'moat-tcp', server: 'moat', mqtt: true, port: 'tcp', label: 'Moat, plain TCP + CONNECT/CONNACK' },
];

async function measureMemory(load, row, mv) {
  // A long CONNECT timeout so handshake-only connections stay; plain TCP listener for the context row.
  const server = mv.server === 'bare' ? await startBare(ctx, row.bare)
    : await startMoat(ctx, row.moat, { tcp: true, limits: { connectTimeoutMs: 3_600_000 } });
  try {
    await sleep(1000);
    const before = rssBytes(server.pid);
    const client = mv.port === 'tcp' ? { plain: true } : row.client;
    const r = await load.ask('idle', { target: { host: '127.0.0.1', port: server.ports[mv.port] }, client, n: config.connections, mqtt: mv.mqtt, concurrency: 20 });
    if (r.errors > 0 || r.open < config.connections) throw new Error(`memory ${mv.id}: ${r.open} of ${config.connections} open, ${r.errors} errors; first: ${r.firstError}`);
    await sleep(2000);
    const after = rssBytes(server.pid);
    const still = await load.ask('check-idle');
    if (still.open < config.connections) throw new Error(`memory ${mv.id}: only ${still.open} connections still open`);
    return { bytesPerConn: (after - before) / config.connections, rssBefore: before, rssAfter: after };
  } finally {
    await load.ask('close-idle');
    await server.stop(profiling ? 20000 : 3000);
  }
}

// ---------------------------------------------------------------------------------------------------
// Run

const pki = await makePki(ctx.dist, tmp);
const allRows = makeRows(pki);
const rows = allRows.filter((r) => !onlyList || onlyList.includes(r.id));
const doMemory = !onlyList || onlyList.includes('memory');
const load = await startLoad();
const results = Object.fromEntries(rows.map((r) => [r.id, Object.fromEntries(variants.map((v) => [v, []]))]));
const memory = Object.fromEntries(MEMORY_VARIANTS.map((m) => [m.id, []]));
const started = Date.now();
// Sequential: each variant alone, back to back. Paired: Moat and bare in the same window.
const units = paired
  ? [variants.filter((v) => v !== 'moat-connect'), ...variants.filter((v) => v === 'moat-connect').map((v) => [v])].filter((u) => u.length > 0)
  : variants.map((v) => [v]);

for (let round = 0; round < config.rounds; round++) {
  for (const row of rows) {
    const order = units.map((_, k) => units[(k + round) % units.length]);
    for (const unit of order) {
      for (const m of await measureHandshakes(load, row, unit)) {
        results[row.id][m.variant].push(m);
        log(`round ${round + 1}/${config.rounds} ${row.id.padEnd(8)} ${m.variant.padEnd(13)} ${m.rate.toFixed(0).padStart(6)} hs/s  server ${m.serverUsPerHs.toFixed(0).padStart(5)} µs/hs (sys ${m.serverSysUsPerHs.toFixed(0)}, ${(m.serverShare * 100).toFixed(0)}% of a core)  load ${m.loadUsPerHs.toFixed(0).padStart(5)} µs/hs  others ${(m.othersShare * 100).toFixed(0)}%${unit.length > 1 ? '  (paired)' : ''}`);
      }
    }
  }
  if (doMemory) {
    const ecdsa = allRows.find((r) => r.id === 'ecdsa');
    const order = MEMORY_VARIANTS.map((_, k) => MEMORY_VARIANTS[(k + round) % MEMORY_VARIANTS.length]);
    for (const mv of order) {
      const m = await measureMemory(load, ecdsa, mv);
      memory[mv.id].push(m);
      log(`round ${round + 1}/${config.rounds} memory   ${mv.id.padEnd(13)} ${(m.bytesPerConn / 1024).toFixed(1)} KiB per idle connection (RSS ${(m.rssBefore / 2 ** 20).toFixed(1)} → ${(m.rssAfter / 2 ** 20).toFixed(1)} MiB)`);
    }
  }
}
await load.stop();

// ---------------------------------------------------------------------------------------------------
// Report

const summary = rows.map((row) => {
  const r = results[row.id];
  const med = (v, k) => median((r[v] ?? []).map((m) => m[k]));
  const perRound = (k, invert) => (r.moat ?? []).map((m, i) => {
    const b = r.bare?.[i];
    if (!b) return NaN;
    return invert ? b[k] / m[k] : m[k] / b[k];
  });
  const rateRatios = perRound('rate', false);
  const cpuRatios = perRound('serverUsPerHs', true);
  return {
    id: row.id, label: row.label,
    moat: { rate: med('moat', 'rate'), serverUsPerHs: med('moat', 'serverUsPerHs'), loadUsPerHs: med('moat', 'loadUsPerHs'), othersShare: med('moat', 'othersShare') },
    moatConnect: { rate: med('moat-connect', 'rate'), serverUsPerHs: med('moat-connect', 'serverUsPerHs') },
    moatB: { rate: med('moat-b', 'rate'), serverUsPerHs: med('moat-b', 'serverUsPerHs') },
    bare: { rate: med('bare', 'rate'), serverUsPerHs: med('bare', 'serverUsPerHs'), loadUsPerHs: med('bare', 'loadUsPerHs'), othersShare: med('bare', 'othersShare') },
    rateRatio: med('moat', 'rate') / med('bare', 'rate'),
    cpuRatio: med('bare', 'serverUsPerHs') / med('moat', 'serverUsPerHs'),
    rateRatioRange: [Math.min(...rateRatios), Math.max(...rateRatios)],
    cpuRatioRange: [Math.min(...cpuRatios), Math.max(...cpuRatios)],
    rounds: r,
  };
});
const memSummary = doMemory ? Object.fromEntries(MEMORY_VARIANTS.map((mv) => [mv.id, {
  label: mv.label, bytesPerConn: median(memory[mv.id].map((m) => m.bytesPerConn)), rounds: memory[mv.id],
}])) : undefined;

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
const meta = {
  date: new Date().toISOString(), commit, node: process.version, openssl: process.versions.openssl,
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(),
  loadavg: loadavg().map((x) => x.toFixed(2)).join(' '), config, variants, paired, minutes: ((Date.now() - started) / 60000).toFixed(1),
};

const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const f2 = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const range = ([a, b]) => (Number.isFinite(a) && Number.isFinite(b) ? `${a.toFixed(2)}–${b.toFixed(2)}` : '—');
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : '—');
const lines = [];
lines.push(`TLS benchmark, ${meta.date}, Moat ${commit}, Node ${meta.node} (OpenSSL ${meta.openssl}), ${meta.cpus}, ` +
  `${config.rounds} round(s) of ${config.measureMs} ms after ${config.warmupMs} ms warm-up, ${config.concurrency} handshake loops` +
  `${paired ? ' (paired: Moat and bare in the same window, half the loops each)' : ''}`);
lines.push('');
lines.push('| Row | Moat hs/s | bare hs/s | hs/s Moat / bare | rounds | Moat server CPU µs/hs | bare server CPU µs/hs | CPU bare / Moat | rounds | ≥ 0.9× | Moat + CONNECT/CONNACK hs/s | µs/hs | load µs/hs (Moat / bare) | others |');
lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |');
for (const s of summary) {
  const ok = Math.min(s.rateRatio, s.cpuRatio) >= 0.9 ? 'yes' : '**no**';
  lines.push(`| ${s.label} | ${f0(s.moat.rate)} | ${f0(s.bare.rate)} | **${f2(s.rateRatio)}** | ${range(s.rateRatioRange)} | ${f0(s.moat.serverUsPerHs)} | ${f0(s.bare.serverUsPerHs)} | **${f2(s.cpuRatio)}** | ${range(s.cpuRatioRange)} | ${ok} | ${f0(s.moatConnect.rate)} | ${f0(s.moatConnect.serverUsPerHs)} | ${f0(s.moat.loadUsPerHs)} / ${f0(s.bare.loadUsPerHs)} | ${pct(Math.max(s.moat.othersShare, s.bare.othersShare))} |`);
}
if (variants.includes('moat-b')) {
  lines.push('');
  lines.push(`A/B: moat = ${distIn}, moat-b = ${distB}`);
  lines.push('');
  lines.push('| Row | moat µs/hs | moat-b µs/hs | bare µs/hs | CPU moat / moat-b | CPU bare / moat-b | hs/s moat / moat-b / bare |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of summary) {
    lines.push(`| ${s.label} | ${f0(s.moat.serverUsPerHs)} | ${f0(s.moatB.serverUsPerHs)} | ${f0(s.bare.serverUsPerHs)} | ${f2(s.moat.serverUsPerHs / s.moatB.serverUsPerHs)} | ${f2(s.bare.serverUsPerHs / s.moatB.serverUsPerHs)} | ${f0(s.moat.rate)} / ${f0(s.moatB.rate)} / ${f0(s.bare.rate)} |`);
  }
}
if (memSummary) {
  const kib = (x) => (Number.isFinite(x) ? `${(x / 1024).toFixed(1)} KiB` : '—');
  lines.push('');
  lines.push(`Memory per idle connection (VmRSS growth / ${config.connections} connections, median of ${config.rounds}):`);
  lines.push('');
  lines.push('| Server | per connection | rounds (KiB) |');
  lines.push('| --- | ---: | ---: |');
  for (const [, m] of Object.entries(memSummary)) {
    lines.push(`| ${m.label} | ${kib(m.bytesPerConn)} | ${m.rounds.map((r) => (r.bytesPerConn / 1024).toFixed(1)).join(', ')} |`);
  }
  const ratio = memSummary['moat-tls'].bytesPerConn / memSummary['bare-tls'].bytesPerConn;
  lines.push('');
  lines.push(`Moat (TLS + MQTT session) / bare TLS: **${f2(ratio)}** (goal ≤ 1.1×: ${ratio <= 1.1 ? 'met' : '**missed**'}); ` +
    `Moat TLS without CONNECT / bare: ${f2(memSummary['moat-tls-hs'].bytesPerConn / memSummary['bare-tls'].bytesPerConn)}.`);
}
const table = `${lines.join('\n')}\n`;
const out = { meta, rows: summary, memory: memSummary };
if (json === true) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
else {
  process.stdout.write(table);
  if (typeof json === 'string') writeFileSync(json, JSON.stringify(out, null, 2));
}
process.exit(0);

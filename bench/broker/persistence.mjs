#!/usr/bin/env node
/**
 * Durable sessions benchmark: point-to-point QoS 1 (4 pairs, 64 in flight, bench/broker/scenarios.mjs)
 * with every client on a persistent session (MQTT 3.1.1, clean session 0), against Moat on each store
 * and Mosquitto with and without `persistence true`, all in one run.
 *
 *   node bench/broker/persistence.mjs             (after `npm run build`) Markdown on stdout, progress on stderr
 *   --variants=moat-memory,moat-sqlite,…          default: every variant but moat-sqlite-clean; `all` adds it
 *   --rounds=N (default 5)  --warmup-ms=MS (1000)  --measure-ms=MS (3000)  --transport=tcp|tls (tcp)
 *   --moat-dist=DIR                               the Moat build to run instead of the repository's dist/
 *   --profile=DIR                                 node --cpu-prof for every Moat process, into DIR (the JSON
 *                                                 cells give each one's pid: CPU.*.<pid>.*.cpuprofile)
 *   --redis=URL                                   Redis for moat-redis (default redis://127.0.0.1:6379)
 *   --no-perf                                     no `perf trace` on the brokers (no fsync counts)
 *   --json / --json=FILE                          JSON on stdout / also into FILE
 *
 * Variants: moat-memory (--store memory), moat-sqlite (--store sqlite: WAL, synchronous=FULL, a fresh
 * data dir each measurement), moat-sqlite-normal (store {type: sqlite, synchronous: normal}),
 * moat-redis (store {type: redis, prefix: unique}; its keys are deleted afterwards), mosquitto-persist
 * (persistence true, autosave_interval 1800), mosquitto (persistence false); moat-sqlite-clean is a
 * control: the SQLite store with clean sessions, which the broker never writes.
 *
 * Evidence that the durable rows did write: per measurement the broker's storage writes in the window
 * (write_bytes of /proc/PID/io), its fsync + fdatasync calls in the window (`perf stat` on the
 * syscall tracepoints, when perf works), the SQLite WAL size at the end of the window and the rows
 * left in the database after the broker stopped, or Mosquitto's mosquitto.db, or the Redis key count.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LIMITS, MOSQUITTO, startBroker, versions } from './brokers.mjs';
import { useCodec } from './client.mjs';
import { fsyncMicro } from './fsync-micro.mjs';
import { killAll, spawnTracked } from './proc.mjs';
import { p2pQos1 } from './scenarios.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

const VARIANTS = {
  'moat-memory': { broker: 'moat', label: 'Moat, --store memory', store: 'memory', fsync: 'none (nothing on disk)' },
  'moat-sqlite': { broker: 'moat', label: 'Moat, --store sqlite (default)', store: 'sqlite', fsync: 'synchronous=FULL: fsync per commit (one commit per event-loop turn)' },
  'moat-sqlite-normal': { broker: 'moat', label: 'Moat, SQLite synchronous: normal', store: 'sqlite-normal', fsync: 'synchronous=NORMAL: WAL synced at checkpoints only' },
  'moat-redis': { broker: 'moat', label: 'Moat, --store redis://…', store: 'redis', fsync: 'Redis\'s own (see its appendonly/save settings)' },
  'mosquitto-persist': { broker: 'mosquitto', label: 'Mosquitto, persistence true', persistence: true, fsync: 'none per message: mosquitto.db written at autosave (1800 s) and shutdown' },
  mosquitto: { broker: 'mosquitto', label: 'Mosquitto, persistence false', fsync: 'none' },
  'moat-sqlite-clean': { broker: 'moat', label: 'Moat, --store sqlite, clean sessions (control)', store: 'sqlite', clean: true, fsync: 'none expected: clean sessions are never written' },
};
const DEFAULT_VARIANTS = Object.keys(VARIANTS).filter((v) => v !== 'moat-sqlite-clean');

// ---------------------------------------------------------------------------------------------------
// Options

const opts = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
  const known = ['variants', 'rounds', 'warmup-ms', 'measure-ms', 'transport', 'moat-dist', 'profile', 'redis', 'no-perf', 'json', 'help'];
  if (!m || !known.includes(m[1])) {
    process.stderr.write(`persistence: unknown argument ${a}; known: ${known.map((k) => `--${k}`).join(' ')}\n`);
    process.exit(2);
  }
  opts[m[1]] = m[2] ?? true;
}
if (opts.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
  process.exit(0);
}
const config = {
  rounds: Number(opts.rounds ?? 5), warmupMs: Number(opts['warmup-ms'] ?? 1000), measureMs: Number(opts['measure-ms'] ?? 3000),
  payloadSize: 64, transport: typeof opts.transport === 'string' ? opts.transport : 'tcp',
};
let variantNames = opts.variants === 'all' ? Object.keys(VARIANTS) : typeof opts.variants === 'string' ? opts.variants.split(',') : DEFAULT_VARIANTS;
for (const v of variantNames) {
  if (!VARIANTS[v]) {
    process.stderr.write(`persistence: unknown variant ${v}; known: ${Object.keys(VARIANTS).join(', ')}\n`);
    process.exit(2);
  }
}
const redisUrl = typeof opts.redis === 'string' ? opts.redis : 'redis://127.0.0.1:6379';
const profileDir = typeof opts.profile === 'string' ? resolve(opts.profile) : undefined;
const notes = [];

const moatDist = typeof opts['moat-dist'] === 'string' ? resolve(opts['moat-dist']) : join(root, 'dist');
if (!existsSync(join(moatDist, 'cli', 'main.js'))) {
  process.stderr.write(`persistence: ${moatDist}/cli/main.js is missing: run \`npm run build\` first.\n`);
  process.exit(1);
}
if (variantNames.some((v) => VARIANTS[v].broker === 'mosquitto') && !existsSync(MOSQUITTO)) {
  process.stderr.write(`persistence: ${MOSQUITTO} is missing (Debian package mosquitto).\n`);
  process.exit(1);
}
// As bench/broker.mjs: a copy of the build inside node_modules/ (Moat's dependencies resolve from it).
const snapshot = join(root, 'node_modules', `.moat-bench-${process.pid}`);
cpSync(moatDist, join(snapshot, 'dist'), { recursive: true });
writeFileSync(join(snapshot, 'package.json'), readFileSync(join(root, 'package.json')));
process.on('exit', () => rmSync(snapshot, { recursive: true, force: true }));
useCodec(await import(pathToFileURL(join(snapshot, 'dist', 'codec', 'index.js')).href));

const redisCli = (...args) => execFileSync('redis-cli', ['-u', redisUrl, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (variantNames.includes('moat-redis')) {
  try {
    if (redisCli('ping').trim() !== 'PONG') throw new Error('no PONG');
    const conf = (k) => redisCli('config', 'get', k).split('\n')[1] ?? '?';
    notes.push(`Redis at ${redisUrl}: appendonly ${conf('appendonly')}, appendfsync ${conf('appendfsync')}, save "${conf('save')}".`);
  } catch (err) {
    notes.push(`moat-redis left out: no Redis at ${redisUrl} (${err.message.split('\n')[0]}).`);
    variantNames = variantNames.filter((v) => v !== 'moat-redis');
  }
}

/**
 * `perf trace -s` on one process's fsync and fdatasync calls for `ms`: how many, and the time spent in
 * them (syscall tracepoints: the broker is not stopped at each call as under strace). Undefined when
 * perf cannot; the summary has no row when there was no call.
 */
let perfWorks = opts['no-perf'] ? false : undefined;
function countFsyncs(pid, ms) {
  if (perfWorks === false) return undefined;
  return new Promise((res) => {
    const h = spawnTracked('perf', ['trace', '-s', '-e', 'fsync,fdatasync', '-p', String(pid), '--', 'sleep', String(ms / 1000)]);
    let out = '';
    const keep = (c) => { out += c; };
    h.child.stdout.on('data', keep);
    h.child.stderr.on('data', keep);
    h.exited.then(({ code }) => {
      if (code !== 0) {
        perfWorks = false;
        notes.push(`fsync counts left out: perf trace failed (${out.trim().split('\n').pop()}).`);
        res(undefined);
        return;
      }
      let fsyncs = 0;
      let fsyncMs = 0;
      for (const m of out.matchAll(/^\s*(?:fsync|fdatasync)\s+(\d+)\s+\d+\s+([\d.]+)/gm)) {
        fsyncs += Number(m[1]);
        fsyncMs += Number(m[2]);
      }
      res({ fsyncs, fsyncMs, seconds: ms / 1000 });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Run

const tmp = mkdtempSync(join(tmpdir(), 'moat-bench-persist-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const started = new Date();
const loadStart = loadavg();
const cells = [];
const prefixes = [];
let counter = 0;

function progress(line) {
  process.stderr.write(`${line}\n`);
}

async function prepare() {
  // One Moat start writes the dev PKI; every measurement's data dir gets a copy, Mosquitto uses it too.
  const pkiHome = join(tmp, 'pki-home');
  const b = await startBroker('moat', { root, moatRoot: snapshot, tmp, moatDataDir: pkiHome, moatNodeArgs: [], moatLogLevel: 'error', moatArgs: ['--store', 'memory'] });
  await b.stop();
  const pkiDir = join(pkiHome, 'pki');
  return { pkiDir, pki: { certPath: join(pkiDir, 'server.crt'), keyPath: join(pkiDir, 'server.key'), ca: readFileSync(join(pkiDir, 'ca.crt')) } };
}

/** The per-measurement broker context: a fresh data dir (with the PKI) and the store flags. */
function variantCtx(base, name) {
  const v = VARIANTS[name];
  const n = ++counter;
  const ctx = { ...base, persistentSessions: !v.clean, moatArgs: [], moatNodeArgs: [], moatLogLevel: 'error', moatLimits: LIMITS };
  if (v.broker === 'mosquitto') return { ...ctx, mosquittoPersistence: Boolean(v.persistence) };
  const dataDir = join(tmp, `moat-${n}`);
  mkdirSync(dataDir);
  cpSync(base.pkiDir, join(dataDir, 'pki'), { recursive: true });
  ctx.moatDataDir = dataDir;
  if (v.store === 'memory') ctx.moatArgs = ['--store', 'memory'];
  else if (v.store === 'sqlite') ctx.moatArgs = ['--store', 'sqlite'];
  else {
    const store = v.store === 'sqlite-normal'
      ? { type: 'sqlite', synchronous: 'normal' }
      : { type: 'redis', url: redisUrl, prefix: `moat-bench-${process.pid}-${n}:` };
    if (store.prefix) {
      prefixes.push(store.prefix);
      ctx.redisPrefix = store.prefix;
    }
    const file = join(dataDir, 'moat.yaml');
    writeFileSync(file, JSON.stringify({ store }) + '\n'); // JSON is YAML
    ctx.moatArgs = ['--config', file];
  }
  if (profileDir) ctx.moatNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  return ctx;
}

const size = (p) => (existsSync(p) ? statSync(p).size : undefined);

function redisKeys(prefix) {
  return redisCli('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
}

function deleteRedisKeys(prefix) {
  const keys = redisKeys(prefix);
  for (let i = 0; i < keys.length; i += 500) redisCli('del', ...keys.slice(i, i + 500));
  return keys.length;
}

/** Rows per table in the stopped broker's SQLite file (read-only). */
async function sqliteRows(path) {
  if (!existsSync(path)) return undefined;
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path, { readonly: true });
  try {
    const out = {};
    for (const t of ['sessions', 'subscriptions', 'messages', 'entries']) out[t] = db.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
    return out;
  } finally {
    db.close();
  }
}

async function runCell(base, name, round) {
  const v = VARIANTS[name];
  const cell = { variant: name, round, ok: false };
  const ctx = variantCtx(base, name);
  const dbPath = ctx.moatDataDir ? join(ctx.moatDataDir, 'data', 'moat.db') : undefined;
  let broker;
  try {
    broker = await startBroker(v.broker, ctx);
    cell.pid = broker.pid;
    const died = broker.exited.then((r) => {
      throw new Error(`${name} exited during the run (code ${r.code}, signal ${r.signal}): ${broker.tail().slice(-300)}`);
    });
    died.catch(() => {});
    const sleep = (ms) => Promise.race([new Promise((r) => setTimeout(r, ms)), died]);
    // The probe also notes the WAL size at the end of the window (the WAL is reset at checkpoints).
    const probe = async (pid, ms) => {
      const fs = await countFsyncs(pid, ms);
      return { ...fs, walBytes: dbPath ? size(`${dbPath}-wal`) : undefined };
    };
    const result = await Promise.race([
      p2pQos1({ ...ctx, ...config, broker, secure: config.transport === 'tls', secureContext: base.secureContext, sleep, probe }),
      died,
    ]);
    Object.assign(cell, result, { ok: true });
  } catch (err) {
    cell.error = err.message;
  } finally {
    if (broker) await (broker.alive() ? broker.stop() : broker.exited);
  }
  // After the stop: what is left on disk (or in Redis).
  try {
    if (dbPath) cell.after = { dbBytes: size(dbPath), rows: await sqliteRows(dbPath) };
    if (broker?.dir && v.persistence) cell.after = { mosquittoDbBytes: size(join(broker.dir, 'mosquitto.db')) };
    if (ctx.redisPrefix) cell.after = { redisKeys: deleteRedisKeys(ctx.redisPrefix) };
  } catch (err) {
    cell.afterError = err.message;
  }
  if (ctx.moatDataDir) rmSync(ctx.moatDataDir, { recursive: true, force: true });
  cells.push(cell);
  return cell;
}

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

let fsyncBefore;
let fsyncAfter;
let exitCode = 0;
try {
  progress(`persistence: fsync microbenchmark in ${tmp} …`);
  fsyncBefore = fsyncMicro(tmp);
  const base = await prepare();
  const tls = await import('node:tls');
  base.secureContext = tls.createSecureContext({ ca: base.pki.ca });
  Object.assign(base, { root, moatRoot: snapshot, tmp });
  const total = config.rounds * variantNames.length;
  let k = 0;
  for (let round = 1; round <= config.rounds; round++) {
    // The order rotates from round to round, so a slow phase of the machine falls on every variant.
    const order = variantNames.map((_, i) => variantNames[(i + round - 1) % variantNames.length]);
    for (const name of order) {
      k++;
      const cell = await runCell(base, name, round);
      const d = cell.detail ?? {};
      const fs = d.probe?.fsyncs === undefined ? '' : `, ${(d.probe.fsyncs / d.probe.seconds).toFixed(0)} fsync/s`;
      const wb = d.writeBytes === undefined ? '' : `, ${(d.writeBytes / 1e6).toFixed(1)} MB written`;
      progress(`[${k}/${total}] round ${round} ${name} (pid ${cell.pid}): ${cell.ok ? `${Math.round(cell.value).toLocaleString('en-US')} msg/s${wb}${fs}` : `FAILED: ${cell.error}`}`);
    }
  }
  fsyncAfter = fsyncMicro(tmp);
} catch (err) {
  process.stderr.write(`persistence: ${err.stack ?? err.message}\n`);
  exitCode = 1;
} finally {
  killAll();
  for (const p of prefixes) {
    try {
      deleteRedisKeys(p);
    } catch {
      // Redis gone: nothing more to do
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------
// Report

const rows = variantNames.map((name) => {
  const mine = cells.filter((c) => c.variant === name && c.ok);
  const med = (f) => median(mine.map(f).filter((x) => x !== undefined && x !== null && !Number.isNaN(x)));
  const fsyncRate = med((c) => (c.detail.probe?.fsyncs === undefined ? undefined : c.detail.probe.fsyncs / c.detail.probe.seconds));
  return {
    variant: name, label: VARIANTS[name].label, fsync: VARIANTS[name].fsync,
    median: med((c) => c.value), rounds: mine.map((c) => Math.round(c.value)),
    failures: cells.filter((c) => c.variant === name && !c.ok).map((c) => c.error),
    brokerCpu: med((c) => c.brokerCpu), cpuUsPerMsg: med((c) => (c.brokerCpu * 1e4) / c.value),
    writeBytesPerMsg: med((c) => (c.detail.writeBytes === undefined ? undefined : c.detail.writeBytes / c.detail.count)),
    fsyncPerSec: fsyncRate,
    msgsPerFsync: med((c) => (c.detail.probe?.fsyncs ? c.value / (c.detail.probe.fsyncs / c.detail.probe.seconds) : undefined)),
    fsyncShare: med((c) => (c.detail.probe?.fsyncMs === undefined ? undefined : c.detail.probe.fsyncMs / (c.detail.probe.seconds * 1000))),
    fsyncAvgMs: med((c) => (c.detail.probe?.fsyncs ? c.detail.probe.fsyncMs / c.detail.probe.fsyncs : undefined)),
    walBytes: med((c) => c.detail.probe?.walBytes),
    after: mine.at(-1)?.after,
  };
});
const byName = Object.fromEntries(rows.map((r) => [r.variant, r]));
const ratio = (a, b) => (a?.median && b?.median ? a.median / b.median : null);
/** Each round's value over the other variant's in the same round (they ran back to back). */
const perRound = (a, b) => {
  const out = [];
  for (let round = 1; round <= config.rounds; round++) {
    const x = cells.find((c) => c.variant === a && c.round === round && c.ok);
    const y = cells.find((c) => c.variant === b && c.round === round && c.ok);
    if (x && y && y.value > 0) out.push(x.value / y.value);
  }
  return out;
};
for (const r of rows) {
  r.vsMemory = ratio(r, byName['moat-memory']);
  r.vsMosquittoPersist = ratio(r, byName['mosquitto-persist']);
  r.vsMemoryRounds = perRound(r.variant, 'moat-memory');
  r.vsMosquittoPersistRounds = perRound(r.variant, 'mosquitto-persist');
}
const goals = [];
const durable = byName['moat-sqlite'];
if (durable && byName['moat-memory']) goals.push({ goal: 'SQLite durable ≥ 0.5× in-memory', value: durable.vsMemory, rounds: durable.vsMemoryRounds, met: durable.vsMemory != null && durable.vsMemory >= 0.5 });
if (durable && byName['mosquitto-persist']) goals.push({ goal: 'SQLite durable ≥ Mosquitto with persistence', value: durable.vsMosquittoPersist, rounds: durable.vsMosquittoPersistRounds, met: durable.vsMosquittoPersist != null && durable.vsMosquittoPersist >= 1 });

const git = (...a) => {
  try {
    return execFileSync('git', ['-C', root, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};
const meta = {
  started: started.toISOString(), seconds: Math.round((Date.now() - started.getTime()) / 1000),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), loadavgStart: loadStart, loadavgEnd: loadavg() },
  versions: versions(root), git: { commit: git('rev-parse', '--short', 'HEAD'), srcModified: (git('status', '--porcelain', '--', 'src') ?? '').length > 0 },
  config: { ...config, variants: variantNames, limits: LIMITS, moatDist }, fsyncBefore, fsyncAfter, notes,
};

function fmtN(x, digits = 0) {
  return x == null ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function evidence(r) {
  const a = r.after;
  const parts = [];
  if (r.walBytes != null) parts.push(`WAL ${fmtN(r.walBytes / 1024)} KiB`);
  if (a?.rows) parts.push(`after stop: ${a.rows.sessions} sessions, ${a.rows.subscriptions} subscriptions, ${a.rows.entries} entries`);
  if (a?.mosquittoDbBytes !== undefined) parts.push(`mosquitto.db ${a.mosquittoDbBytes === undefined ? 'absent' : `${fmtN(a.mosquittoDbBytes / 1024)} KiB`} after stop`);
  if (a?.redisKeys !== undefined) parts.push(`${a.redisKeys} Redis keys after stop`);
  return parts.join('; ') || '—';
}

function markdown() {
  const lines = [
    `| variant | durability, fsync | msg/s | × moat-memory | × mosquitto-persist | broker CPU % | CPU µs/msg | disk B/msg | fsync/s | msg/fsync | in fsync | evidence |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const x = (v) => (v == null ? '—' : `${v.toFixed(2)}×`);
    const share = r.fsyncShare == null || r.fsyncAvgMs == null ? '—' : `${(r.fsyncShare * 100).toFixed(0)} % (${r.fsyncAvgMs.toFixed(2)} ms each)`;
    lines.push(`| ${r.variant} (${r.label}) | ${r.fsync} | ${fmtN(r.median)} | ${x(r.vsMemory)} | ${x(r.vsMosquittoPersist)} | ${fmtN(r.brokerCpu)} | ${fmtN(r.cpuUsPerMsg, 1)} | ${fmtN(r.writeBytesPerMsg)} | ${fmtN(r.fsyncPerSec)} | ${fmtN(r.msgsPerFsync, 1)} | ${share} | ${evidence(r)} |`);
  }
  lines.push('', 'Rounds (msg/s): ' + rows.map((r) => `${r.variant} ${r.rounds.map((n) => n.toLocaleString('en-US')).join(' / ')}`).join('; ') + '.');
  const failed = cells.filter((c) => !c.ok);
  if (failed.length) {
    lines.push('', 'Failed measurements:', '');
    for (const f of failed) lines.push(`- ${f.variant} round ${f.round}: ${f.error}`);
  }
  if (goals.length) {
    lines.push('', 'Goals:', '');
    for (const g of goals) {
      lines.push(`- ${g.met ? 'met' : '**missed**'}: ${g.goal}: ${g.value == null ? 'no result' : `${g.value.toFixed(2)}×`} (ratio of medians; per round ${g.rounds.map((x) => x.toFixed(2)).join(' / ')})`);
    }
  }
  const f = (m) => (m ? `fdatasync p50 ${fmtN(m.fdatasync.p50)} µs, p90 ${fmtN(m.fdatasync.p90)} µs (${fmtN(m.fdatasync.perSec)}/s); fsync p50 ${fmtN(m.fsync.p50)} µs` : 'not run');
  lines.push('', `Disk (4 KiB append + sync, ${tmpdir()}): before ${f(fsyncBefore)}; after ${f(fsyncAfter)}.`);
  for (const n of notes) lines.push('', n);
  const v = meta.versions;
  lines.push('', `Node ${v.node}, Moat ${v.moat}${meta.git.commit ? ` (${meta.git.commit}${meta.git.srcModified ? ', src/ modified' : ''})` : ''}, Mosquitto ${v.mosquitto}; ${meta.machine.cores} × ${meta.machine.cpu}; `
    + `${config.transport.toUpperCase()}, ${config.rounds} round(s), warm-up ${config.warmupMs} ms, window ${config.measureMs} ms; load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} → ${meta.machine.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; ${meta.seconds} s.`);
  return lines.join('\n') + '\n';
}

const report = { meta, rows, goals, cells };
if (opts.json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else {
  process.stdout.write(markdown());
  if (typeof opts.json === 'string') writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
}
process.exitCode = exitCode;

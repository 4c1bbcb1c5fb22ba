#!/usr/bin/env node
/**
 * Firmware delivery benchmark: the time to deliver a signed 1 MiB image to 100 devices over TLS through
 * Moat's broker, and the TLS bulk throughput of one connection through the same broker in the same run,
 * so that the campaign's effective goodput (devices × image bytes / delivery time) is read as a share of
 * what one TLS connection carries.
 *
 *   npm run bench:firmware                  full run (builds dist/): a Markdown table on stdout
 *   node bench/firmware.mjs --quick         1 repetition, 20 devices, 16 MiB bulk (a smoke run)
 *   --devices=N (100) --workers=W (3) --reps=R (3) --image-kib=K (1024) --chunk=BYTES (16384)
 *   --bulk-mib=M (64) --window=N (bulk publishes awaiting PUBACK, 64) --dist=DIR (./dist) --json
 *
 * Method. The broker is `moat broker` (the real CLI, process of its own, --store memory, log level warn)
 * with one mqtts:// listener (ECDSA P-256 certificate from the dev PKI; the clients verify it with the
 * CA). The devices are moat/firmware agents, each with its own TLS client (persistent session) and
 * state folder, spread over W worker processes (bench/firmware/worker.mjs), so the devices' side is not
 * one event loop. The pusher (this process) signs nothing on the clock: per repetition a manifest for a
 * new version is signed beforehand; the clock runs from the call of publishRelease (chunks retained
 * QoS 1, then the manifest) to the moment watchCampaign sees the last of the N devices installed
 * (statuses retained QoS 1 on fw/<product>/status/<device>). Each agent verifies every chunk's SHA-256,
 * writes it to its staging file, verifies the whole image and renames it before it reports installed.
 * Bulk: one client (this process) publishes M MiB in 16 KiB messages at QoS 1 with `window` publishes
 * awaiting PUBACK, to one subscriber (QoS 1) in a worker process; the clock runs from the first publish
 * to the last message at the subscriber (reported over IPC). Per repetition both run, in an order that
 * alternates; a warm-up campaign and a warm-up bulk run first and are not counted. Medians, with the
 * spread (min–max), over the repetitions. CPU time in each window: the broker's read inside it
 * (bench/tls/probe.mjs), the workers' from /proc/PID/stat (10 ms ticks), this process's from cpuUsage.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { cpuMs as procCpuMs, killAll } from './broker/proc.mjs';
import { parseOptions } from './lib/options.mjs';
import { startMoat } from './tls/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const opts = parseOptions(import.meta.url, {
  flags: ['quick', 'json'],
  valued: ['devices', 'workers', 'reps', 'image-kib', 'chunk', 'bulk-mib', 'window', 'dist'],
});
const quick = opts.quick === true;
const cfg = {
  devices: Number(opts.devices ?? (quick ? 20 : 100)),
  workers: Number(opts.workers ?? 3),
  reps: Number(opts.reps ?? (quick ? 1 : 3)),
  imageBytes: Number(opts['image-kib'] ?? 1024) * 1024,
  chunk: Number(opts.chunk ?? 16384),
  bulkBytes: Number(opts['bulk-mib'] ?? (quick ? 16 : 64)) * 1024 * 1024,
  window: Number(opts.window ?? 64),
};
const dist = resolve(root, typeof opts.dist === 'string' ? opts.dist : 'dist');
if (!existsSync(join(dist, 'firmware', 'index.js'))) {
  process.stderr.write(`bench: ${dist}/firmware/index.js missing: npm run build first (or --dist=DIR)\n`);
  process.exit(2);
}
const log = (s) => process.stderr.write(`${s}\n`);
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { connect } = await load('client/index.js');
const fw = await load('firmware/index.js');
const { initDevPki } = await load('security/dev-pki.js');

const tmp = mkdtempSync(join(tmpdir(), 'moat-bench-fw-'));
const workers = [];
process.on('exit', () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  killAll();
  rmSync(tmp, { recursive: true, force: true });
});

const PRODUCT = 'bench';
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const MiB = 1024 * 1024;

/** A worker process; `wait(cmd)` resolves with its next message of that kind. */
function startWorker() {
  const child = fork(join(here, 'firmware', 'worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  workers.push(child);
  const waiting = [];
  child.on('message', (m) => {
    if (m.cmd === 'error') {
      log(`worker ${child.pid}: ${m.message}`);
      process.exit(1);
    }
    const i = waiting.findIndex((w) => w.cmd === m.cmd);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
  });
  child.on('exit', (code) => {
    if (code !== 0 && !stopping) {
      log(`worker ${child.pid} exited with ${code}`);
      process.exit(1);
    }
  });
  return { child, wait: (cmd) => new Promise((resolve) => waiting.push({ cmd, resolve })) };
}
let stopping = false;

// --- set-up: PKI, broker, signer, image, devices ---------------------------------------------------
const pki = await initDevPki(join(tmp, 'pki'), { keyType: 'ecdsa' });
const ca = readFileSync(pki.caCertPath, 'utf8');
const broker = await startMoat({ tmp, dist, moatNodeArgs: [], moatLogLevel: 'warn' }, { cert: pki.serverCertPath, key: pki.serverKeyPath });
const url = `mqtts://localhost:${broker.ports.tls}`;
log(`broker pid ${broker.pid} on ${url}; ${cfg.devices} devices in ${cfg.workers} workers; image ${cfg.imageBytes} bytes in ${cfg.chunk}-byte chunks`);

const signer = fw.generateSigner('ed25519');
const trust = fw.encodeTrustList(fw.createTrustList([signer])).toString('utf8');
const imagePath = join(tmp, 'image.bin');
writeFileSync(imagePath, randomBytes(cfg.imageBytes));

const ids = Array.from({ length: cfg.devices }, (_, i) => `dev-${String(i + 1).padStart(3, '0')}`);
const deviceWorkers = Array.from({ length: cfg.workers }, startWorker);
const t0 = performance.now();
await Promise.all(deviceWorkers.map((w, k) => {
  const mine = ids.filter((_, i) => i % cfg.workers === k);
  w.child.send({ cmd: 'devices', dist, url, ca, trust, product: PRODUCT, ids: mine, stateRoot: join(tmp, 'devices') });
  return w.wait('ready');
}));
log(`${cfg.devices} devices connected and running in ${Math.round(performance.now() - t0)} ms`);

const pusher = await connect(url, { ca, clientId: 'fw-bench-pusher', reconnect: false, keepAlive: 120 });

let version = 0;
async function signRelease() {
  version++;
  const now = new Date();
  const manifest = await fw.buildManifest(imagePath, {
    product: PRODUCT, version: `1.0.${version}`, chunkSize: cfg.chunk, now, expiresAt: new Date(now.getTime() + 3600_000),
  });
  const env = fw.signManifest(manifest, signer);
  return { envelope: fw.encodeEnvelope(env), releaseId: fw.releaseIdOf(Buffer.from(env.payload, 'base64')), version: manifest.version };
}

async function brokerCpuMs() {
  const { cpu } = await broker.cpu();
  return (cpu.user + cpu.system) / 1000;
}
/** CPU ms of the devices' side: the worker processes given (all their threads), from /proc. */
const workersCpuMs = (ws) => ws.reduce((sum, w) => sum + procCpuMs(w.child.pid), 0);
/** CPU ms of this process (the pusher or the bulk publisher). */
const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One campaign: publishRelease → the N-th installed status seen by watchCampaign. */
async function campaign() {
  const rel = await signRelease();
  const cpu0 = await brokerCpuMs();
  const dev0 = workersCpuMs(deviceWorkers);
  const self0 = selfCpuMs();
  const start = performance.now();
  const watch = fw.watchCampaign({ client: pusher, product: PRODUCT, releaseId: rel.releaseId, version: rel.version, devices: ids, timeoutMs: 300_000 });
  await fw.publishRelease({ client: pusher, product: PRODUCT, manifestEnvelope: rel.envelope, imagePath });
  const publishedMs = performance.now() - start;
  const summary = await watch;
  const ms = performance.now() - start;
  const devicesCpuMs = workersCpuMs(deviceWorkers) - dev0;
  const pusherCpuMs = selfCpuMs() - self0;
  const cpuMs = (await brokerCpuMs()) - cpu0;
  if (summary.installed.length !== cfg.devices) throw new Error(`campaign ${rel.version}: ${summary.installed.length} installed, failed ${JSON.stringify(summary.failed)}, timed out ${summary.timedOut.length}`);
  return { ms, publishedMs, cpuMs, devicesCpuMs, pusherCpuMs, goodput: (cfg.devices * cfg.imageBytes) / MiB / (ms / 1000) };
}

// Bulk: a subscriber in a worker process of its own, a publisher here.
const bulkWorker = startWorker();
const bulkPub = await connect(url, { ca, clientId: 'fw-bench-bulk', reconnect: false, keepAlive: 120 });
let bulkRun = 0;
async function bulk() {
  const topic = `bench/bulk/${++bulkRun}`;
  const count = Math.ceil(cfg.bulkBytes / cfg.chunk);
  bulkWorker.child.send({ cmd: 'bulk-sub', dist, url, ca, topic, count });
  await bulkWorker.wait('subscribed');
  const payload = randomBytes(cfg.chunk);
  const cpu0 = await brokerCpuMs();
  const sub0 = workersCpuMs([bulkWorker]);
  const self0 = selfCpuMs();
  const done = bulkWorker.wait('bulk-done');
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await bulkPub.publish(topic, payload, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: cfg.window }, lane));
  const { bytes } = await done;
  const ms = performance.now() - start;
  const subCpuMs = workersCpuMs([bulkWorker]) - sub0;
  const pubCpuMs = selfCpuMs() - self0;
  const cpuMs = (await brokerCpuMs()) - cpu0;
  return { ms, cpuMs, subCpuMs, pubCpuMs, mibps: bytes / MiB / (ms / 1000) };
}

log('warm-up: one campaign, one bulk run');
await campaign();
await bulk();
const rows = [];
for (let r = 0; r < cfg.reps; r++) {
  const order = r % 2 === 0 ? ['campaign', 'bulk'] : ['bulk', 'campaign'];
  const row = { load: loadavg()[0] };
  for (const what of order) row[what] = what === 'campaign' ? await campaign() : await bulk();
  row.ratio = row.campaign.goodput / row.bulk.mibps;
  rows.push(row);
  log(`rep ${r + 1}: ${cfg.devices} devices in ${row.campaign.ms.toFixed(0)} ms (published in ${row.campaign.publishedMs.toFixed(0)} ms; goodput ${row.campaign.goodput.toFixed(1)} MiB/s; CPU ms broker ${row.campaign.cpuMs.toFixed(0)}, devices ${row.campaign.devicesCpuMs.toFixed(0)}, pusher ${row.campaign.pusherCpuMs.toFixed(0)}); bulk ${row.bulk.mibps.toFixed(1)} MiB/s (CPU ms broker ${row.bulk.cpuMs.toFixed(0)}, subscriber ${row.bulk.subCpuMs.toFixed(0)}, publisher ${row.bulk.pubCpuMs.toFixed(0)}); ratio ${row.ratio.toFixed(2)}; load ${row.load.toFixed(2)}`);
}

stopping = true;
await pusher.end().catch(() => {});
await bulkPub.end().catch(() => {});
for (const w of [...deviceWorkers, bulkWorker]) w.child.send({ cmd: 'stop' });
await Promise.all([...deviceWorkers, bulkWorker].map((w) => new Promise((r) => (w.child.exitCode !== null ? r() : w.child.once('exit', r)))));
await broker.stop(3000);

const stat = (f) => {
  const xs = rows.map(f);
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
};
const result = {
  config: cfg, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model,
  commit: (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim(); } catch { return undefined; } })(),
  deliveryMs: stat((r) => r.campaign.ms), publishMs: stat((r) => r.campaign.publishedMs), goodputMiBps: stat((r) => r.campaign.goodput),
  campaignBrokerCpuMs: stat((r) => r.campaign.cpuMs), campaignDevicesCpuMs: stat((r) => r.campaign.devicesCpuMs),
  campaignPusherCpuMs: stat((r) => r.campaign.pusherCpuMs), bulkMiBps: stat((r) => r.bulk.mibps), bulkBrokerCpuMs: stat((r) => r.bulk.cpuMs),
  bulkSubscriberCpuMs: stat((r) => r.bulk.subCpuMs), bulkPublisherCpuMs: stat((r) => r.bulk.pubCpuMs),
  ratio: stat((r) => r.ratio), reps: rows,
};
if (opts.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const f = (s, d = 0, unit = '') => `${s.median.toFixed(d)}${unit} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
  const mib = cfg.devices * cfg.imageBytes / MiB;
  process.stdout.write([
    `Firmware delivery: ${cfg.devices} devices × ${cfg.imageBytes / 1024} KiB over TLS, ${cfg.reps} repetitions (median, min–max); commit ${result.commit}, Node ${process.version}, ${result.cpus} CPUs`,
    '',
    '| measure | value |',
    '|---|---:|',
    `| delivery time, publishRelease → ${cfg.devices}th installed | ${f(result.deliveryMs, 0, ' ms')} |`,
    `| of which publishing (chunks + manifest, PUBACKed) | ${f(result.publishMs, 0, ' ms')} |`,
    `| effective goodput (${mib} MiB delivered / time) | ${f(result.goodputMiBps, 1, ' MiB/s')} |`,
    `| CPU per campaign: broker / devices (${cfg.workers} workers) / pusher | ${f(result.campaignBrokerCpuMs, 0, ' ms')} / ${f(result.campaignDevicesCpuMs, 0, ' ms')} / ${f(result.campaignPusherCpuMs, 0, ' ms')} |`,
    `| TLS bulk, one connection (${cfg.bulkBytes / MiB} MiB, ${cfg.chunk}-byte QoS 1, window ${cfg.window}) | ${f(result.bulkMiBps, 1, ' MiB/s')} |`,
    `| CPU per bulk run: broker / subscriber / publisher | ${f(result.bulkBrokerCpuMs, 0, ' ms')} / ${f(result.bulkSubscriberCpuMs, 0, ' ms')} / ${f(result.bulkPublisherCpuMs, 0, ' ms')} |`,
    `| goodput / bulk (per repetition) | ${f(result.ratio, 2)} |`,
    '',
  ].join('\n'));
}
process.exit(0);

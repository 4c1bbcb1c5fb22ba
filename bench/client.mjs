#!/usr/bin/env node
/**
 * Client benchmark: Moat's client (dist/client) against MQTT.js (bench/node_modules/mqtt), both
 * talking MQTT 5 to the same Mosquitto on 127.0.0.1:1883 in the same run.
 *
 *   npm run bench:client                        installs bench/, builds, runs this: ~1.5 min
 *   node bench/client.mjs --quick               one short round (a smoke run)
 *   node bench/client.mjs --only=q1 --lib=moat  one scenario, one library (e.g. under node --cpu-prof)
 *   --rounds=N (default 5)  --messages=N (every scenario)  --client=PATH (another build of Moat's client)
 *   --client-b=PATH         a second build as library moat-b (an A/B in one run: --lib=moat,moat-b)
 *   --json / --json=FILE    machine-readable results
 *
 * Scenarios (ids), 64-byte payloads, one topic each:
 *   q0  QoS 0 publish: N publishes, at most 500 unsettled (a publish promise settles when the library
 *       handed the packet to its socket), then one QoS 1 publish as a fence: Mosquitto reads a
 *       connection's packets in order, so its PUBACK means the broker has read all N. No subscriber.
 *   q1  QoS 1 publish: N publishes, at most 20 unsettled (= Mosquitto's Receive Maximum, so both
 *       libraries keep the same number in flight; a publish settles at its PUBACK). No subscriber.
 *   rx  receive: a neutral publisher (a raw socket in this process writing pre-built MQTT 3.1.1 QoS 0
 *       PUBLISH packets, 64 per write) sends N messages to a QoS 0 subscription of the library under
 *       test (a `message` listener), keeping at most 512 sent and not yet received: under Mosquitto's
 *       max_queued_messages (1,000 packets not yet written to a subscriber's socket, beyond which it
 *       drops QoS 0), so none can be dropped. How fast the library turns messages around counts.
 *   rx-deep  the same with at most 4,096 in the pipe (the socket buffers hold them): the broker's
 *       and the publisher's pace count more. A round that stalls for 5 s (a message dropped) fails.
 * The clock runs from the first publish to the last settle (q0: the fence's PUBACK; rx: the N-th
 * message in the library's message handler). CPU is this process's user + system time in the same
 * window, divided by N (it includes the driver, and for rx the raw publisher, which are the same for
 * both libraries). Each round runs every library once, in an order that alternates from round to
 * round, after one unreported warm-up round; the score is the median round, the spread min–max.
 * Mosquitto's CPU in the same window (from /proc/PID/stat; PID from /run/mosquitto/mosquitto.pid or
 * --broker-pid=N) is shown as % of one core: near 100 % the broker, not the client, sets the pace.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseOptions } from './lib/options.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(join(here, 'package.json'));

const opts = parseOptions(import.meta.url, {
  flags: ['quick', 'json'],
  valued: ['only', 'lib', 'rounds', 'messages', 'client', 'client-b', 'broker-pid'],
});

const HOST = '127.0.0.1';
const PORT = 1883;
const URL = `mqtt://${HOST}:${PORT}`;
const PAYLOAD = Buffer.alloc(64, 0x61);
const quick = opts.quick === true;
const rounds = Number(opts.rounds ?? (quick ? 1 : 5));
const clientPath = resolve(root, opts.client ?? 'dist/client/index.js');
const { connect } = await import(pathToFileURL(clientPath).href);
// An A/B of two builds of Moat's client in one invocation: --client-b=PATH adds the library moat-b.
const clientB = opts['client-b'] ? resolve(root, opts['client-b']) : undefined;
const connectB = clientB ? (await import(pathToFileURL(clientB).href)).connect : undefined;
const mqtt = (await import(pathToFileURL(require.resolve('mqtt')).href)).default;
const mqttVersion = JSON.parse(readFileSync(join(dirname(require.resolve('mqtt/package.json')), 'package.json'), 'utf8')).version;
const run = randomBytes(3).toString('hex');
let seq = 0;
const newTopic = (id) => `moat-bench/${run}/${id}/${seq++}`;

// ---------------------------------------------------------------------------------------------------
// The two libraries behind one interface: open, publish (a promise), subscribe with a handler, end.

const LIBS = {
  moat: {
    open: () => connect(URL, { protocolVersion: 5, reconnect: false }),
    publish: (c, topic, qos) => c.publish(topic, PAYLOAD, { qos }),
    subscribe: async (c, topic, onMessage) => {
      c.on('message', onMessage);
      await c.subscribe(topic, { qos: 0 });
    },
    end: (c) => c.end(),
  },
  ...(connectB ? {
    'moat-b': {
      open: () => connectB(URL, { protocolVersion: 5, reconnect: false }),
      publish: (c, topic, qos) => c.publish(topic, PAYLOAD, { qos }),
      subscribe: async (c, topic, onMessage) => {
        c.on('message', onMessage);
        await c.subscribe(topic, { qos: 0 });
      },
      end: (c) => c.end(),
    },
  } : {}),
  'mqtt.js': {
    open: () => mqtt.connectAsync(URL, { protocolVersion: 5, reconnectPeriod: 0 }),
    publish: (c, topic, qos) => c.publishAsync(topic, PAYLOAD, { qos }),
    subscribe: async (c, topic, onMessage) => {
      c.on('message', onMessage);
      await c.subscribeAsync(topic, { qos: 0 });
    },
    end: (c) => c.endAsync(),
  },
};

/** Calls `publish()` n times keeping at most `window` promises unsettled; resolves when all settled. */
function windowed(publish, n, window) {
  return new Promise((resolvePromise, reject) => {
    let sent = 0;
    let settled = 0;
    const onSettled = () => {
      if (++settled === n) resolvePromise();
      else fill();
    };
    const fill = () => {
      while (sent < n && sent - settled < window) {
        sent++;
        publish().then(onSettled, reject);
      }
    };
    fill();
  });
}

// Mosquitto's CPU time (utime + stime from /proc, in 10 ms ticks) shows when the broker is the limit.
const brokerPid = opts['broker-pid'] ?? (existsSync('/run/mosquitto/mosquitto.pid') ? readFileSync('/run/mosquitto/mosquitto.pid', 'utf8').trim() : undefined);
function brokerTicks() {
  try {
    const f = readFileSync(`/proc/${brokerPid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

function measure(n, body) {
  return async () => {
    const b0 = brokerTicks();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await body();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const b1 = brokerTicks();
    return {
      rate: n / (ms / 1000), cpuUsPerMsg: (cpu.user + cpu.system) / n,
      brokerCpu: b0 === undefined || b1 === undefined ? undefined : ((b1 - b0) * 10) / ms,
    };
  };
}

async function publishScenario(lib, n, qos, window) {
  const L = LIBS[lib];
  const c = await L.open();
  const topic = newTopic(`q${qos}`);
  try {
    return await measure(n, async () => {
      await windowed(() => L.publish(c, topic, qos), n, window);
      if (qos === 0) await L.publish(c, topic, 1); // the fence: see the header
    })();
  } finally {
    await L.end(c);
  }
}

// --- The neutral publisher of the receive scenario: raw socket, MQTT 3.1.1, pre-built packets.

function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function rawPacket(first, body) {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

function str(s) {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

function rawPublisher() {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(PORT, HOST);
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.once('connect', () => {
      // CONNECT 3.1.1, clean session, keep alive 0.
      const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 0]), str(`bench-raw-${run}-${seq++}`)]);
      socket.write(rawPacket(0x10, body));
    });
    socket.once('data', (d) => {
      if (d[0] !== 0x20 || d[3] !== 0) return reject(new Error(`raw publisher: CONNACK ${d.toString('hex')}`));
      resolvePromise(socket);
    });
  });
}

const BATCH = 64;
async function receiveScenario(lib, n, pipeDepth) {
  const L = LIBS[lib];
  const topic = newTopic('rx');
  const c = await L.open();
  const pub = await rawPublisher();
  const batch = Buffer.concat(Array.from({ length: BATCH }, () => rawPacket(0x30, Buffer.concat([str(topic), PAYLOAD]))));
  const one = batch.length / BATCH;
  let received = 0;
  let sent = 0;
  let blocked = false;
  let done;
  const all = new Promise((r) => { done = r; });
  const pump = () => {
    while (!blocked && sent < n && sent - received + BATCH <= pipeDepth) {
      const k = Math.min(BATCH, n - sent);
      sent += k;
      if (!pub.write(k === BATCH ? batch : batch.subarray(0, k * one))) blocked = true;
    }
  };
  pub.on('drain', () => {
    blocked = false;
    pump();
  });
  await L.subscribe(c, topic, () => {
    if (++received === n) done();
    else if (received % BATCH === 0) pump();
  });
  try {
    return await measure(n, async () => {
      pump();
      // Progress or fail: a QoS 0 message Mosquitto dropped would otherwise be waited for forever.
      let timer;
      let last = -1;
      const stalled = new Promise((_, rej) => {
        timer = setInterval(() => {
          if (received === last) rej(new Error(`rx: ${lib} stalled at ${received} of ${n} messages (${sent} sent)`));
          last = received;
        }, 5000);
      });
      await Promise.race([all, stalled]).finally(() => clearInterval(timer));
    })();
  } finally {
    pub.end(Buffer.from([0xe0, 0]));
    await L.end(c);
  }
}

const SCENARIOS = [
  { id: 'q0', title: 'QoS 0 publish (500 unsettled)', n: 100_000, run: (lib, n) => publishScenario(lib, n, 0, 500) },
  { id: 'q1', title: 'QoS 1 publish (20 unsettled)', n: 20_000, run: (lib, n) => publishScenario(lib, n, 1, 20) },
  { id: 'rx', title: 'receive QoS 0, ≤ 512 in the pipe', n: 100_000, run: (lib, n) => receiveScenario(lib, n, 512) },
  { id: 'rx-deep', title: 'receive QoS 0, ≤ 4,096 in the pipe', n: 200_000, run: (lib, n) => receiveScenario(lib, n, 4096) },
];

// ---------------------------------------------------------------------------------------------------
// Run

const only = opts.only ? String(opts.only).split(',') : undefined;
const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.id));
const libNames = opts.lib ? String(opts.lib).split(',') : Object.keys(LIBS);
if (scenarios.length === 0 || libNames.some((l) => !LIBS[l])) {
  process.stderr.write(`bench: scenarios are ${SCENARIOS.map((s) => s.id).join(', ')}; libraries ${Object.keys(LIBS).join(', ')}\n`);
  process.exit(2);
}

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
const commit = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--', 'src/client', 'src/codec') === '' ? '' : '+dirty');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => Math.round(x).toLocaleString('en-US');

const load0 = loadavg()[0];
const results = [];
for (const s of scenarios) {
  const n = Number(opts.messages ?? (quick ? Math.ceil(s.n / 10) : s.n));
  for (const lib of libNames) await s.run(lib, Math.ceil(n / 10)); // warm-up, not reported
  const samples = Object.fromEntries(libNames.map((l) => [l, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? libNames : [...libNames].reverse();
    for (const lib of order) {
      const res = await s.run(lib, n);
      samples[lib].push(res);
      const broker = res.brokerCpu === undefined ? '' : `, Mosquitto ${Math.round(res.brokerCpu * 100)} % of a core`;
      process.stderr.write(`${s.id} round ${r + 1} ${lib}: ${fmt(res.rate)} msgs/s, ${res.cpuUsPerMsg.toFixed(2)} µs CPU/msg${broker}\n`);
    }
  }
  const row = { id: s.id, title: s.title, messages: n, libs: {} };
  for (const lib of libNames) {
    const rates = samples[lib].map((x) => x.rate);
    row.libs[lib] = {
      median: median(rates), min: Math.min(...rates), max: Math.max(...rates),
      cpuUsPerMsg: median(samples[lib].map((x) => x.cpuUsPerMsg)), rates,
      brokerCpu: samples[lib].every((x) => x.brokerCpu !== undefined) ? median(samples[lib].map((x) => x.brokerCpu)) : undefined,
    };
  }
  if (row.libs.moat && row.libs['mqtt.js']) row.ratio = row.libs.moat.median / row.libs['mqtt.js'].median;
  results.push(row);
}

const meta = {
  date: new Date().toISOString(), commit, node: process.version, mqttjs: mqttVersion, client: clientPath,
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, loadavg: [load0, loadavg()[0]], rounds,
};
if (opts.json === true) {
  process.stdout.write(JSON.stringify({ meta, results }, null, 2) + '\n');
} else {
  if (typeof opts.json === 'string') writeFileSync(opts.json, JSON.stringify({ meta, results }, null, 2) + '\n');
  console.log(`Moat client (${commit}) vs MQTT.js ${meta.mqttjs}, Mosquitto at ${URL}, MQTT 5, ${PAYLOAD.length} B payloads, ${meta.node}, ${meta.cpus}`);
  console.log(`median of ${rounds} alternating rounds (min–max); load average ${load0.toFixed(2)} → ${meta.loadavg[1].toFixed(2)}\n`);
  console.log('| scenario | messages | Moat msgs/s | MQTT.js msgs/s | Moat / MQTT.js | CPU µs/msg Moat | CPU µs/msg MQTT.js | Mosquitto CPU Moat / MQTT.js |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const cell = (l) => (r.libs[l] ? `${fmt(r.libs[l].median)} (${fmt(r.libs[l].min)}–${fmt(r.libs[l].max)})` : '—');
    const cpu = (l) => (r.libs[l] ? r.libs[l].cpuUsPerMsg.toFixed(2) : '—');
    const bc = (l) => (r.libs[l]?.brokerCpu !== undefined ? `${Math.round(r.libs[l].brokerCpu * 100)} %` : '—');
    console.log(`| ${r.title} | ${fmt(r.messages)} | ${cell('moat')} | ${cell('mqtt.js')} | ${r.ratio ? `${r.ratio.toFixed(2)}×` : '—'} | ${cpu('moat')} | ${cpu('mqtt.js')} | ${bc('moat')} / ${bc('mqtt.js')} |`);
  }
  for (const r of results.filter((x) => x.libs['moat-b'])) {
    const b = r.libs['moat-b'];
    const vs = r.libs.moat ? `, ${(b.median / r.libs.moat.median).toFixed(2)}× moat` : '';
    console.log(`moat-b (${clientB}) ${r.id}: ${fmt(b.median)} (${fmt(b.min)}–${fmt(b.max)}) msgs/s${vs}, ${b.cpuUsPerMsg.toFixed(2)} µs CPU/msg`);
  }
}
process.exit(0);

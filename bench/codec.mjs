#!/usr/bin/env node
/**
 * Codec benchmark: Moat's MQTT codec (dist/codec) against mqtt-packet, the codec behind MQTT.js and
 * Aedes. Both libraries encode and decode the same packets; each row is checked for agreement once
 * before anything is timed.
 *
 *   npm run build && npm run bench:codec            Markdown table on stdout, progress on stderr
 *   node bench/codec.mjs --quick                     shorter warm-up and rounds (a smoke run)
 *   node bench/codec.mjs --json                      JSON on stdout instead of the table
 *   node bench/codec.mjs --json=out.json             table on stdout and JSON written to out.json
 *   node bench/codec.mjs --only=connect --lib=moat   rows whose id contains "connect", Moat only
 *                                                    (for `node --cpu-prof bench/codec.mjs ...`)
 *   --rounds=N --round-ms=MS --warmup-ms=MS          override the method's numbers
 *   --clock=wall                                     rank by wall-clock instead of CPU time
 *   --wait-quiet=S                                   before each row, wait up to S s (default 10; 0 with
 *                                                    --quick) for other processes to use < 10 % of the
 *                                                    machine; the share they used during each row is
 *                                                    reported either way (Linux)
 *   --codec=path/to/codec/index.js                   time another build of the codec (A/B of a change)
 *
 * Method: per row and library, a warm-up, then N rounds of a fixed time each; in every round both
 * libraries run back to back, in an order that alternates from round to round, so that noise on a
 * shared machine falls on both. Each round counts operations per second of the process's CPU time
 * (user + system, GC threads included) and per second of wall-clock time; the score is the median
 * over the rounds, by CPU time unless --clock=wall. CPU time leaves out the time other processes
 * held the core, which on a shared 2-core machine otherwise swings single rounds by 2x or more.
 *
 * Decode feeds pre-encoded packets, one per write, into one long-lived decoder (as a broker's
 * connection does) and sums a field of each packet so that no work can be optimised away. Encode
 * builds a fresh Buffer from the same packet object each time and sums the lengths. The fan-out rows
 * are the broker's send path: one message to 10 QoS 1 subscribers, through Moat's PublishFanout and
 * through mqtt-packet's writeToStream (what Aedes uses) into a stream that only counts bytes.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, platform, arch, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
// --codec=PATH benchmarks another build of the codec (an experiment's copy of dist/codec) instead.
const codecArg = process.argv.find((a) => a.startsWith('--codec='));
const codecPath = codecArg ? resolve(codecArg.slice('--codec='.length)) : join(root, 'dist', 'codec', 'index.js');
if (!existsSync(codecPath)) {
  process.stderr.write(`bench: ${codecPath} is missing: run \`npm run build\` in ${root} first.\n`);
  process.exit(1);
}
const require = createRequire(join(here, 'package.json'));
let mqtt;
try {
  mqtt = require('mqtt-packet');
} catch {
  process.stderr.write('bench: mqtt-packet is missing: run `npm --prefix bench install` (npm run bench:codec does it).\n');
  process.exit(1);
}
const { encodePacket, PacketDecoder, PublishFanout, decodeAll } = await import(pathToFileURL(codecPath).href);
const mqttPacketVersion = JSON.parse(readFileSync(require.resolve('mqtt-packet/package.json'), 'utf8')).version;

// ---------------------------------------------------------------------------------------------------
// Options

const args = process.argv.slice(2);
function opt(name) {
  const a = args.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (a === undefined) return undefined;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
}
const known = ['quick', 'json', 'only', 'lib', 'rounds', 'round-ms', 'warmup-ms', 'clock', 'wait-quiet', 'codec', 'help'];
for (const a of args) {
  const name = a.replace(/^--/, '').split('=')[0];
  if (!a.startsWith('--') || !known.includes(name)) {
    process.stderr.write(`bench: unknown argument ${a}; known: ${known.map((k) => `--${k}`).join(' ')}\n`);
    process.exit(2);
  }
}
if (opt('help')) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
  process.exit(0);
}
const quick = opt('quick') === true;
const config = {
  rounds: Number(opt('rounds') ?? (quick ? 3 : 7)),
  roundMs: Number(opt('round-ms') ?? (quick ? 60 : 300)),
  warmupMs: Number(opt('warmup-ms') ?? (quick ? 100 : 600)),
  // cpu: ops per second of this process's CPU time, which other processes on a shared machine do not
  // inflate; wall: ops per second of elapsed time. Both are measured and written to the JSON.
  clock: opt('clock') ?? 'cpu',
  // Before each row, wait up to this many seconds for other processes to leave the machine (Linux).
  waitQuiet: Number(opt('wait-quiet') ?? (quick ? 0 : 10)),
};
if (config.clock !== 'cpu' && config.clock !== 'wall') {
  process.stderr.write('bench: --clock is cpu or wall\n');
  process.exit(2);
}
const json = opt('json');
const only = typeof opt('only') === 'string' ? opt('only') : undefined;
const libFilter = typeof opt('lib') === 'string' ? opt('lib') : undefined;
if (libFilter !== undefined && libFilter !== 'moat' && libFilter !== 'mqtt-packet') {
  process.stderr.write('bench: --lib is moat or mqtt-packet\n');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// The packets, once in Moat's shape and once in mqtt-packet's

const TOPIC = 'sensors/building-7/floor-3/room-12/temperature';

function payloadOf(size) {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function publishCase(size, version) {
  const payload = payloadOf(size);
  return {
    moat: { type: 'publish', topic: TOPIC, payload, qos: 1, retain: false, dup: false, packetId: 4242 },
    mqtt: { cmd: 'publish', topic: TOPIC, payload, qos: 1, retain: false, dup: false, messageId: 4242 },
    version,
    // What each side's decoder yields that the benchmark sums up.
    sumMoat: (p) => p.payload.length + p.topic.length,
    sumMqtt: (p) => p.payload.length + p.topic.length,
    essentialsMoat: (p) => ({ topic: p.topic, qos: p.qos, retain: p.retain, dup: p.dup, id: p.packetId,
      payload: Buffer.from(p.payload).toString('hex'), props: p.properties ?? {} }),
    essentialsMqtt: (p) => ({ topic: p.topic, qos: p.qos, retain: p.retain, dup: p.dup, id: p.messageId,
      payload: Buffer.from(p.payload).toString('hex'), props: p.properties ?? {} }),
  };
}

const pairsToObject = (pairs) => Object.fromEntries(pairs ?? []);

function connectCase() {
  const will = { topic: 'clients/bench-client-0001/status', payload: Buffer.from('{"online":false}'), qos: 1, retain: true };
  const password = Buffer.from('s3cret-passw0rd');
  return {
    moat: {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 60,
      clientId: 'bench-client-0001',
      properties: {
        sessionExpiryInterval: 3600, receiveMaximum: 100, maximumPacketSize: 1_048_576, topicAliasMaximum: 16,
        userProperties: [['app', 'moat-bench'], ['region', 'eu-west-1']],
      },
      will: {
        ...will,
        properties: {
          payloadFormatIndicator: true, messageExpiryInterval: 600, contentType: 'application/json',
          willDelayInterval: 30, userProperties: [['reason', 'connection-lost']],
        },
      },
      username: 'bench-user', password,
    },
    mqtt: {
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60,
      clientId: 'bench-client-0001',
      properties: {
        sessionExpiryInterval: 3600, receiveMaximum: 100, maximumPacketSize: 1_048_576, topicAliasMaximum: 16,
        userProperties: { app: 'moat-bench', region: 'eu-west-1' },
      },
      will: {
        ...will,
        properties: {
          payloadFormatIndicator: true, messageExpiryInterval: 600, contentType: 'application/json',
          willDelayInterval: 30, userProperties: { reason: 'connection-lost' },
        },
      },
      username: 'bench-user', password,
    },
    version: 5,
    sumMoat: (p) => p.clientId.length + p.will.payload.length + p.properties.receiveMaximum,
    sumMqtt: (p) => p.clientId.length + p.will.payload.length + p.properties.receiveMaximum,
    essentialsMoat: (p) => ({
      version: p.protocolVersion, clean: p.clean, keepAlive: p.keepAlive, clientId: p.clientId,
      props: { ...p.properties, userProperties: pairsToObject(p.properties?.userProperties) },
      will: { topic: p.will.topic, payload: p.will.payload.toString('hex'), qos: p.will.qos, retain: p.will.retain,
        props: { ...p.will.properties, userProperties: pairsToObject(p.will.properties?.userProperties) } },
      username: p.username, password: p.password.toString('hex'),
    }),
    essentialsMqtt: (p) => ({
      version: p.protocolVersion, clean: p.clean, keepAlive: p.keepalive, clientId: p.clientId,
      props: { ...p.properties },
      will: { topic: p.will.topic, payload: Buffer.from(p.will.payload).toString('hex'), qos: p.will.qos,
        retain: p.will.retain, props: { ...p.will.properties } },
      username: p.username, password: Buffer.from(p.password).toString('hex'),
    }),
  };
}

function subscribeCase() {
  const filters = [
    'sensors/+/temperature', 'sensors/+/humidity', 'sensors/building-7/#', 'alerts/#',
    'devices/bench-client-0001/commands/+', 'devices/bench-client-0001/config', '$share/workers/jobs/+/new',
    'fleet/+/+/status', 'metrics/cpu', 'logs/app/error',
  ];
  const opts = (i) => ({ qos: i % 3, nl: i === 2, rap: i % 2 === 1, rh: i % 3 });
  return {
    moat: {
      type: 'subscribe', packetId: 7, properties: { subscriptionIdentifier: 12 },
      subscriptions: filters.map((f, i) => {
        const o = opts(i);
        return { topicFilter: f, qos: o.qos, noLocal: o.nl, retainAsPublished: o.rap, retainHandling: o.rh };
      }),
    },
    mqtt: {
      cmd: 'subscribe', messageId: 7, properties: { subscriptionIdentifier: 12 },
      subscriptions: filters.map((f, i) => ({ topic: f, ...opts(i) })),
    },
    version: 5,
    sumMoat: (p) => p.subscriptions.length + p.subscriptions[9].topicFilter.length,
    sumMqtt: (p) => p.subscriptions.length + p.subscriptions[9].topic.length,
    essentialsMoat: (p) => ({ id: p.packetId, props: p.properties ?? {},
      subs: p.subscriptions.map((s) => [s.topicFilter, s.qos, !!s.noLocal, !!s.retainAsPublished, s.retainHandling ?? 0]) }),
    essentialsMqtt: (p) => ({ id: p.messageId, props: p.properties ?? {},
      subs: p.subscriptions.map((s) => [s.topic, s.qos, !!s.nl, !!s.rap, s.rh ?? 0]) }),
  };
}

const CASES = [
  { id: 'publish-64B-v5', label: 'PUBLISH 64 B, QoS 1, v5', ...publishCase(64, 5) },
  { id: 'publish-1KiB-v5', label: 'PUBLISH 1 KiB, QoS 1, v5', ...publishCase(1024, 5) },
  { id: 'publish-64KiB-v5', label: 'PUBLISH 64 KiB, QoS 1, v5', ...publishCase(65536, 5) },
  { id: 'publish-64B-v311', label: 'PUBLISH 64 B, QoS 1, v3.1.1', ...publishCase(64, 4) },
  { id: 'connect-v5', label: 'CONNECT v5, properties + will + auth', ...connectCase() },
  { id: 'subscribe-10-v5', label: 'SUBSCRIBE v5, 10 filters', ...subscribeCase() },
  { id: 'fanout-1KiB-x10-v5', label: 'PUBLISH 1 KiB, QoS 1, v5, to 10 subscribers', ...publishCase(1024, 5), fanout: 10 },
  { id: 'fanout-64KiB-x10-v5', label: 'PUBLISH 64 KiB, QoS 1, v5, to 10 subscribers', ...publishCase(65536, 5), fanout: 10 },
];
const opsOf = (c) => (c.fanout ? ['fan-out'] : ['decode', 'encode']);

// ---------------------------------------------------------------------------------------------------
// Cross-checks: both sides must agree on every packet before anything is timed

function mqttParseAll(buf, version) {
  const parser = mqtt.parser({ protocolVersion: version });
  const out = [];
  let error;
  parser.on('packet', (p) => out.push(p));
  parser.on('error', (e) => { error = e; });
  parser.parse(buf);
  if (error) throw error;
  return out;
}

function check(c) {
  const moatBytes = encodePacket(c.moat, c.version);
  const mqttBytes = mqtt.generate(c.mqtt, { protocolVersion: c.version });
  const want = c.essentialsMoat(c.moat);
  const results = [
    ['Moat decodes Moat', () => c.essentialsMoat(one(decodeAll(moatBytes, { protocolVersion: c.version })))],
    ['Moat decodes mqtt-packet', () => c.essentialsMoat(one(decodeAll(mqttBytes, { protocolVersion: c.version })))],
    ['mqtt-packet decodes Moat', () => c.essentialsMqtt(one(mqttParseAll(moatBytes, c.version)))],
    ['mqtt-packet decodes mqtt-packet', () => c.essentialsMqtt(one(mqttParseAll(mqttBytes, c.version)))],
  ];
  for (const [what, get] of results) {
    const got = get();
    if (!isDeepStrictEqual(canon(got), canon(want))) {
      throw new Error(`${c.id}: ${what} disagrees.\nwant ${JSON.stringify(want)}\ngot  ${JSON.stringify(got)}`);
    }
  }
  if (c.sumMoat(one(decodeAll(moatBytes, { protocolVersion: c.version }))) !== c.sumMqtt(one(mqttParseAll(moatBytes, c.version)))) {
    throw new Error(`${c.id}: the summed fields differ between the libraries`);
  }
  if (c.fanout) {
    // The broker's send path: Moat's PublishFanout against mqtt-packet's writeToStream.
    const f = new PublishFanout({ topic: c.moat.topic, payload: c.moat.payload });
    for (const id of [1, 300, 65535]) {
      const a = Buffer.concat(f.encode({ version: c.version, qos: 1, packetId: id, retain: false }));
      const chunks = [];
      mqtt.writeToStream({ ...c.mqtt, messageId: id }, { write: (x) => chunks.push(Buffer.from(x)) }, { protocolVersion: c.version });
      if (!a.equals(Buffer.concat(chunks))) throw new Error(`${c.id}: fan-out bytes differ for packet id ${id}`);
    }
  }
  return { moatBytes, mqttBytes, sameBytes: moatBytes.equals(mqttBytes) };
}

/** Plain objects with sorted keys (mqtt-packet builds some objects without a prototype). */
function canon(x) {
  if (Array.isArray(x)) return x.map(canon);
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon(x[k])]));
  }
  return x;
}

function one(list) {
  if (list.length !== 1) throw new Error(`expected one packet, got ${list.length}`);
  return list[0];
}

// ---------------------------------------------------------------------------------------------------
// Operations: each returns a function `run(n)` that does n operations and returns a checksum

let sink = 0;

function ops(c, bytes) {
  const { moat: moatPkt, mqtt: mqttPkt, version } = c;
  const mqttOpts = { protocolVersion: version };
  // Decoders live for the whole benchmark, as a connection's would. The packets are encoded by the
  // library under test; both encodings are known to decode to the same essentials (see check()).
  const moatDecoder = new PacketDecoder({ maxPacketSize: 1 << 20, protocolVersion: version });
  let moatAcc = 0;
  const sumMoat = c.sumMoat;
  const onMoat = (p) => { moatAcc += sumMoat(p); };
  const mqttParser = mqtt.parser({ protocolVersion: version });
  let mqttAcc = 0;
  const sumMqtt = c.sumMqtt;
  mqttParser.on('packet', (p) => { mqttAcc += sumMqtt(p); });
  mqttParser.on('error', (e) => { throw e; });
  const moatIn = bytes.moatBytes;
  const mqttIn = bytes.mqttBytes;
  const subs = c.fanout ?? 0;
  let nextId = 1;
  const fanPkt = { ...mqttPkt };
  const stub = { write: (x) => { mqttAcc += typeof x === 'string' ? Buffer.byteLength(x) : x.length; return true; } };
  return {
    // One message to `subs` subscribers, each with its own packet identifier. Moat builds the
    // PublishFanout per message, as the broker does; mqtt-packet writes each subscriber's packet as
    // chunks into a stream (as Aedes does), here a stub that only counts the bytes (strings by
    // Buffer.byteLength, cheaper than a socket's conversion: the stub favours mqtt-packet).
    'fan-out': {
      moat: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          const f = new PublishFanout({ topic: moatPkt.topic, payload: moatPkt.payload });
          for (let s = 0; s < subs; s++) {
            const chunks = f.encode({ version, qos: 1, packetId: nextId, retain: false });
            nextId = nextId === 65535 ? 1 : nextId + 1;
            for (let k = 0; k < chunks.length; k++) acc += chunks[k].length;
          }
        }
        return acc;
      },
      'mqtt-packet': (n) => {
        mqttAcc = 0;
        for (let i = 0; i < n; i++) {
          for (let s = 0; s < subs; s++) {
            fanPkt.messageId = nextId; // reused object: cheaper than the new packet per subscriber Aedes makes
            mqtt.writeToStream(fanPkt, stub, mqttOpts);
            nextId = nextId === 65535 ? 1 : nextId + 1;
          }
        }
        return mqttAcc;
      },
    },
    decode: {
      moat: (n) => {
        moatAcc = 0;
        for (let i = 0; i < n; i++) moatDecoder.write(moatIn, onMoat);
        return moatAcc;
      },
      'mqtt-packet': (n) => {
        mqttAcc = 0;
        for (let i = 0; i < n; i++) mqttParser.parse(mqttIn);
        return mqttAcc;
      },
    },
    encode: {
      moat: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += encodePacket(moatPkt, version).length;
        return acc;
      },
      'mqtt-packet': (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += mqtt.generate(mqttPkt, mqttOpts).length;
        return acc;
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Timing

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

/**
 * Runs `fn` in batches for about `ms` milliseconds of wall time. Returns ops per second of wall time
 * and ops per second of this process's CPU time (user + system, GC threads included): the second
 * leaves out the time that other processes on a shared machine took the core away.
 */
function timed(fn, batch, ms) {
  let count = 0;
  const cpu0 = process.cpuUsage();
  const start = now();
  const stop = start + ms;
  let t = start;
  do {
    sink ^= fn(batch);
    count += batch;
    t = now();
  } while (t < stop);
  const cpu = process.cpuUsage(cpu0);
  return { wall: (count * 1000) / (t - start), cpu: (count * 1e6) / (cpu.user + cpu.system) };
}

/** Warms `fn` up for `ms` and picks a batch that takes about half a millisecond. */
function warm(fn, ms) {
  let batch = 1;
  const stop = now() + ms;
  while (true) {
    const t0 = now();
    sink ^= fn(batch);
    const dt = now() - t0;
    if (dt < 0.5 && batch < 1 << 20) batch *= 2;
    if (now() >= stop) break;
  }
  return batch;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---------------------------------------------------------------------------------------------------
// Progress on stderr

const tty = process.stderr.isTTY === true;
let lastLen = 0;
function progress(text, done = false) {
  if (tty) {
    const pad = Math.max(0, lastLen - text.length);
    process.stderr.write(`\r${text}${' '.repeat(pad)}${done ? '\n' : ''}`);
    lastLen = done ? 0 : text.length;
  } else if (done) {
    process.stderr.write(`${text}\n`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

const libs = libFilter ? [libFilter] : ['moat', 'mqtt-packet'];
const cases = CASES.filter((c) => only === undefined || c.id.includes(only) || `${c.id}-decode`.includes(only)
  || `${c.id}-encode`.includes(only));
if (cases.length === 0) {
  process.stderr.write(`bench: no row matches --only=${only}; rows: ${CASES.map((c) => c.id).join(', ')}\n`);
  process.exit(2);
}

const checks = new Map();
for (const c of cases) {
  const r = check(c);
  checks.set(c.id, r);
  process.stderr.write(`check ${c.id}: ok (${r.moatBytes.length} B; encodings ${r.sameBytes ? 'byte-identical' : 'differ in property order only'})\n`);
}

const plan = [];
for (const c of cases) {
  for (const op of opsOf(c)) {
    if (only !== undefined && /-(decode|encode)$/.test(only) && !`${c.id}-${op}`.includes(only)) continue;
    plan.push({ c, op });
  }
}

// ---------------------------------------------------------------------------------------------------
// Other processes: how much of the machine they used while a row ran (Linux /proc/stat)

/** Busy and total jiffies of all cores, or undefined where /proc/stat is missing. */
function machineTicks() {
  try {
    const f = readFileSync('/proc/stat', 'latin1');
    const v = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1, 9).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Starts a meter; its stop() gives the share (0..1) of all cores that other processes (and steal) took. */
function foreignMeter() {
  const t0 = machineTicks();
  const own0 = process.cpuUsage();
  return () => {
    const t1 = machineTicks();
    if (t0 === undefined || t1 === undefined || t1.total === t0.total) return undefined;
    const own = process.cpuUsage(own0);
    const ownTicks = ((own.user + own.system) / 1e6) * TICKS_PER_SECOND;
    return Math.max(0, Math.min(1, (t1.busy - t0.busy - ownTicks) / (t1.total - t0.total)));
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until other processes use less than 10 % of the machine over 2 s, at most `limitS` seconds. */
async function waitQuiet(limitS, tag) {
  const stop = Date.now() + limitS * 1000;
  let last;
  while (Date.now() < stop) {
    const m = foreignMeter();
    await sleep(2000);
    last = m();
    if (last === undefined || last < 0.1) return last;
    progress(`${tag}: waiting for a quieter machine (others use ${Math.round(last * 100)} % of it)`);
  }
  return last;
}

const started = Date.now();
const commitAtStart = codecArg ? undefined : gitCommit(); // others may commit while this runs
const loadAtStart = loadavg().map((x) => +x.toFixed(2));
const CLOCKS = ['cpu', 'wall'];
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs.map(Math.round) });
const rows = [];
for (let k = 0; k < plan.length; k++) {
  const { c, op } = plan[k];
  const fns = ops(c, checks.get(c.id))[op];
  const tag = `[${k + 1}/${plan.length}] ${c.id} ${op}`;
  if (config.waitQuiet > 0) await waitQuiet(config.waitQuiet, tag);
  const meter = foreignMeter();
  progress(`${tag}: warm-up`);
  const batch = {};
  for (const lib of libs) batch[lib] = warm(fns[lib], config.warmupMs);
  const samples = { cpu: {}, wall: {} };
  for (const lib of libs) samples.cpu[lib] = [], samples.wall[lib] = [];
  for (let r = 0; r < config.rounds; r++) {
    progress(`${tag}: round ${r + 1}/${config.rounds}`);
    const order = r % 2 === 0 ? libs : [...libs].reverse();
    for (const lib of order) {
      const t = timed(fns[lib], batch[lib], config.roundMs);
      samples.cpu[lib].push(t.cpu);
      samples.wall[lib].push(t.wall);
    }
  }
  const foreign = meter();
  const row = { id: c.id, label: c.label, op, version: c.version, bytes: checks.get(c.id).moatBytes.length, clocks: {} };
  if (foreign !== undefined) row.otherLoad = +foreign.toFixed(3);
  for (const clock of CLOCKS) {
    const x = { libs: {} };
    for (const lib of libs) x.libs[lib] = stats(samples[clock][lib]);
    if (libs.length === 2) {
      x.ratio = x.libs.moat.median / x.libs['mqtt-packet'].median;
      // Each round's own ratio (both libraries ran back to back in it): its range shows how firm the ratio is.
      const paired = samples[clock].moat.map((m, i) => m / samples[clock]['mqtt-packet'][i]);
      x.roundRatios = { min: Math.min(...paired), median: median(paired), max: Math.max(...paired) };
    }
    row.clocks[clock] = x;
  }
  rows.push(row);
  const main = row.clocks[config.clock];
  const summary = libs.map((l) => `${l} ${fmtOps(main.libs[l].median)}`).join(', ');
  const busy = foreign !== undefined && foreign >= 0.1 ? `; others used ${Math.round(foreign * 100)} % of the machine` : '';
  progress(`${tag}: ${summary}${main.ratio ? ` (${main.ratio.toFixed(2)}x)` : ''}${busy}`, true);
}

function fmtOps(x) {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

/** HEAD, marked "+dirty" when src/codec has uncommitted changes (dist may then hold them). */
function gitCommit() {
  const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--', 'src/codec') === '' ? '' : '+dirty');
  } catch {
    return undefined;
  }
}

const GOAL = 2;
const report = {
  benchmark: 'codec',
  date: new Date().toISOString(),
  durationSeconds: Math.round((Date.now() - started) / 1000),
  method: {
    ...config,
    statistic: 'median over rounds of ops/s (per CPU second and per wall second); libraries interleaved per round, order alternating',
    goalRatio: GOAL,
  },
  environment: {
    node: process.version, v8: process.versions.v8, platform: `${platform()} ${release()} ${arch()}`,
    cpu: cpus()[0]?.model, cores: cpus().length,
    loadavg: { start: loadAtStart, end: loadavg().map((x) => +x.toFixed(2)) },
    mqttPacket: mqttPacketVersion, moatCommit: commitAtStart, codec: codecPath,
  },
  rows,
  sink,
};

function markdown() {
  const both = libs.length === 2;
  const other = config.clock === 'cpu' ? 'wall' : 'cpu';
  const head = both
    ? ['Packet', 'Op', 'Size', 'Moat ops/s', 'mqtt-packet ops/s', 'Moat / mqtt-packet', 'per round', `${other === 'wall' ? 'wall-clock' : 'CPU-time'} ratio`, 'others', `≥ ${GOAL}×`]
    : ['Packet', 'Op', 'Size', `${libs[0]} ops/s`, 'others'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) {
    const main = r.clocks[config.clock];
    const spread = (l) => {
      const x = main.libs[l];
      return `${fmtInt(x.median)} ±${Math.round((50 * (x.max - x.min)) / x.median)}%`;
    };
    const cells = [r.label, r.op, `${r.bytes} B`, ...libs.map(spread)];
    const others = r.otherLoad === undefined ? '?' : `${Math.round(r.otherLoad * 100)} %`;
    if (both) {
      cells.push(`**${main.ratio.toFixed(2)}×**`, `${main.roundRatios.min.toFixed(2)}–${main.roundRatios.max.toFixed(2)}`,
        `${r.clocks[other].ratio.toFixed(2)}×`, others, main.ratio >= GOAL ? 'yes' : '**no**');
    } else {
      cells.push(others);
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function fmtInt(x) {
  return Math.round(x).toLocaleString('en-US');
}

if (json === true) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  const env = report.environment;
  process.stdout.write(`## Codec benchmark\n\n${report.date}, Node ${env.node}, ${env.cores} × ${env.cpu}, mqtt-packet ${env.mqttPacket}`
    + `${env.moatCommit ? `, Moat ${env.moatCommit}` : `, Moat from ${codecPath}`}, load average ${env.loadavg.start[0]} → ${env.loadavg.end[0]}; ${config.rounds} rounds × ${config.roundMs} ms after ${config.warmupMs} ms warm-up, `
    + `median of the rounds' ops per second of ${config.clock === 'cpu' ? 'CPU time (user + system)' : 'wall-clock time'}; `
    + `± is half the min–max range over the rounds; "per round" is the lowest and highest ratio within one round; `
    + `"others" is the share of the machine that other processes took while the row ran.\n\n${markdown()}\n`);
  if (libs.length === 2) {
    const short = rows.filter((r) => r.clocks[config.clock].ratio < GOAL);
    process.stdout.write(short.length === 0
      ? `\nEvery row reaches the goal of ≥ ${GOAL}× mqtt-packet.\n`
      : `\nBelow the goal of ≥ ${GOAL}× mqtt-packet: ${short.map((r) => `${r.id} ${r.op} (${r.clocks[config.clock].ratio.toFixed(2)}×)`).join(', ')}.\n`);
  }
  if (typeof json === 'string') {
    writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: JSON written to ${json}\n`);
  }
}

// Moat's client vs MQTT.js against the same Mosquitto (127.0.0.1:1883) in the same run.
// Run from the repository root after `npx tsc -p tsconfig.test.json`: node bench/client.mjs [messages]
// Each scenario runs both libraries alternately, three rounds; the best round of each is reported.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { connect } from '../.build/src/client/index.js';

const URL = 'mqtt://127.0.0.1:1883';
const N = Number(process.argv[2] ?? 20000);
const PAYLOAD = Buffer.alloc(64, 1);
const run = randomBytes(3).toString('hex');

const libs = {
  moat: {
    // The queue also holds what waits for Mosquitto's Receive Maximum; MQTT.js buffers without a bound.
    open: () => connect(URL, { reconnect: false, queue: { maxMessages: N + 1 } }),
    sub: async (c, topic, onMsg) => { await c.subscribe(topic, { qos: 1 }); c.on('message', onMsg); },
    pub: (c, topic, qos) => c.publish(topic, PAYLOAD, { qos }),
    end: (c) => c.end(),
  },
  'mqtt.js': {
    open: () => mqtt.connectAsync(URL, { protocolVersion: 5, reconnectPeriod: 0 }),
    sub: async (c, topic, onMsg) => { await c.subscribeAsync(topic, { qos: 1 }); c.on('message', onMsg); },
    pub: (c, topic, qos) => c.publishAsync(topic, PAYLOAD, { qos }),
    end: (c) => c.endAsync(),
  },
};

/** Publishes N messages at `qos` with `pubLib`, received by `subLib`; msgs/s until the last arrives. */
async function scenario(pubLib, subLib, qos, label) {
  const topic = `moat-bench/${run}/${label}/${Math.random().toString(36).slice(2)}`;
  const sub = subLib ? await libs[subLib].open() : undefined;
  const pub = await libs[pubLib].open();
  let got = 0;
  let done;
  const all = new Promise((r) => { done = r; });
  if (sub) await libs[subLib].sub(sub, topic, () => { if (++got === N) done(); });
  else done();
  const t0 = performance.now();
  const acks = [];
  for (let i = 0; i < N; i++) {
    acks.push(libs[pubLib].pub(pub, topic, qos));
    // Yield now and then so neither library is measured filling memory faster than the socket drains.
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(acks);
  const timeout = new Promise((r) => setTimeout(r, 20000, 'timeout'));
  const res = await Promise.race([all, timeout]);
  const ms = performance.now() - t0;
  await Promise.all([sub && libs[subLib].end(sub), libs[pubLib].end(pub)]);
  return res === 'timeout' ? { rate: 0, note: `timeout (${got}/${N})` } : { rate: Math.round(N / (ms / 1000)) };
}

const scenarios = [
  ['QoS 0 publish → subscribe (same library both ends)', (lib) => scenario(lib, lib, 0, 'q0')],
  // No subscriber: Mosquitto drops QoS 1 messages beyond a slow subscriber's max_queued_messages.
  ['QoS 1 publish, until every PUBACK (no subscriber)', (lib) => scenario(lib, undefined, 1, 'q1')],
  ['receive: Moat publishes QoS 0, library under test subscribes', (lib) => scenario('moat', lib, 0, 'rx')],
];

console.log(`${N} messages of ${PAYLOAD.length} bytes, Mosquitto at ${URL}; msgs/s, best of 3`);
for (const [name, fn] of scenarios) {
  const best = { moat: 0, 'mqtt.js': 0 };
  for (let round = 0; round < 3; round++) {
    for (const lib of Object.keys(libs)) {
      const r = await fn(lib);
      if (r.note) console.log(`  ${lib}: ${r.note}`);
      best[lib] = Math.max(best[lib], r.rate);
    }
  }
  console.log(`${name}: moat ${best.moat}, mqtt.js ${best['mqtt.js']}, ratio ${(best.moat / best['mqtt.js']).toFixed(2)}×`);
}
process.exit(0);

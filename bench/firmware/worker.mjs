/**
 * A process of simulated devices for bench/firmware.mjs (forked with an IPC channel). Commands:
 *   {cmd:'devices', dist, url, ca, trust, product, ids, stateRoot}  one TLS client (CA-verified,
 *       persistent session) and one device agent (moat/firmware startAgent, install hook a no-op) per
 *       id; answers {cmd:'ready'} once every agent runs
 *   {cmd:'bulk-sub', dist, url, ca, topic, count}  one TLS client subscribed (QoS 1) to `topic`;
 *       answers {cmd:'subscribed'}, then {cmd:'bulk-done', bytes} when `count` messages arrived
 *   {cmd:'stop'}  closes the agents and clients, then exits
 * The agents' statuses reach the benchmark over MQTT (watchCampaign), not over IPC.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const load = (dist, path) => import(pathToFileURL(join(dist, path)).href);
const agents = [];
const clients = [];

async function devices(m) {
  const { connect } = await load(m.dist, 'client/index.js');
  const { startAgent, parseTrustList } = await load(m.dist, 'firmware/index.js');
  const trust = parseTrustList(m.trust);
  // Connected a few at a time: 100 TLS handshakes at once only measure the accept queue.
  for (let at = 0; at < m.ids.length; at += 10) {
    await Promise.all(m.ids.slice(at, at + 10).map(async (id) => {
      const client = await connect(m.url, {
        ca: m.ca, clientId: `fw-${m.product}-${id}`, clean: false, sessionExpiry: 600, reconnect: false, keepAlive: 120,
      });
      clients.push(client);
      agents.push(await startAgent({
        client, product: m.product, deviceId: id, stateDir: join(m.stateRoot, id), trust, runningVersion: '1.0.0',
        install: async () => {},
      }));
    }));
  }
  process.send({ cmd: 'ready', n: agents.length });
}

async function bulkSub(m) {
  const { connect } = await load(m.dist, 'client/index.js');
  const client = await connect(m.url, { ca: m.ca, reconnect: false, keepAlive: 120 });
  clients.push(client);
  let n = 0;
  let bytes = 0;
  client.on('message', (msg) => {
    if (msg.topic !== m.topic) return;
    bytes += msg.payload.length;
    if (++n === m.count) process.send({ cmd: 'bulk-done', bytes });
  });
  const sub = await client.subscribe(m.topic, { qos: 1, bufferSize: 1 });
  sub.close(); // the 'message' event counts; no buffer
  process.send({ cmd: 'subscribed' });
}

async function stop() {
  await Promise.all(agents.map((a) => a.close().catch(() => {})));
  await Promise.all(clients.map((c) => c.end({ timeout: 1000 }).catch(() => {})));
  process.exit(0);
}

process.on('message', (m) => {
  const run = m.cmd === 'devices' ? devices : m.cmd === 'bulk-sub' ? bulkSub : m.cmd === 'stop' ? stop : undefined;
  if (!run) return;
  run(m).catch((err) => {
    process.send({ cmd: 'error', message: String(err?.stack ?? err) });
  });
});
process.on('disconnect', () => process.exit(0)); // the benchmark is gone: never linger

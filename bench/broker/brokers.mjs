/**
 * The three brokers under test, each started as its own process with a plain TCP and a TLS 1.3
 * listener on 127.0.0.1, and stopped (SIGTERM, then SIGKILL) after each measurement.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startUntilLine } from '../lib/start.mjs';
import { freePort, spawnTracked, stopChild, waitForPort } from './proc.mjs';

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** Shared limits: the Mosquitto settings, applied to Moat as well so queues are comparable. */
export const LIMITS = { maxInflight: 64, maxQueuedMessages: 10000 };

/**
 * ctx: { root, moatRoot?, tmp, moatDataDir, pki: { certPath, keyPath, ca }, moatNodeArgs: string[], moatLogLevel,
 *        moatLimits?, moatArgs?: string[] (more `moat broker` flags, e.g. --store memory),
 *        mosquittoPersistence?: boolean (persistence true, its file in the config's temp dir) }
 * Returns { name, pid, ports: { tcp, tls }, dir?, alive(), exited, tail(), stop() } (dir: Mosquitto's temp dir).
 */
export async function startBroker(name, ctx) {
  if (name === 'moat') return startMoat(ctx);
  if (name === 'aedes') return startAedes(ctx);
  if (name === 'mosquitto') return startMosquitto(ctx);
  throw new Error(`unknown broker ${name}`);
}

function wrap(name, handle, ports) {
  handle.child.stdout.on('data', handle.keep);
  let dead = false;
  handle.exited.then(() => {
    dead = true;
  });
  return {
    name, pid: handle.child.pid, child: handle.child, ports, exited: handle.exited, tail: handle.tail,
    alive: () => !dead, stop: () => stopChild(handle),
  };
}

async function startMoat(ctx) {
  // moatRoot: where the dist/ under test lives (the benchmark runs a snapshot of the build).
  const main = join(ctx.moatRoot ?? ctx.root, 'dist', 'cli', 'main.js');
  const args = [
    ...ctx.moatNodeArgs, main, 'broker',
    '--listen', 'mqtt://127.0.0.1:0', '--listen', 'mqtts://127.0.0.1:0',
    '--data-dir', ctx.moatDataDir, '--log-level', ctx.moatLogLevel,
    ...Object.entries(ctx.moatLimits ?? LIMITS).flatMap(([k, v]) => ['--limit', `${k}=${v}`]),
    ...(ctx.moatArgs ?? []),
  ];
  const { handle, match: m } = await startUntilLine(process.execPath, args, { cwd: ctx.tmp }, {
    ready: /listening on mqtt:\/\/127\.0\.0\.1:(\d+)[\s\S]*listening on mqtts:\/\/127\.0\.0\.1:(\d+)/, timeoutMs: 15000, what: 'moat',
  });
  return wrap('moat', handle, { tcp: Number(m[1]), tls: Number(m[2]) });
}

async function startAedes(ctx) {
  const script = join(ctx.root, 'bench', 'broker', 'aedes-server.mjs');
  const { handle, match: m } = await startUntilLine(process.execPath, [script, ctx.pki.certPath, ctx.pki.keyPath], { cwd: ctx.tmp },
    { ready: /\{"tcp":(\d+),"tls":(\d+)\}/, timeoutMs: 15000, what: 'aedes' });
  return wrap('aedes', handle, { tcp: Number(m[1]), tls: Number(m[2]) });
}

let confCounter = 0;

async function startMosquitto(ctx) {
  // A port from the OS may be taken again before Mosquitto binds it: a few attempts.
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const tcp = await freePort();
    let tls = await freePort();
    while (tls === tcp) tls = await freePort();
    const dir = join(ctx.tmp, `mosquitto-${++confCounter}`);
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'mosquitto.conf');
    const lines = [
      // As root Mosquitto would switch to the mosquitto user, which cannot read the 0600 dev key.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'per_listener_settings false',
      'allow_anonymous true',
      'set_tcp_nodelay true',
      'max_inflight_messages 64',
      'max_queued_messages 10000',
      // With persistence: the default autosave_interval (1800 s) spelled out: the in-memory state is
      // written to mosquitto.db every 30 min and at shutdown, never fsync'd per message.
      ...(ctx.mosquittoPersistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1800'] : ['persistence false']),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${tcp} 127.0.0.1`,
      `listener ${tls} 127.0.0.1`,
      `certfile ${ctx.pki.certPath}`,
      `keyfile ${ctx.pki.keyPath}`,
      'tls_version tlsv1.3',
      '',
    ];
    writeFileSync(conf, lines.join('\n'));
    const handle = spawnTracked(MOSQUITTO, ['-c', conf], { cwd: dir });
    let dead = false;
    handle.exited.then(() => {
      dead = true;
    });
    try {
      await waitForPort(tcp, 5000, () => !dead);
      await waitForPort(tls, 5000, () => !dead);
      return { ...wrap('mosquitto', handle, { tcp, tls }), dir };
    } catch (err) {
      lastErr = new Error(`mosquitto: ${err.message}: ${handle.tail()}`);
      await stopChild(handle, 500);
    }
  }
  throw lastErr;
}

/** Versions for the report. */
export function versions(root) {
  const read = (p) => {
    try {
      return JSON.parse(readFileSync(p, 'utf8')).version;
    } catch {
      return 'unknown';
    }
  };
  let mosquitto = 'unknown';
  let out = '';
  try {
    out = execFileSync(MOSQUITTO, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // `mosquitto -h` exits non-zero; the version is on the first line of its output.
    out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  const m = /mosquitto version (\S+)/.exec(out);
  if (m) mosquitto = m[1];
  return {
    node: process.version,
    moat: read(join(root, 'package.json')),
    aedes: read(join(root, 'bench', 'node_modules', 'aedes', 'package.json')),
    mosquitto,
  };
}

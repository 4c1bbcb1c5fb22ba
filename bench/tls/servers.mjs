/**
 * The two servers under test, each a process of its own with the CPU probe preloaded: Moat (the real
 * `moat broker` CLI with a configuration file for the row's listener, `--store memory`) and the bare
 * Node TLS server (bare-server.mjs). Both listen on 127.0.0.1 port 0 and answer {cmd:'cpu'} over IPC.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stopChild } from '../broker/proc.mjs';
import { startUntilLine } from '../lib/start.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const PROBE = pathToFileURL(join(here, 'probe.mjs')).href;

let seq = 0;

function wrap(name, handle, ports) {
  const pending = new Map();
  let n = 0;
  handle.child.on('message', (m) => {
    const p = pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      p(m);
    }
  });
  handle.child.stdout.on('data', handle.keep);
  return {
    name, pid: handle.child.pid, ports, tail: handle.tail, exited: handle.exited,
    alive: () => handle.child.exitCode === null && handle.child.signalCode === null,
    /** {user, system} in µs, read inside the server. */
    cpu: () => new Promise((resolve, reject) => {
      const id = ++n;
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name}: no answer to the CPU probe: ${handle.tail()}`));
      }, 5000);
      pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      handle.child.send({ cmd: 'cpu', id });
    }),
    stop: (graceMs) => stopChild(handle, graceMs),
  };
}

/**
 * Moat: `moat broker -c FILE --store memory --data-dir DIR --log-level L` with one mqtts:// listener
 * configured as the row says (listener keys of docs/configuration.md) and, for the memory context, a
 * plain mqtt:// one.
 */
export async function startMoat(ctx, listener, extra = {}) {
  const id = ++seq;
  const dataDir = join(ctx.tmp, `moat-data-${id}`);
  const file = join(ctx.tmp, `moat-${id}.yaml`);
  const config = {
    listeners: [{ url: 'mqtts://127.0.0.1:0', ...listener }, ...(extra.tcp ? ['mqtt://127.0.0.1:0'] : [])],
    ...(extra.limits ? { limits: extra.limits } : {}),
  };
  // YAML is a superset of JSON.
  writeFileSync(file, JSON.stringify(config, null, 2));
  const main = join(ctx.dist, 'cli', 'main.js');
  const args = [...ctx.moatNodeArgs, '--import', PROBE, main, 'broker', '-c', file, '--store', 'memory',
    '--data-dir', dataDir, '--log-level', ctx.moatLogLevel];
  const { handle, match: m } = await startUntilLine(process.execPath, args, { cwd: ctx.tmp, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }, {
    ready: extra.tcp
      ? /listening on mqtts:\/\/127\.0\.0\.1:(\d+)[\s\S]*listening on mqtt:\/\/127\.0\.0\.1:(\d+)/
      : /listening on mqtts:\/\/127\.0\.0\.1:(\d+)/,
    timeoutMs: 20000, what: 'moat',
  });
  return wrap('moat', handle, { tls: Number(m[1]), tcp: m[2] ? Number(m[2]) : undefined });
}

/** The bare Node TLS server with the row's options (see bare-server.mjs). */
export async function startBare(ctx, spec) {
  const script = join(here, 'bare-server.mjs');
  const { handle, match: m } = await startUntilLine(process.execPath,
    [...(ctx.bareNodeArgs ?? []), '--import', PROBE, script, JSON.stringify({ dist: ctx.dist, ...spec })],
    { cwd: ctx.tmp, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }, { ready: /\{"port":(\d+)\}/, timeoutMs: 20000, what: 'bare' });
  return wrap('bare', handle, { tls: Number(m[1]) });
}

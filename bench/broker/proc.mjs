/**
 * Child processes of the broker benchmark: every one is tracked so that it is killed (by its pid) when
 * the benchmark ends, normally or not. Also /proc readings (VmRSS, CPU time) and port helpers.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const children = new Set();

/** SIGKILL whatever is still running; synchronous, so it also works from process.on('exit'). */
export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping the brokers\n`);
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Spawns a tracked child. `exited` resolves with { code, signal } when it ends; `tail()` is the last
 * few KB of its stderr (and stdout), for error reports.
 */
export function spawnTracked(cmd, args, opts = {}) {
  hookExit();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  let tail = '';
  const keep = (chunk) => {
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  };
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      children.delete(child);
      tail += `\nspawn error: ${err.message}`;
      resolve({ code: -1, signal: null, error: err });
    });
  });
  return { child, exited, tail: () => tail, keep };
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it is gone. */
export async function stopChild(handle, graceMs = 3000) {
  const { child, exited } = handle;
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  try {
    child.kill('SIGTERM');
  } catch {
    // gone
  }
  const t = setTimeout(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }, graceMs);
  const r = await exited;
  clearTimeout(t);
  return r;
}

/** Resident set size of a process in bytes (VmRSS from /proc/PID/status). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Bytes a process caused to be written to storage (write_bytes of /proc/PID/io: page-cache writes
 * counted when dirtied, so also what a later fsync flushes); undefined where /proc/PID/io is unreadable.
 */
export function ioWriteBytes(pid) {
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// USER_HZ: 100 on every Linux this runs on; `getconf CLK_TCK` would say otherwise.
const CLK_TCK = 100;

/** User + system CPU time of a process (all its threads), in milliseconds. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** A port free on 127.0.0.1 right now (the OS picks it; a tiny race remains until the broker binds). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after `timeoutMs`. */
export async function waitForPort(port, timeoutMs = 5000, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process exited before listening on ${port}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

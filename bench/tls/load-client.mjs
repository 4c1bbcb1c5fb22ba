/**
 * The parent's side of load.mjs: fork it, send a command, wait for the answer with the same id.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopChild } from '../broker/proc.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));

export async function startLoad() {
  const handle = spawnTracked(process.execPath, [join(here, 'load.mjs')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  handle.child.stdout.on('data', handle.keep);
  const pending = new Map();
  let n = 0;
  let ready;
  const readyP = new Promise((r) => {
    ready = r;
  });
  handle.child.on('message', (m) => {
    if (m.ready) return ready();
    const p = pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      p(m);
    }
  });
  await Promise.race([readyP, handle.exited.then(() => {
    throw new Error(`load generator exited: ${handle.tail()}`);
  })]);
  const ask = (cmd, body = {}, timeoutMs = 120000) => new Promise((resolve, reject) => {
    const id = ++n;
    const t = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`load generator: no answer to ${cmd}: ${handle.tail()}`));
    }, timeoutMs);
    pending.set(id, (m) => {
      clearTimeout(t);
      if (m.error) reject(new Error(`load generator: ${m.error}`));
      else resolve(m);
    });
    handle.child.send({ cmd, id, ...body });
  });
  return { pid: handle.child.pid, ask, stop: () => stopChild(handle, 1000) };
}

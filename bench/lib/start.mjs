/**
 * Starting a server process for a measurement: spawned as a tracked child (bench/broker/proc.mjs) and
 * ready once its stdout prints the line that names its ports.
 */
import { spawnTracked, stopChild } from '../broker/proc.mjs';

/** Resolves with the match of `re` on the child's stdout; rejects if it exits or `timeoutMs` passes first. */
export function waitForLine(handle, re, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk.toString('utf8');
      const m = re.exec(out);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within ${timeoutMs} ms; output: ${out.slice(-500)} ${handle.tail()}`));
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      handle.child.stdout.off('data', onData);
    }
    handle.child.stdout.on('data', onData);
    handle.exited.then(({ code, signal }) => {
      cleanup();
      reject(new Error(`${what} exited at start (code ${code}, signal ${signal}): ${handle.tail()} ${out.slice(-500)}`));
    });
  });
}

/**
 * spawnTracked(cmd, args, opts), then waitForLine(ready, timeoutMs, what): resolves with { handle, match }.
 * A child that never gets ready is stopped before the error is thrown.
 */
export async function startUntilLine(cmd, args, opts, { ready, timeoutMs, what }) {
  const handle = spawnTracked(cmd, args, opts);
  try {
    return { handle, match: await waitForLine(handle, ready, timeoutMs, what) };
  } catch (err) {
    await stopChild(handle, 500);
    throw err;
  }
}

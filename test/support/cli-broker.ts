/** `moat broker` of this build as a child process: for tests that kill it and start it again. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliBroker {
  child: ChildProcess;
  /** The port of its first mqtt:// listener. */
  port: number;
}

/** Starts `moat broker ARGS` (which must include an mqtt:// listener) and resolves once it listens. */
export async function startCliBroker(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliBroker> {
  const child = spawn(process.execPath, [CLI_MAIN, 'broker', ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const port = await new Promise<number>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`broker did not start: ${out} ${err}`)), options.timeoutMs ?? 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on mqtt:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`broker exited ${code}: ${err}`));
    });
  });
  return { child, port };
}

/** SIGKILL: no shutdown, no flush, as a crash. */
export async function killCliBroker(b: CliBroker): Promise<void> {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return;
  const gone = new Promise((r) => b.child.once('exit', r));
  b.child.kill('SIGKILL');
  await gone;
}

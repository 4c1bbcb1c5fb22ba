/** `moat broker` of this build as a child process: for tests of the CLI and tests that kill it and start it again. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The end of the banner: the last line of its "Subscribe to everything" hint ends with -v. */
const BANNER_END = /Subscribe to everything.*\n.*-v\n/;

export interface CliProcess {
  child: ChildProcess;
  /** Scheme (mqtt, mqtts, ws, …) → port of its first listener, from the "listening on" lines. */
  ports: Record<string, number>;
  /** All it printed so far: both keep growing after the start. */
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  /** Its working directory (default: this process's). */
  cwd?: string;
  /** Its environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Starts `moat broker ARGS` in `cwd` and resolves once its stdout matches `ready` (default: the whole
 * banner). On a timeout the process is killed; if it exits first, the promise rejects with its stderr.
 */
export async function startCli(args: string[], options: StartOptions & { ready?: RegExp } = {}): Promise<CliProcess> {
  const child = spawn(process.execPath, [CLI_MAIN, 'broker', ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: CliProcess = { child, ports: {}, stdout: '', stderr: '' };
  const ready = options.ready ?? BANNER_END;
  child.stderr!.on('data', (d: Buffer) => { s.stderr += d.toString(); });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`broker did not start: ${s.stdout} ${s.stderr}`));
    }, options.timeoutMs ?? 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      s.stdout += d.toString();
      if (ready.test(s.stdout)) {
        for (const m of s.stdout.matchAll(/listening on (\w+):\/\/[^\s]+:(\d+)/g)) s.ports[m[1]!] ??= Number(m[2]);
        clearTimeout(timer);
        ok();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`broker exited ${code}: ${s.stderr}`));
    });
  });
  return s;
}

export interface CliBroker {
  child: ChildProcess;
  /** The port of its first mqtt:// listener. */
  port: number;
}

/** Starts `moat broker ARGS` (which must include an mqtt:// listener) and resolves once it listens. */
export async function startCliBroker(args: string[], options: StartOptions = {}): Promise<CliBroker> {
  const s = await startCli(args, { ...options, ready: /listening on mqtt:\/\/[^\s]+:\d+/, timeoutMs: options.timeoutMs ?? 20_000 });
  return { child: s.child, port: s.ports['mqtt']! };
}

/** SIGKILL: no shutdown, no flush, as a crash. */
export async function killCliBroker(b: CliBroker): Promise<void> {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return;
  const gone = new Promise((r) => b.child.once('exit', r));
  b.child.kill('SIGKILL');
  await gone;
}

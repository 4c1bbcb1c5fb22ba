/**
 * SSH console test harness: a live broker on port 0 with the console in front of it, real key pairs
 * from ssh-keygen in a temp dir, and two clients — the system OpenSSH `ssh` and ssh2's Client.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { BrokerConsole } from '../../src/ssh/broker-adapter.js';
import { startSshConsole, type RunningSshConsole, type SshConsoleOptions } from '../../src/ssh/server.js';
import type { Logger } from '../../src/broker/logger.js';

const run = promisify(execFile);

export interface Keys {
  admin: string;
  viewer: string;
  stranger: string;
}

export interface Harness {
  dir: string;
  tb: TestBroker;
  consolePort: BrokerConsole;
  ssh: RunningSshConsole;
  port: number;
  keys: Keys;
  logLines: Array<{ level: string; obj: object; msg?: string }>;
  auditFile: string;
  authorizedKeysFile: string;
  reloads: number;
  close(): Promise<void>;
}

export async function keygen(dir: string, name: string, type = 'ed25519'): Promise<string> {
  const path = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', path]);
  return path;
}

export function recordingLogger(lines: Harness['logLines']): Logger {
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, ...(msg !== undefined ? { msg } : {}) });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export async function startHarness(extra: Partial<SshConsoleOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-'));
  const keys: Keys = {
    admin: await keygen(dir, 'admin'),
    viewer: await keygen(dir, 'viewer', 'ecdsa'),
    stranger: await keygen(dir, 'stranger'),
  };
  const authorizedKeysFile = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeysFile, [
    '# test keys',
    `moat-role=admin ${(await readFile(`${keys.admin}.pub`, 'utf8')).trim()}`,
    `moat-role=viewer ${(await readFile(`${keys.viewer}.pub`, 'utf8')).trim()}`,
    '',
  ].join('\n'));
  const tb = await startBroker();
  const h = { reloads: 0 } as Harness;
  const consolePort = new BrokerConsole(tb.broker, {
    listeners: () => [tb.url], store: 'memory',
    reload: async () => {
      h.reloads++;
      await h.ssh.reload();
      return ['ssh authorized keys'];
    },
  });
  const logLines: Harness['logLines'] = [];
  const auditFile = join(dir, 'ssh', 'audit.log');
  const ssh = await startSshConsole({
    host: '127.0.0.1', port: 0, hostKeyDir: join(dir, 'ssh'), authorizedKeysFile, auditFile,
    console: consolePort, log: recordingLogger(logLines), ...extra,
  });
  return Object.assign(h, {
    dir, tb, consolePort, ssh, port: ssh.address.port, keys, logLines, auditFile, authorizedKeysFile,
    async close() {
      await ssh.close();
      consolePort.close();
      await tb.close();
    },
  });
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The system OpenSSH client, batch mode, no host key checking (the key is fresh every run). */
export function openssh(port: number, key: string, command: string[], options: string[] = [], input?: string): Promise<SshResult> {
  // ssh keeps the first value it sees for an option: the caller's come first.
  const args = [
    ...options, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-F', '/dev/null',
    '-i', key, '-p', String(port), 'operator@127.0.0.1', ...command,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** An ssh2 client, connected and authenticated (or the error it got). */
export async function ssh2Connect(port: number, config: Partial<ssh2.ConnectConfig> = {}): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'operator', readyTimeout: 20_000, ...config });
  });
  return client;
}

/** Runs one command over an ssh2 client; resolves with its output and exit status. */
export function ssh2Exec(client: ssh2.Client, command: string): Promise<{ code: number | undefined; stdout: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let code: number | undefined;
      stream.on('data', (d: Buffer) => { stdout += d.toString(); });
      stream.on('exit', (c: number) => { code = c; });
      stream.on('close', () => resolve({ code, stdout }));
    });
  });
}

/** Polls `fn` until it returns true (fails after `ms`). */
export async function until(fn: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

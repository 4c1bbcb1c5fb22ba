/**
 * `moat broker --ssh HOST:PORT` as a real process: the banner shows the console and its host key
 * fingerprint, the key file made 0600, commands work against the broker's own listeners, SIGHUP reloads
 * the authorized keys, and a missing key file stops the start.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keygen, openssh, until } from './helpers.js';

// The compiled CLI next to this compiled test (…/test/ssh/cli.test.js → …/src/cli/main.js).
const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function startCli(args: string[], cwd: string): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN, 'broker', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

test('moat broker --ssh: banner with host key fingerprint, commands, SIGHUP reloads the keys', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-cli-'));
  const admin = await keygen(dir, 'admin');
  const viewer = await keygen(dir, 'viewer');
  mkdirSync(join(dir, 'data', 'ssh'), { recursive: true });
  const keys = join(dir, 'data', 'ssh', 'authorized_keys');
  writeFileSync(keys, `moat-role=admin ${readFileSync(`${admin}.pub`, 'utf8')}`);
  const b = startCli(['--listen', 'mqtt://127.0.0.1:0', '--store', 'memory', '--data-dir', 'data', '--ssh', '127.0.0.1:0'], dir);
  await until(() => /host key ssh-ed25519 SHA256:\S+\n/.test(b.out()), 15_000, `banner: ${b.out()} ${b.err()}`);
  const port = Number(/SSH console on 127\.0\.0\.1:(\d+) \(data\/ssh\/authorized_keys: 1 key\):\n  ssh -p \d+ admin@127\.0\.0\.1 status\n/.exec(b.out())![1]);
  const printed = /host key ssh-ed25519 (SHA256:\S+)/.exec(b.out())![1];
  const hostKey = join(dir, 'data', 'ssh', 'host_ed25519_key');
  assert.equal(statSync(hostKey).mode & 0o777, 0o600);
  const r = await openssh(port, admin, ['status', '--json'], ['-v']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`Server host key: ssh-ed25519 ${printed}`), 'the fingerprint the client sees is the printed one');
  const status = JSON.parse(r.stdout) as { listeners: string[]; store: string };
  assert.match(status.listeners[0]!, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(status.store, 'memory');
  assert.equal((await openssh(port, viewer, ['status'])).code, 255);
  writeFileSync(keys, `moat-role=admin ${readFileSync(`${admin}.pub`, 'utf8')}moat-role=viewer ${readFileSync(`${viewer}.pub`, 'utf8')}`);
  b.child.kill('SIGHUP');
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = (await openssh(port, viewer, ['status'])).code === 0;
    if (!ok) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(ok, 'the viewer key works after SIGHUP');
  b.child.kill('SIGTERM');
  assert.equal(await b.exited, 0);
});

test('moat broker --ssh without an authorized keys file does not start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-cli-'));
  const b = startCli(['--listen', 'mqtt://127.0.0.1:0', '--store', 'memory', '--data-dir', 'data', '--ssh', '127.0.0.1:0'], dir);
  assert.notEqual(await b.exited, 0);
  assert.match(b.err(), /MOAT_ERR_SSH_AUTHORIZED_KEYS/);
});

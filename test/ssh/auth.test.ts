/**
 * Who gets in: the host key made on first use (0600, fingerprint as ssh-keygen prints it), the
 * authorized keys format with a role per key, the login backoff, passwords (scrypt) and what the log
 * says about failures (never a password).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isMoatError } from '../../src/codec/errors.js';
import { LoginBackoff } from '../../src/security/login-backoff.js';
import { hashPassword } from '../../src/security/password-file.js';
import { parseAuthorizedKeys } from '../../src/ssh/authorized-keys.js';
import { loadHostKeys } from '../../src/ssh/host-key.js';
import { keygen, openssh, ssh2Connect, ssh2Exec, startHarness } from './helpers.js';

const run = promisify(execFile);

test('the Ed25519 host key is generated on first use (folder 0700, key 0600), reused after, fingerprint as ssh-keygen -l', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'moat-ssh-hk-')), 'ssh');
  const [first] = await loadHostKeys(dir);
  assert.equal(first!.type, 'ssh-ed25519');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(first!.path).mode & 0o777, 0o600);
  const { stdout } = await run('ssh-keygen', ['-l', '-f', first!.path]);
  assert.equal(stdout.split(' ')[1], first!.fingerprint);
  const [again] = await loadHostKeys(dir);
  assert.equal(again!.fingerprint, first!.fingerprint);
  writeFileSync(first!.path, 'not a key');
  await assert.rejects(loadHostKeys(dir), (e: unknown) => isMoatError(e, 'MOAT_ERR_SSH_HOST_KEY'));
});

test('authorized keys: moat-role option per key, viewer by default, other options and comments kept apart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-ak-'));
  const a = (await readFile(`${await keygen(dir, 'a')}.pub`, 'utf8')).trim();
  const b = (await readFile(`${await keygen(dir, 'b', 'ecdsa')}.pub`, 'utf8')).trim();
  const c = (await readFile(`${await keygen(dir, 'c')}.pub`, 'utf8')).trim();
  const keys = parseAuthorizedKeys([
    '# comment', '',
    `moat-role=admin ${a}`,
    `from="10.0.0.0/8,192.168.0.0/16",moat-role="viewer" ${b}`,
    c,
  ].join('\n'));
  assert.deepEqual(keys.map((k) => [k.role, k.type, k.comment, k.line]), [
    ['admin', 'ssh-ed25519', 'a@test', 3], ['viewer', 'ecdsa-sha2-nistp256', 'b@test', 4], ['viewer', 'ssh-ed25519', 'c@test', 5],
  ]);
  assert.match(keys[0]!.fingerprint, /^SHA256:/);
  for (const bad of [`moat-role=root ${a}`, 'ssh-ed25519', 'ssh-ed25519 !!!notbase64', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP', 'no key here']) {
    assert.throws(() => parseAuthorizedKeys(bad), (e: unknown) => isMoatError(e, 'MOAT_ERR_SSH_AUTHORIZED_KEYS'), bad);
  }
});

test('failed logins are rate-limited per address: after them even a good key waits; logged without secrets', async () => {
  const backoff = new LoginBackoff(undefined, { freeFailures: 2, baseMs: 60_000 });
  const h = await startHarness({ backoff });
  try {
    assert.equal((await openssh(h.port, h.keys.stranger, ['status'])).code, 255);
    assert.equal((await openssh(h.port, h.keys.stranger, ['status'])).code, 255);
    const r = await openssh(h.port, h.keys.admin, ['status']);
    assert.equal(r.code, 255, 'throttled');
    assert.ok(h.logLines.some((l) => l.msg === 'ssh login throttled' && (l.obj as { remote: string }).remote === '127.0.0.1'));
    assert.ok(backoff.check('127.0.0.1') > 0);
  } finally {
    await h.close();
  }
});

test('passwords (scrypt file) when configured: right one in with the password role, wrong one refused and never logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-ssh-pw-'));
  const passwordFile = join(dir, 'passwd');
  writeFileSync(passwordFile, `ops:${await hashPassword('correct horse', { N: 1024, r: 8, p: 1 })}\n`, { mode: 0o600 });
  const h = await startHarness({ passwordFile, passwordRole: 'viewer' });
  try {
    const client = await ssh2Connect(h.port, { username: 'ops', password: 'correct horse' });
    const r = await ssh2Exec(client, 'kick anyone');
    assert.equal(r.code, 126, 'password users have the configured role (viewer)');
    assert.equal((await ssh2Exec(client, 'status')).code, 0);
    client.end();
    await assert.rejects(ssh2Connect(h.port, { username: 'ops', password: 'wrong battery' }), /authentication methods failed/);
    await assert.rejects(ssh2Connect(h.port, { username: 'nobody', password: 'wrong battery' }), /authentication methods failed/);
    const refused = h.logLines.filter((l) => l.msg === 'ssh login refused');
    assert.equal(refused.length, 2);
    const everything = JSON.stringify(h.logLines);
    assert.ok(!everything.includes('battery') && !everything.includes('horse'), 'no password in the log');
  } finally {
    await h.close();
  }
});

test('without a password file, password logins are not offered', async () => {
  const h = await startHarness();
  try {
    await assert.rejects(ssh2Connect(h.port, { username: 'ops', password: 'x' }), /authentication methods failed/);
    const r = await openssh(h.port, h.keys.stranger, ['status'], ['-o', 'PreferredAuthentications=password,publickey', '-v']);
    assert.match(r.stderr, /Authentications that can continue: publickey\r?\n/);
  } finally {
    await h.close();
  }
});

test('a connection that does not log in within the grace time is closed; so is one with too many failures', async () => {
  const h = await startHarness({ loginGraceMs: 300, maxAuthTries: 2 });
  try {
    const socket = connect(h.port, '127.0.0.1');
    let banner = '';
    socket.on('data', (d: Buffer) => { banner += d.toString('latin1'); });
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    assert.match(banner, /^SSH-2\.0-moat-console/);
    assert.ok(h.logLines.some((l) => l.msg === 'ssh connection closed: not logged in in time'));
    // Keys are tried in order: two unknown ones, then the admin's, which comes too late.
    const x1 = await keygen(h.dir, 'x1');
    const x2 = await keygen(h.dir, 'x2');
    const r = await openssh(h.port, h.keys.stranger, ['status'], ['-i', x1, '-i', x2, '-i', h.keys.admin]);
    assert.equal(r.code, 255, 'the admin key, third, is never tried');
    assert.equal((await openssh(h.port, h.keys.admin, ['status'])).code, 0, 'the admin key alone works');
    assert.ok(h.logLines.some((l) => l.msg === 'ssh connection closed: too many failed logins'));
  } finally {
    await h.close();
  }
});

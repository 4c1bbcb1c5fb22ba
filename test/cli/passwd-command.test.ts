/**
 * `moat passwd` as a real process (the built CLI): the password from stdin or from a real terminal
 * (a pty made by `script`), never from argv; the file is 0600, other lines are kept, the password
 * never appears in any output, and the result verifies with the password-file module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PasswordFile, hashPassword } from '../../src/security/password-file.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'moat-passwd-'));

interface Result { code: number | null; out: string }

/** Runs `moat ...args` with `input` on a piped (non-TTY) stdin; out is stdout and stderr together. */
function moat(args: string[], input = ''): Promise<Result> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.stdin.end(input);
    child.once('close', (code) => ok({ code, out }));
  });
}

/**
 * Runs `moat passwd` on a pseudo-terminal: each answer is typed the moment its prompt shows (or all at
 * once), and everything the terminal shows is returned, echo included if there were any.
 */
function moatOnTty(args: string[], answers: string[], allAtOnce = false): Promise<Result> {
  const cmd = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((ok) => {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let prompts = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const seen = out.split(/Password( again)?: /).length - 1;
      if (allAtOnce && prompts === 0 && seen > 0) {
        prompts = 1;
        child.stdin.write(answers.join(''));
      }
      while (!allAtOnce && prompts < seen && prompts < answers.length) child.stdin.write(answers[prompts++]!);
    });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill(), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      ok({ code, out });
    });
  });
}

const mode = (path: string): number => statSync(path).mode & 0o777;

test('adds a user from stdin: file created 0600, the password verifies, nothing echoes it', async () => {
  const file = join(dir, 'new.txt');
  const r = await moat(['passwd', file, 'alice'], 'Tr0ub4dor&3\n');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /added user "alice"/);
  assert.ok(!r.out.includes('Tr0ub4dor'));
  assert.equal(mode(file), 0o600);
  const table = await PasswordFile.load(file);
  assert.equal(await table.verify('alice', 'Tr0ub4dor&3'), true);
  assert.equal(await table.verify('alice', 'Tr0ub4dor&3\n'), false, 'the line ending is not part of the password');
  assert.ok(!readFileSync(file, 'utf8').includes('Tr0ub4dor'));
});

test('updates one user and keeps every other line; a CRLF on stdin is not part of the password', async () => {
  const file = join(dir, 'keep.txt');
  const bob = await hashPassword('bob-pw', { N: 1024, r: 8, p: 1 });
  writeFileSync(file, `# managed by hand\nbob:${bob}\n\n# carol below\ncarol:${bob}\n`, { mode: 0o644 });
  assert.equal((await moat(['passwd', file, 'alice'], 'a-pw\r\n')).code, 0);
  const r = await moat(['passwd', file, 'carol'], 'new-carol-pw\nignored second line\n');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /updated user "carol"/);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.deepEqual(lines.slice(0, 4), ['# managed by hand', `bob:${bob}`, '', '# carol below']);
  assert.match(lines[4]!, /^carol:\$scrypt\$16384\$8\$1\$/);
  assert.match(lines[5]!, /^alice:\$scrypt\$/);
  assert.equal(mode(file), 0o600, 'rewritten 0600 even when it was 0644');
  const table = await PasswordFile.load(file);
  assert.equal(await table.verify('bob', 'bob-pw'), true);
  assert.equal(await table.verify('carol', 'new-carol-pw'), true);
  assert.equal(await table.verify('alice', 'a-pw'), true);
});

test('-D deletes a user and keeps the rest; deleting an unknown user fails', async () => {
  const file = join(dir, 'delete.txt');
  await moat(['passwd', file, 'alice'], 'a\n');
  await moat(['passwd', file, 'bob'], 'b\n');
  const r = await moat(['passwd', '-D', file, 'alice']);
  assert.equal(r.code, 0, r.out);
  const table = await PasswordFile.load(file);
  assert.deepEqual(table.usernames(), ['bob']);
  assert.equal((await moat(['passwd', '-D', file, 'alice'])).code, 1);
});

test('a password on the command line is refused and never printed; no file is written', async () => {
  const file = join(dir, 'argv.txt');
  for (const args of [['passwd', file, 'alice', 'hunter2'], ['passwd', file, 'alice', '--password=hunter2'], ['passwd', '-P', 'hunter2', file, 'alice']]) {
    const r = await moat(args, 'from-stdin\n');
    assert.equal(r.code, 2, r.out);
    assert.ok(!r.out.includes('hunter2'), `echoed: ${r.out}`);
    assert.match(r.out, /never given on the command line/);
    assert.equal(existsSync(file), false);
  }
  const help = await moat(['passwd', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /moat passwd FILE USER/);
  assert.doesNotMatch(help.out, /PASSWORD\b/, 'the usage offers no password argument');
  assert.match((await moat(['help'])).out, /passwd/);
});

test('refused: empty password, a JWT-shaped password, a bad username, a broken file (left untouched)', async () => {
  const file = join(dir, 'refused.txt');
  assert.equal((await moat(['passwd', file, 'alice'], '\n')).code, 2);
  const jwtLike = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  const r = await moat(['passwd', file, 'alice'], `${jwtLike}\n`);
  assert.equal(r.code, 2);
  assert.ok(!r.out.includes(jwtLike));
  assert.equal((await moat(['passwd', file, 'ev:il'], 'x\n')).code, 2);
  assert.equal(existsSync(file), false);
  writeFileSync(file, 'alice:$scrypt$broken\n');
  chmodSync(file, 0o600);
  const broken = await moat(['passwd', file, 'bob'], 'x\n');
  assert.equal(broken.code, 2);
  assert.match(broken.out, /:1: .*MOAT_ERR_PASSWORD_FILE/);
  assert.equal(readFileSync(file, 'utf8'), 'alice:$scrypt$broken\n');  const nowhere = await moat(['passwd', join(dir, 'no-such-dir', 'users'), 'alice'], 'x\n');
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.out, /cannot write password file .*ENOENT.*MOAT_ERR_PASSWORD_FILE/);
});

test('on a terminal: asks twice without echo (answers typed at once), and the result verifies', async () => {
  const file = join(dir, 'tty.txt');
  const r = await moatOnTty(['passwd', file, 'tty-user'], ['s3cret-tty\r', 's3cret-tty\r']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Password: [\s\S]*Password again: /);
  assert.ok(!r.out.includes('s3cret'), `the terminal showed: ${JSON.stringify(r.out)}`);
  assert.equal(await (await PasswordFile.load(file)).verify('tty-user', 's3cret-tty'), true);
  // Both answers in one burst (a fast typist or a paste), with a Backspace fixing a typo.
  const burst = await moatOnTty(['passwd', file, 'tty-user'], ['other-pwX\x7f\r', 'other-pw\r'], true);
  assert.equal(burst.code, 0, burst.out);
  assert.ok(!burst.out.includes('other-pw'));
  assert.equal(await (await PasswordFile.load(file)).verify('tty-user', 'other-pw'), true);
});

test('on a terminal: different answers or Ctrl-C change nothing', async () => {
  const file = join(dir, 'tty-refused.txt');
  const mismatch = await moatOnTty(['passwd', file, 'u'], ['one\r', 'two\r']);
  assert.equal(mismatch.code, 2, mismatch.out);
  assert.match(mismatch.out, /do not match/);
  const cancelled = await moatOnTty(['passwd', file, 'u'], ['\x03']);
  assert.equal(cancelled.code, 130, cancelled.out);
  assert.equal(existsSync(file), false);
});

/** The password file: format, scrypt checks, unknown users, malformed lines, reload keeping the old table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoatError } from '../../src/codec/index.js';
import {
  DEFAULT_SCRYPT, PasswordFile, hashPassword, parseHash, parsePasswordFile, setPasswordLine, verifyHash,
} from '../../src/security/password-file.js';

// Small parameters keep the suite fast; the format and the code path are the same as the defaults'.
const FAST = { N: 1024, r: 8, p: 1 };
const code = (c: string) => (err: unknown) => isMoatError(err, c);

test('hashPassword writes $scrypt$N$r$p$salt$hash with the default parameters and a 16-byte salt', async () => {
  const h = await hashPassword('correct horse');
  assert.match(h, /^\$scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  const e = parseHash(h);
  assert.deepEqual(e.params, DEFAULT_SCRYPT);
  assert.equal(e.salt.length, 16);
  assert.equal(e.hash.length, 32);
  assert.equal(await verifyHash(e, 'correct horse'), true);
  assert.equal(await verifyHash(e, Buffer.from('correct horse')), true, 'a Buffer password (as MQTT carries it) checks the same');
  assert.notEqual(await hashPassword('correct horse'), h, 'a fresh salt every time');
});

test('verify: right password, wrong password, unknown user, empty password', async () => {
  const text = `# users\nalice:${await hashPassword('a-secret', FAST)}\n\nbob:${await hashPassword('b-secret', FAST)}\n`;
  const file = PasswordFile.fromText(text);
  assert.equal(file.size, 2);
  assert.deepEqual(file.usernames().sort(), ['alice', 'bob']);
  assert.equal(await file.verify('alice', 'a-secret'), true);
  assert.equal(await file.verify('bob', Buffer.from('b-secret')), true);
  assert.equal(await file.verify('alice', 'b-secret'), false);
  assert.equal(await file.verify('alice', 'a-secret '), false);
  assert.equal(await file.verify('alice', ''), false);
  assert.equal(await file.verify('carol', 'a-secret'), false);
  assert.equal(await file.verify('', 'a-secret'), false);
});

test('an unknown user still costs a scrypt of the same parameters (no user-existence shortcut)', async () => {
  // Inspected, not timed: the dummy entry an unknown user is hashed against takes the file's
  // parameters (a default or cheaper dummy would answer faster than a known user).
  const heavy = { N: 2048, r: 4, p: 2 };
  const file = PasswordFile.fromText(`alice:${await hashPassword('x', heavy)}\n`);
  const dummy = (file as unknown as { dummy: { params: unknown } }).dummy;
  assert.deepEqual(dummy.params, heavy);
  assert.equal(await file.verify('nobody', 'x'), false);
  assert.deepEqual((PasswordFile.fromText('') as unknown as { dummy: { params: unknown } }).dummy.params, DEFAULT_SCRYPT);
});

test('malformed lines are MOAT_ERR_PASSWORD_FILE naming the line number, never the hash', async () => {
  const good = await hashPassword('pw', FAST);
  const cases: Array<[string, number]> = [
    [`alice:${good}\nno colon here\n`, 2],
    [`# c\n\n:${good}\n`, 3],
    [`alice:${good}\nalice:${good}\n`, 2],
    [`alice:$7$whatever\n`, 1],
    [`alice:$scrypt$1000$8$1$${good.split('$')[5]}$${good.split('$')[6]}\n`, 1], // N not a power of two
    [`alice:$scrypt$1048576$8$1$${good.split('$')[5]}$${good.split('$')[6]}\n`, 1], // 1 GiB of memory
    [`alice:$scrypt$1024$8$1$@@@@$${good.split('$')[6]}\n`, 1],
    [`alice:$scrypt$1024$8$1$QUFB$${good.split('$')[6]}\n`, 1], // 3-byte salt
    [`alice:$scrypt$1024$8$1$${good.split('$')[5]}$QUFB\n`, 1], // 3-byte hash
    [`alice:$scrypt$01024$8$1$${good.split('$')[5]}$${good.split('$')[6]}\n`, 1],
    [`bob:${good}\r\n al ice:${good}\r\n`, 2], // leading white space in a username
  ];
  for (const [text, line] of cases) {
    assert.throws(() => parsePasswordFile(text, 'users.txt'), (err: unknown) => {
      assert.ok(isMoatError(err, 'MOAT_ERR_PASSWORD_FILE'), String(err));
      assert.match(err.message, new RegExp(`^users\\.txt:${line}: `));
      assert.ok(!err.message.includes(good.split('$')[6]!), 'the hash is not repeated in the message');
      return true;
    }, JSON.stringify(text));
  }
  assert.equal(parsePasswordFile(`  # indented comment\r\n\r\nalice:${good}\r\n`).size, 1, 'CRLF files and comments are fine');
});

test('setPasswordLine replaces in place, appends, deletes, and keeps comments and other users', async () => {
  const a = await hashPassword('a', FAST);
  const b = await hashPassword('b', FAST);
  const text = `# header\nalice:${a}\n# about bob\nbob:${a}\n`;
  assert.equal(setPasswordLine(text, 'bob', b), `# header\nalice:${a}\n# about bob\nbob:${b}\n`);
  assert.equal(setPasswordLine(text, 'carol', b), `${text}carol:${b}\n`);
  assert.equal(setPasswordLine(text, 'alice', undefined), `# header\n# about bob\nbob:${a}\n`);
  assert.equal(setPasswordLine('', 'alice', a), `alice:${a}\n`);
  assert.throws(() => setPasswordLine(text, 'ev:il', b), code('MOAT_ERR_PASSWORD_FILE'));
  assert.throws(() => setPasswordLine(text, '#root', b), code('MOAT_ERR_PASSWORD_FILE'));
  assert.throws(() => setPasswordLine('broken\n', 'alice', b), code('MOAT_ERR_PASSWORD_FILE'));
});

test('load from a file, reload picks up changes, a broken new file throws and keeps the old table', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moat-pw-'));
  const path = join(dir, 'passwords');
  await writeFile(path, `alice:${await hashPassword('one', FAST)}\n`, { mode: 0o600 });
  const file = await PasswordFile.load(path);
  assert.deepEqual(file.warnings, []);
  assert.equal(await file.verify('alice', 'one'), true);

  await writeFile(path, `alice:${await hashPassword('two', FAST)}\nbob:${await hashPassword('b', FAST)}\n`);
  await file.reload();
  assert.equal(await file.verify('alice', 'two'), true);
  assert.equal(await file.verify('alice', 'one'), false);
  assert.equal(await file.verify('bob', 'b'), true);

  await writeFile(path, `alice:${await hashPassword('three', FAST)}\nthis line is broken\n`);
  await assert.rejects(file.reload(), (err: unknown) => isMoatError(err, 'MOAT_ERR_PASSWORD_FILE') && /:2: /.test(err.message));
  assert.equal(await file.verify('alice', 'two'), true, 'the old table is still served');
  assert.equal(await file.verify('alice', 'three'), false);
  assert.equal(file.size, 2);

  await chmod(path, 0o644);
  await writeFile(path, `alice:${await hashPassword('four', FAST)}\n`);
  await file.reload();
  assert.equal(await file.verify('alice', 'four'), true);
  assert.match(file.warnings.join(), /readable or writable by other users/);

  await assert.rejects(PasswordFile.load(join(dir, 'missing')), code('MOAT_ERR_PASSWORD_FILE'));
  await assert.rejects(PasswordFile.fromText('').reload(), code('MOAT_ERR_PASSWORD_FILE'));
});

test('hashPassword refuses parameters that would be unsafe or unbounded', async () => {
  await assert.rejects(hashPassword('x', { N: 1000, r: 8, p: 1 }), code('MOAT_ERR_PASSWORD_FILE'));
  await assert.rejects(hashPassword('x', { N: 2 ** 20, r: 8, p: 1 }), code('MOAT_ERR_PASSWORD_FILE'));
  await assert.rejects(hashPassword('x', { N: 1024, r: 0, p: 1 }), code('MOAT_ERR_PASSWORD_FILE'));
});

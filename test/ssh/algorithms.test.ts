/**
 * What the console negotiates: each offered key exchange (group exchange included, via the ssh2
 * patch) and cipher, forced one at a time with OpenSSH and with ssh2's client; SHA-1-only clients,
 * SHA-1 user-key signatures and RSA host keys are refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { acceptableUserKey, groupExchangeAvailable } from '../../src/ssh/algorithms.js';
import { keygen, openssh, ssh2Connect, ssh2Exec, startHarness, type Harness } from './helpers.js';

let h: Harness;
let rsa: string;

before(async () => {
  h = await startHarness();
  rsa = await keygen(h.dir, 'rsa-admin', 'rsa');
  await appendFile(h.authorizedKeysFile, `moat-role=admin ${(await readFile(`${rsa}.pub`, 'utf8')).trim()}\n`);
  await h.ssh.reload();
});

after(() => h.close());

const KEX = ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'diffie-hellman-group-exchange-sha256'];

test('the ssh2 group exchange patch is installed, and running the patch script again changes nothing', async () => {
  assert.equal(groupExchangeAvailable(), true, 'run: node scripts/patch-ssh2.mjs');
  const kex = createRequire(import.meta.url).resolve('ssh2/lib/protocol/kex.js');
  const before = await readFile(kex, 'utf8');
  const { stdout } = await promisify(execFile)(process.execPath, ['scripts/patch-ssh2.mjs']);
  assert.match(stdout, /already applied/);
  assert.equal(await readFile(kex, 'utf8'), before);
});

for (const kex of KEX) {
  test(`OpenSSH with KexAlgorithms=${kex} negotiates it and runs a command`, async () => {
    const r = await openssh(h.port, h.keys.admin, ['status', '--json'], ['-v', '-o', `KexAlgorithms=${kex}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`kex: algorithm: ${kex.replace(/[.@]/g, '\\$&')}\\b`));
    assert.equal((JSON.parse(r.stdout) as { connections: number }).connections, 0);
  });
}

test('group exchange: OpenSSH gets a group of at least 2048 bits (RFC 8270)', async () => {
  const r = await openssh(h.port, h.keys.admin, ['help'], ['-v', '-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha256']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /SSH2_MSG_KEX_DH_GEX_REQUEST\(2048<\d+<8192\) sent/);
  assert.match(r.stderr, /SSH2_MSG_KEX_DH_GEX_GROUP received/);
});

for (const cipher of ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com']) {
  test(`OpenSSH with Ciphers=${cipher} negotiates it`, async () => {
    const r = await openssh(h.port, h.keys.admin, ['help'], ['-v', '-o', `Ciphers=${cipher}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`server->client cipher: ${cipher.replace(/[.@]/g, '\\$&')}`));
  });
}

test('a client offering only SHA-1 algorithms is refused', async () => {
  const sha1 = await openssh(h.port, h.keys.admin, ['status'], ['-o', 'KexAlgorithms=diffie-hellman-group14-sha1', '-o', 'MACs=hmac-sha1', '-o', 'Ciphers=aes128-ctr']);
  assert.equal(sha1.code, 255);
  assert.ok(h.logLines.some((l) => /no matching key exchange algorithm/.test((l.obj as { err?: string }).err ?? '')));
  const gexSha1 = await openssh(h.port, h.keys.admin, ['status'], ['-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha1']);
  assert.equal(gexSha1.code, 255);
  const macOnly = await openssh(h.port, h.keys.admin, ['status'], ['-o', 'Ciphers=aes128-ctr', '-o', 'MACs=hmac-sha1']);
  assert.equal(macOnly.code, 255);
  const rsaHost = await openssh(h.port, h.keys.admin, ['status'], ['-o', 'HostKeyAlgorithms=ssh-rsa']);
  assert.equal(rsaHost.code, 255);
  // The same client with the console's algorithms gets in: the refusals were about the algorithms.
  assert.equal((await openssh(h.port, h.keys.admin, ['status'])).code, 0);
});

test('an RSA user key signs in with rsa-sha2-512/256 but never with ssh-rsa (SHA-1)', async () => {
  for (const algo of ['rsa-sha2-512', 'rsa-sha2-256']) {
    const ok = await openssh(h.port, rsa, ['status'], ['-o', `PubkeyAcceptedAlgorithms=${algo}`]);
    assert.equal(ok.code, 0, `${algo}: ${ok.stderr}`);
  }
  const sha1 = await openssh(h.port, rsa, ['status'], ['-o', 'PubkeyAcceptedAlgorithms=ssh-rsa']);
  assert.equal(sha1.code, 255);
  // OpenSSH does not even try: server-sig-algs (patched) lists no ssh-rsa. Behind that, the server's check:
  assert.equal(acceptableUserKey('ssh-rsa', undefined), false);
  assert.equal(acceptableUserKey('ssh-rsa', 'sha1'), false);
  assert.equal(acceptableUserKey('ssh-dss', undefined), false);
  assert.equal(acceptableUserKey('ssh-rsa', 'sha512'), true);
});

for (const kex of KEX) {
  test(`ssh2's client with kex ${kex} negotiates it and runs a command`, async () => {
    const debug: string[] = [];
    const client = await ssh2Connect(h.port, {
      privateKey: await readFile(h.keys.admin), algorithms: { kex: [kex as 'curve25519-sha256'] },
      debug: (line: string) => debug.push(line),
    });
    try {
      assert.ok(debug.includes(`Handshake: KEX algorithm: ${kex}`), debug.filter((l) => l.includes('KEX')).join('\n'));
      const r = await ssh2Exec(client, 'help --json');
      assert.equal(r.code, 0);
      assert.ok((JSON.parse(r.stdout) as unknown[]).length >= 10);
    } finally {
      client.end();
    }
  });
}

test('ssh2\'s client offering only SHA-1 key exchange is refused', async () => {
  await assert.rejects(ssh2Connect(h.port, {
    privateKey: await readFile(h.keys.admin),
    algorithms: { kex: ['diffie-hellman-group14-sha1'], hmac: ['hmac-sha1'], cipher: ['aes128-ctr'] },
  }), /no matching key exchange/i);
});

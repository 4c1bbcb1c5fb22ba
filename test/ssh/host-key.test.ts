/**
 * Host key generation never yields a key the SSH stack refuses. ssh2's Ed25519 generator trims a
 * public key's leading zero byte (about 1 key in 256), and ssh2 then refuses its own file: the
 * console generates again. 1,500 first starts make a miss without that near impossible (≈ 0.03 %).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { loadHostKeys } from '../../src/ssh/host-key.js';

test('1,500 first starts: every generated Ed25519 host key parses and has a 32-byte public key', async () => {
  const root = await mkdtemp(join(tmpdir(), 'moat-hostkeys-'));
  try {
    for (let i = 0; i < 1500; i++) {
      const [key] = await loadHostKeys(join(root, String(i)));
      const parsed = ssh2.utils.parseKey(key!.key);
      assert.ok(!(parsed instanceof Error), `key ${i}: ${String(parsed)}`);
      const one = Array.isArray(parsed) ? parsed[0]! : parsed;
      // The public blob: string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32 bytes).
      assert.equal(one.getPublicSSH().length, 4 + 11 + 4 + 32, `key ${i}`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_TRUST_SEQUENCE_STEP, acceptTrustUpdate, createTrustList, encodeEnvelope, encodeTrustList, FwErr, generateSigner, loadTrustFile,
  parseTrustList, signEnvelope, signTrustList, trustedKey, verifyEnvelope, writeSignerFiles,
} from '../../src/firmware/index.js';

test('the initial pin is read from a trust list file or from a single PEM public key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcore-trust-'));
  const a = generateSigner();
  const b = generateSigner('ecdsa-p256-sha256');
  await writeFile(join(dir, 'trust.json'), encodeTrustList(createTrustList([a, b], { sequence: 3 })));
  const list = await loadTrustFile(join(dir, 'trust.json'));
  assert.equal(list.sequence, 3);
  assert.deepEqual(list.keys.map((k) => k.keyId), [a.keyId, b.keyId]);
  const { publicPath } = await writeSignerFiles(b, dir);
  const pinned = await loadTrustFile(publicPath);
  assert.deepEqual(pinned.keys, [trustedKey(b)]);
  assert.equal(pinned.sequence, 1);
});

test('a signed trust update with a greater sequence replaces the list; its revocation then refuses the key', () => {
  const root = generateSigner();
  const release = generateSigner('ecdsa-p256-sha256');
  const current = createTrustList([root, release]);
  const manifest = signEnvelope(Buffer.from('manifest'), release);
  assert.deepEqual(verifyEnvelope(manifest, current), Buffer.from('manifest'));

  const next = acceptTrustUpdate(current, encodeEnvelope(signTrustList(createTrustList([root], { sequence: 2, revoked: [release.keyId] }), root)));
  assert.equal(next.sequence, 2);
  assert.throws(() => verifyEnvelope(manifest, next), { code: FwErr.revokedSigner });
});

test('a revoked key stays refused even while the list still carries it', () => {
  const root = generateSigner();
  const old = generateSigner();
  const list = createTrustList([root, old], { revoked: [old.keyId] });
  assert.throws(() => verifyEnvelope(signEnvelope(Buffer.from('m'), old), list), { code: FwErr.revokedSigner });
});

test('a trust update signed by a key outside the current list is refused with MOAT_ERR_FW_UNKNOWN_SIGNER', () => {
  const root = generateSigner();
  const attacker = generateSigner();
  const current = createTrustList([root]);
  const update = signTrustList(createTrustList([attacker], { sequence: 99 }), attacker);
  assert.throws(() => acceptTrustUpdate(current, update), { code: FwErr.unknownSigner });
});

test('a trust update signed by a revoked key is refused with MOAT_ERR_FW_REVOKED_SIGNER', () => {
  const root = generateSigner();
  const stolen = generateSigner();
  const current = createTrustList([root, stolen], { sequence: 5, revoked: [stolen.keyId] });
  const update = signTrustList(createTrustList([stolen], { sequence: 6 }), stolen);
  assert.throws(() => acceptTrustUpdate(current, update), { code: FwErr.revokedSigner });
});

test('a trust update with an equal or lower sequence is refused with MOAT_ERR_FW_TRUST_SEQUENCE', () => {
  const root = generateSigner();
  const current = createTrustList([root], { sequence: 4 });
  for (const sequence of [4, 3, 1]) {
    assert.throws(() => acceptTrustUpdate(current, signTrustList(createTrustList([root], { sequence }), root)), { code: FwErr.trustSequence });
  }
});

test('a trust update that jumps the sequence more than MAX_TRUST_SEQUENCE_STEP is refused (a stolen key cannot make re-pinning impossible)', () => {
  const root = generateSigner();
  const current = createTrustList([root], { sequence: 4 });
  const update = (sequence: number) => signTrustList(createTrustList([root], { sequence }), root);
  assert.equal(acceptTrustUpdate(current, update(4 + MAX_TRUST_SEQUENCE_STEP)).sequence, 4 + MAX_TRUST_SEQUENCE_STEP);
  for (const sequence of [5 + MAX_TRUST_SEQUENCE_STEP, Number.MAX_SAFE_INTEGER]) {
    assert.throws(() => acceptTrustUpdate(current, update(sequence)), { code: FwErr.trustSequence });
  }
});

test('a trust update with a tampered payload is refused with MOAT_ERR_FW_SIGNATURE', () => {
  const root = generateSigner();
  const current = createTrustList([root]);
  const env = signTrustList(createTrustList([root], { sequence: 2 }), root);
  const forged = encodeTrustList(createTrustList([root, generateSigner()], { sequence: 2 }));
  assert.throws(() => acceptTrustUpdate(current, { ...env, payload: forged.toString('base64') }), { code: FwErr.signature });
});

test('trust lists whose key ids or algs are not their keys\', or of the wrong shape, are MOAT_ERR_FW_FORMAT', () => {
  const k = trustedKey(generateSigner());
  const ok = { type: 'moat-fw-trust', sequence: 1, keys: [k], revoked: [] };
  assert.equal(parseTrustList(ok).keys.length, 1);
  const bad: unknown[] = [
    { ...ok, type: 'other' }, { ...ok, sequence: 0 }, { ...ok, sequence: 1.5 }, { ...ok, keys: {} }, { ...ok, revoked: ['x'] },
    { ...ok, keys: [{ ...k, keyId: '0123456789abcdef' }] }, { ...ok, keys: [{ ...k, alg: 'ecdsa-p256-sha256' }] },
    { ...ok, keys: [{ ...k, publicKey: 'AAAA' }] }, { ...ok, keys: [k, k] },
  ];
  for (const b of bad) assert.throws(() => parseTrustList(Buffer.from(JSON.stringify(b))), { code: FwErr.format }, JSON.stringify(b));
  assert.throws(() => parseTrustList('{'), { code: FwErr.format });
});

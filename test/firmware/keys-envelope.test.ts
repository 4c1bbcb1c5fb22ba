import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  algOf, createTrustList, encodeEnvelope, FwErr, generateSigner, keyIdOf, loadPublicKey, loadSigner, loadTrustFile, parseEnvelope,
  signEnvelope, verifyEnvelope, writeSignerFiles, type SignerAlg,
} from '../../src/firmware/index.js';

const ALGS: SignerAlg[] = ['ed25519', 'ecdsa-p256-sha256'];

for (const alg of ALGS) {
  test(`${alg}: key files are written (private 0600), loaded back and sign envelopes the trust list verifies`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fwcore-keys-'));
    const key = generateSigner(alg);
    const { privatePath, publicPath } = await writeSignerFiles(key, dir);
    assert.equal((await stat(privatePath)).mode & 0o777, 0o600);
    assert.match(await readFile(privatePath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(await readFile(publicPath, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    const signer = await loadSigner(privatePath);
    const pub = await loadPublicKey(publicPath);
    assert.equal(signer.alg, alg);
    assert.equal(signer.keyId, key.keyId);
    assert.equal(pub.keyId, key.keyId);
    // Key id: first 16 hex of SHA-256 over the SPKI DER, computed independently here.
    const spki = createPublicKey(await readFile(publicPath, 'utf8')).export({ format: 'der', type: 'spki' });
    assert.equal(key.keyId, createHash('sha256').update(spki).digest('hex').slice(0, 16));

    const payload = Buffer.from('{"hello":"device"}');
    const env = signEnvelope(payload, signer);
    assert.equal(env.alg, alg);
    const wire = encodeEnvelope(env);
    assert.deepEqual(verifyEnvelope(wire, createTrustList([pub])), payload);
  });
}

test('key files are not overwritten without force', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcore-keys-'));
  await writeSignerFiles(generateSigner(), dir);
  await assert.rejects(writeSignerFiles(generateSigner(), dir), { code: FwErr.key });
  const again = generateSigner('ecdsa-p256-sha256');
  await writeSignerFiles(again, dir, { force: true });
  assert.equal((await loadSigner(join(dir, 'signer.key'))).keyId, again.keyId);
});

test('RSA, P-384 and non-key files are refused as signer keys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcore-keys-'));
  assert.throws(() => algOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey), { code: FwErr.key });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  await writeFile(join(dir, 'p384.pem'), p384.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await assert.rejects(loadSigner(join(dir, 'p384.pem')), { code: FwErr.key });
  await writeFile(join(dir, 'junk.pem'), 'not a key');
  await assert.rejects(loadSigner(join(dir, 'junk.pem')), { code: FwErr.key });
  await assert.rejects(loadPublicKey(join(dir, 'missing.pem')), { code: FwErr.key });
});

for (const alg of ALGS) {
  test(`${alg}: a tampered payload or signature is refused with MOAT_ERR_FW_SIGNATURE`, () => {
    const signer = generateSigner(alg);
    const trust = createTrustList([signer]);
    const env = signEnvelope(Buffer.from('version 1.4.2'), signer);
    const tamperedPayload = { ...env, payload: Buffer.from('version 9.9.9').toString('base64') };
    assert.throws(() => verifyEnvelope(tamperedPayload, trust), { code: FwErr.signature });
    const sig = Buffer.from(env.sig, 'base64');
    sig[sig.length - 1]! ^= 1;
    assert.throws(() => verifyEnvelope({ ...env, sig: sig.toString('base64') }, trust), { code: FwErr.signature });
  });
}

test('an envelope signed by a key not in the trust list is refused with MOAT_ERR_FW_UNKNOWN_SIGNER', () => {
  const trusted = generateSigner();
  const stranger = generateSigner();
  const env = signEnvelope(Buffer.from('x'), stranger);
  assert.throws(() => verifyEnvelope(env, createTrustList([trusted])), { code: FwErr.unknownSigner });
});

test('an envelope whose alg is not its key\'s type is refused with MOAT_ERR_FW_SIGNATURE', () => {
  const signer = generateSigner('ecdsa-p256-sha256');
  const env = signEnvelope(Buffer.from('x'), signer);
  assert.throws(() => verifyEnvelope({ ...env, alg: 'ed25519' }, createTrustList([signer])), { code: FwErr.signature });
});

test('envelopes that are not JSON objects with the four fields in canonical form are MOAT_ERR_FW_FORMAT', () => {
  const env = signEnvelope(Buffer.from('x'), generateSigner());
  const bad: unknown[] = [
    'not json', '[]', 'null', { ...env, alg: 'rsa' }, { ...env, keyId: 'ABCDEF0123456789' }, { ...env, keyId: 'abc' },
    { ...env, payload: 42 }, { ...env, payload: `${env.payload}\n` }, { ...env, sig: 'a=b' },
  ];
  for (const b of bad) {
    assert.throws(() => parseEnvelope(typeof b === 'string' ? b : Buffer.from(JSON.stringify(b))), { code: FwErr.format }, JSON.stringify(b));
  }
});

test('the key id is the same for a key and for its PEM-loaded public half', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcore-keys-'));
  const key = generateSigner('ecdsa-p256-sha256');
  const { privatePath } = await writeSignerFiles(key, dir, { name: 'release' });
  assert.equal((await loadPublicKey(join(dir, 'release.pub'))).keyId, keyIdOf(key.publicKey));
  // A private key PEM where a public key is expected (a pin, a trust list) is refused: never copy it out.
  await assert.rejects(loadPublicKey(privatePath), { code: FwErr.key });
  await assert.rejects(loadTrustFile(privatePath), { code: FwErr.key });
});

test('with force, the private key replaces a symlink (never writes through it) and an old 0644 file ends 0600', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcore-keys-'));
  const outside = join(dir, 'outside.txt');
  await writeFile(outside, 'untouched', { mode: 0o644 });
  await symlink(outside, join(dir, 'signer.key'));
  await writeFile(join(dir, 'signer.pub'), 'old', { mode: 0o644 });
  const key = generateSigner();
  const { privatePath } = await writeSignerFiles(key, dir, { force: true });
  assert.equal(await readFile(outside, 'utf8'), 'untouched');
  assert.ok(!(await lstat(privatePath)).isSymbolicLink());
  assert.equal((await stat(privatePath)).mode & 0o777, 0o600);
  assert.equal((await loadSigner(privatePath)).keyId, key.keyId);
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), []);
  // Without force an existing file (or symlink) is never replaced.
  await assert.rejects(writeSignerFiles(generateSigner(), dir), { code: FwErr.key });
  assert.equal((await loadSigner(privatePath)).keyId, key.keyId);
});

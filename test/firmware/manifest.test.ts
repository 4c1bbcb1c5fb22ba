import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acceptTrustUpdate, buildManifest, checkManifest, createTrustList, encodeEnvelope, FwErr, generateSigner, imageChunks,
  releaseIdOf, signEnvelope, signManifest, signTrustList, validateManifest, verifyImageFile,
  type Manifest, type ManifestCheckInput, type SignerKey, type TrustList,
} from '../../src/firmware/index.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const NOW = Date.parse('2026-11-26T15:00:00.000Z');
let dir: string;
let imagePath: string;
let image: Buffer;
let signer: SignerKey;
let trust: TrustList;
let base: Manifest;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fwcore-manifest-'));
  image = randomBytes(100 * 1024 + 7);
  imagePath = join(dir, 'thermo.bin');
  await writeFile(imagePath, image);
  signer = generateSigner();
  trust = createTrustList([signer]);
  base = await buildManifest(imagePath, { product: 'thermo', version: '1.4.2', chunkSize: 16384, now: new Date(NOW) });
});

/** A manifest like `base` with `changes`, signed as raw JSON (so even inconsistent ones can be signed). */
function signed(changes: Partial<Manifest> = {}, by: SignerKey = signer): Buffer {
  return encodeEnvelope(signEnvelope(Buffer.from(JSON.stringify({ ...base, ...changes })), by));
}

function check(envelope: Buffer, over: Partial<ManifestCheckInput> = {}): ReturnType<typeof checkManifest> {
  return checkManifest({ manifestEnvelope: envelope, trust, product: 'thermo', deviceId: 'dev-1', groups: ['eu'], runningVersion: '1.4.1', now: NOW, ...over });
}

test('a manifest built from an image file streams it into the whole and per-chunk SHA-256', async () => {
  assert.equal(base.size, image.length);
  assert.equal(base.sha256, sha(image));
  assert.equal(base.chunks.length, 7);
  base.chunks.forEach((h, i) => assert.equal(h, sha(image.subarray(i * 16384, (i + 1) * 16384)), `chunk ${i}`));
  assert.equal(base.createdAt, '2026-11-26T15:00:00.000Z');
  assert.equal(base.expiresAt, '2026-12-26T15:00:00.000Z');
  const exact = join(dir, 'exact.bin');
  await writeFile(exact, image.subarray(0, 4 * 1024));
  const m = await buildManifest(exact, { product: 'thermo', version: '1', chunkSize: 1024 });
  assert.equal(m.chunks.length, 4);
  const sizes: number[] = [];
  for await (const { index, data } of imageChunks(imagePath, 16384)) sizes[index] = data.length;
  assert.deepEqual(sizes, [16384, 16384, 16384, 16384, 16384, 16384, 7 + 4 * 1024]);
});

test('an empty image cannot be made into a manifest', async () => {
  const empty = join(dir, 'empty.bin');
  await writeFile(empty, '');
  await assert.rejects(buildManifest(empty, { product: 'thermo', version: '1.0' }), { code: FwErr.format });
});

test('a valid manifest passes the device check and yields the release id of its payload', () => {
  const env = signManifest(base, signer);
  const r = check(encodeEnvelope(env));
  assert.deepEqual(r.manifest, base);
  assert.equal(r.releaseId, releaseIdOf(Buffer.from(env.payload, 'base64')));
  assert.equal(r.releaseId, sha(Buffer.from(env.payload, 'base64')).slice(0, 32));
});

test('a tampered manifest payload is refused with MOAT_ERR_FW_SIGNATURE', () => {
  const env = signManifest(base, signer);
  const evil = Buffer.from(JSON.stringify({ ...base, version: '9.9.9' })).toString('base64');
  assert.throws(() => check(encodeEnvelope({ ...env, payload: evil })), { code: FwErr.signature });
});

test('a tampered manifest signature is refused with MOAT_ERR_FW_SIGNATURE', () => {
  const env = signManifest(base, signer);
  const sig = Buffer.from(env.sig, 'base64');
  sig.writeUInt8(sig.readUInt8(10) ^ 0x80, 10);
  assert.throws(() => check(encodeEnvelope({ ...env, sig: sig.toString('base64') })), { code: FwErr.signature });
});

test('a manifest by an unknown signer is refused with MOAT_ERR_FW_UNKNOWN_SIGNER', () => {
  assert.throws(() => check(signed({}, generateSigner())), { code: FwErr.unknownSigner });
});

test('a manifest by a key revoked through a signed trust update is refused with MOAT_ERR_FW_REVOKED_SIGNER', () => {
  const root = generateSigner('ecdsa-p256-sha256');
  const pinned = createTrustList([root, signer]);
  assert.equal(check(signed(), { trust: pinned }).manifest.version, '1.4.2');
  const next = acceptTrustUpdate(pinned, signTrustList(createTrustList([root], { sequence: 2, revoked: [signer.keyId] }), root));
  assert.throws(() => check(signed(), { trust: next }), { code: FwErr.revokedSigner });
});

test('a signed payload that is not a manifest is refused with MOAT_ERR_FW_FORMAT', () => {
  assert.throws(() => check(encodeEnvelope(signEnvelope(Buffer.from('not json'), signer))), { code: FwErr.format });
  assert.throws(() => check(signed({ type: 'other' as 'moat-fw-manifest' })), { code: FwErr.format });
  assert.throws(() => check(Buffer.from('{"payload":1}')), { code: FwErr.format });
});

test('a manifest for another product is refused with MOAT_ERR_FW_PRODUCT', () => {
  assert.throws(() => check(signed({ product: 'fridge' })), { code: FwErr.product });
});

test('a manifest targeting other devices or groups is refused with MOAT_ERR_FW_TARGET; a listed device or group passes', () => {
  assert.throws(() => check(signed({ target: { devices: ['dev-2'], groups: ['us'] } })), { code: FwErr.target });
  assert.throws(() => check(signed({ target: { groups: ['eu'] } }), { groups: [] }), { code: FwErr.target });
  assert.equal(check(signed({ target: { devices: ['dev-1'] } })).manifest.target?.devices?.[0], 'dev-1');
  assert.ok(check(signed({ target: { devices: ['dev-9'], groups: ['eu'] } })));
});

test('an expired manifest is refused with MOAT_ERR_FW_EXPIRED', () => {
  assert.throws(() => check(signed(), { now: Date.parse(base.expiresAt) }), { code: FwErr.expired });
});

test('a manifest created more than 5 minutes in the future is refused with MOAT_ERR_FW_EXPIRED; within the skew it passes', () => {
  const at = (ms: number): string => new Date(NOW + ms).toISOString();
  assert.throws(() => check(signed({ createdAt: at(6 * 60_000) })), { code: FwErr.expired });
  assert.ok(check(signed({ createdAt: at(4 * 60_000) })));
});

test('an older version is refused with MOAT_ERR_FW_ROLLBACK', () => {
  assert.throws(() => check(signed({ version: '1.4.0' })), { code: FwErr.rollback });
  assert.throws(() => check(signed(), { runningVersion: '1.10' }), { code: FwErr.rollback });
});

test('the running version again (a replay) is refused with MOAT_ERR_FW_ROLLBACK', () => {
  assert.throws(() => check(signed(), { runningVersion: '1.4.2' }), { code: FwErr.rollback });
  assert.throws(() => check(signed(), { runningVersion: '1.4.2.0' }), { code: FwErr.rollback });
});

test('a device below the manifest\'s minVersion is refused with MOAT_ERR_FW_MIN_VERSION', () => {
  assert.throws(() => check(signed({ minVersion: '1.4.1.1' })), { code: FwErr.minVersion });
  assert.ok(check(signed({ minVersion: '1.4.1' })));
});

test('an image over the device\'s maximum is refused with MOAT_ERR_FW_TOO_LARGE', () => {
  assert.throws(() => check(signed(), { maxImageBytes: image.length - 1 }), { code: FwErr.tooLarge });
  assert.ok(check(signed(), { maxImageBytes: image.length }));
});

test('a chunk count or chunk size inconsistent with the size is refused with MOAT_ERR_FW_FORMAT', () => {
  assert.throws(() => check(signed({ chunks: base.chunks.slice(1) })), { code: FwErr.format });
  assert.throws(() => check(signed({ chunkSize: 8192 })), { code: FwErr.format });
  assert.throws(() => check(signed({ size: base.size + 16384 })), { code: FwErr.format });
  assert.throws(() => validateManifest({ ...base, chunkSize: 0 }), { code: FwErr.format });
});

test('the checks run in order: product before target before dates before version before size', () => {
  const all = { product: 'fridge', target: { devices: ['x'] }, version: '1.0', size: 1 << 30 };
  assert.throws(() => check(signed(all)), { code: FwErr.product });
  assert.throws(() => check(signed({ ...all, product: 'thermo' })), { code: FwErr.target });
  assert.throws(() => check(signed({ ...all, product: 'thermo', target: undefined }), { now: NOW + 31 * 86400_000 }), { code: FwErr.expired });
  assert.throws(() => check(signed({ ...all, product: 'thermo', target: undefined, minVersion: '5' })), { code: FwErr.rollback });
  assert.throws(() => check(signed({ size: 1 << 30, minVersion: '5' })), { code: FwErr.minVersion });
  assert.throws(() => check(signed({ size: 1 << 30 })), { code: FwErr.tooLarge });
});

test('an assembled image of another size or content is refused with MOAT_ERR_FW_IMAGE', async () => {
  const copy = join(dir, 'copy.bin');
  await writeFile(copy, image);
  await verifyImageFile(copy, base);
  const flipped = Buffer.from(image);
  flipped.writeUInt8(flipped.readUInt8(5000) ^ 1, 5000);
  await writeFile(copy, flipped);
  await assert.rejects(verifyImageFile(copy, base), { code: FwErr.image });
  await writeFile(copy, image);
  await truncate(copy, image.length - 1);
  await assert.rejects(verifyImageFile(copy, base), { code: FwErr.image });
  await writeFile(copy, image);
  await appendFile(copy, Buffer.from([0]));
  await assert.rejects(verifyImageFile(copy, base), { code: FwErr.image });
});

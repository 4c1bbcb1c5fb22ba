import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chunkFilter, chunkLength, chunkTopic, decodeChunk, encodeChunk, FwErr, manifestTopic, parseChunkTopic, statusTopic,
  trustTopic, verifyChunk, type ChunkLayout, assertProduct,
} from '../../src/firmware/index.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const image = randomBytes(2500);
const layout: ChunkLayout = { size: 2500, chunkSize: 1000, chunks: [0, 1, 2].map((i) => sha(image.subarray(i * 1000, (i + 1) * 1000))) };
const piece = (i: number): Buffer => image.subarray(i * 1000, Math.min(2500, (i + 1) * 1000));
const RID = '0123456789abcdef0123456789abcdef';

test('a chunk message is "MFC1", the index as u32 big-endian, then the bytes', () => {
  const msg = encodeChunk(0x01020304, Buffer.from('abc'));
  assert.deepEqual(msg, Buffer.from([0x4d, 0x46, 0x43, 0x31, 1, 2, 3, 4, 0x61, 0x62, 0x63]));
  assert.deepEqual(decodeChunk(msg, 0x01020304), { index: 0x01020304, data: Buffer.from('abc') });
  assert.equal(decodeChunk(encodeChunk(0xffffffff, Buffer.alloc(0))).index, 0xffffffff);
  assert.throws(() => encodeChunk(2 ** 32, Buffer.alloc(1)), { code: FwErr.format });
});

test('a chunk payload without the MFC1 header is refused with MOAT_ERR_FW_FORMAT', () => {
  assert.throws(() => decodeChunk(Buffer.from('MFC1\0\0\0')), { code: FwErr.format });
  assert.throws(() => decodeChunk(Buffer.from('MFC2\0\0\0\0data')), { code: FwErr.format });
});

test('a chunk whose header carries another index than its topic is refused with MOAT_ERR_FW_CHUNK', () => {
  assert.throws(() => decodeChunk(encodeChunk(1, piece(1)), 2), { code: FwErr.chunk });
});

test('chunks that match the manifest pass; the last one is the remainder', () => {
  assert.deepEqual([0, 1, 2].map((i) => chunkLength(layout, i)), [1000, 1000, 500]);
  for (const i of [0, 1, 2]) verifyChunk(layout, i, decodeChunk(encodeChunk(i, piece(i)), i).data);
});

test('a chunk whose SHA-256 differs from the manifest (tampered, or of another release) is refused with MOAT_ERR_FW_CHUNK', () => {
  const tampered = Buffer.from(piece(1));
  tampered.writeUInt8(tampered.readUInt8(0) ^ 1, 0);
  assert.throws(() => verifyChunk(layout, 1, tampered), { code: FwErr.chunk });
  assert.throws(() => verifyChunk(layout, 1, piece(0)), { code: FwErr.chunk });
  assert.throws(() => verifyChunk(layout, 2, randomBytes(500)), { code: FwErr.chunk });
});

test('a truncated chunk or an index outside the release is refused with MOAT_ERR_FW_CHUNK', () => {
  assert.throws(() => verifyChunk(layout, 2, piece(2).subarray(0, 499)), { code: FwErr.chunk });
  assert.throws(() => verifyChunk(layout, 3, Buffer.alloc(0)), { code: FwErr.chunk });
  assert.throws(() => verifyChunk(layout, -1, piece(0)), { code: FwErr.chunk });
});

test('a chunk longer than its place in the image is refused with MOAT_ERR_FW_TOO_LARGE', () => {
  assert.throws(() => verifyChunk(layout, 2, Buffer.concat([piece(2), Buffer.alloc(1)])), { code: FwErr.tooLarge });
  assert.throws(() => verifyChunk(layout, 0, image.subarray(0, 1001)), { code: FwErr.tooLarge });
});

test('topic names: manifest, trust, status and chunk topics; chunk topics parse back', () => {
  assert.equal(manifestTopic('thermo'), 'fw/thermo/manifest');
  assert.equal(trustTopic('thermo'), 'fw/thermo/trust');
  assert.equal(statusTopic('thermo', 'dev-1'), 'fw/thermo/status/dev-1');
  assert.equal(chunkTopic('thermo', RID, 7), `fw/thermo/chunk/${RID}/7`);
  assert.equal(chunkFilter('thermo', RID), `fw/thermo/chunk/${RID}/+`);
  assert.deepEqual(parseChunkTopic(`fw/thermo/chunk/${RID}/7`), { product: 'thermo', releaseId: RID, index: 7 });
  for (const t of [`fw/thermo/chunk/${RID}/07`, `fw/thermo/chunk/${RID.toUpperCase()}/7`, `fw/thermo/chunk/${RID}/4294967296`, `fw/Thermo/chunk/${RID}/1`, 'fw/thermo/manifest']) {
    assert.equal(parseChunkTopic(t), undefined, t);
  }
});

test('products, device ids and release ids that cannot be topic levels are refused with MOAT_ERR_FW_FORMAT', () => {
  for (const p of ['', 'Thermo', '-x', 'a/b', 'a+', 'x'.repeat(65)]) assert.throws(() => assertProduct(p), { code: FwErr.format }, p);
  assert.equal(assertProduct('thermo-2.eu_x'), 'thermo-2.eu_x');
  for (const d of ['', 'a/b', '#', 'dev+1', 'x'.repeat(129)]) assert.throws(() => statusTopic('thermo', d), { code: FwErr.format }, d);
  assert.throws(() => chunkTopic('thermo', 'abc', 0), { code: FwErr.format });
});

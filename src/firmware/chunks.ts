/**
 * Chunks on the wire and their checks. A chunk message is published on
 * `fw/<product>/chunk/<releaseId>/<index>` with payload = 8-byte header ("MFC1" ASCII + u32 big-endian
 * index) followed by the chunk bytes. The topic names the release; the chunk's SHA-256 listed in the
 * signed manifest is what proves it belongs to it.
 *
 *   encodeChunkHeader(index) → 8 bytes;  encodeChunk(index, data) → header + data (one copy)
 *   decodeChunk(payload, expectedIndex?) → {index, data (a view)}   FORMAT: short / bad magic; CHUNK: other index
 *   chunkCount(m), chunkOffset(m, i), chunkLength(m, i)
 *   verifyChunk(m, i, data)   CHUNK: index out of range, short or wrong SHA-256; TOO_LARGE: longer than its place
 *   chunkTopic(product, releaseId, index), chunkFilter(product, releaseId), parseChunkTopic(topic) → {product, releaseId, index} | undefined
 */
import { createHash } from 'node:crypto';
import { FwErr, fwError } from './errors.js';
import { fwPrefix, isValidProduct } from './topics.js';

export const CHUNK_MAGIC = Buffer.from('MFC1', 'ascii');
export const CHUNK_HEADER_BYTES = 8;
export const RELEASE_ID = /^[0-9a-f]{32}$/;

/** What the chunk helpers need of a manifest. */
export interface ChunkLayout {
  size: number;
  chunkSize: number;
  chunks: readonly string[];
}

function assertIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw fwError(FwErr.format, `chunk index ${index} is not a u32`);
}

export function encodeChunkHeader(index: number): Buffer {
  assertIndex(index);
  const header = Buffer.alloc(CHUNK_HEADER_BYTES);
  CHUNK_MAGIC.copy(header, 0);
  header.writeUInt32BE(index, 4);
  return header;
}

export function encodeChunk(index: number, data: Buffer): Buffer {
  return Buffer.concat([encodeChunkHeader(index), data], CHUNK_HEADER_BYTES + data.length);
}

export function decodeChunk(payload: Buffer, expectedIndex?: number): { index: number; data: Buffer } {
  if (payload.length < CHUNK_HEADER_BYTES || !payload.subarray(0, 4).equals(CHUNK_MAGIC)) {
    throw fwError(FwErr.format, 'chunk payload does not start with the MFC1 header');
  }
  const index = payload.readUInt32BE(4);
  if (expectedIndex !== undefined && index !== expectedIndex) {
    throw fwError(FwErr.chunk, `chunk header says index ${index}, its topic says ${expectedIndex}`);
  }
  return { index, data: payload.subarray(CHUNK_HEADER_BYTES) };
}

export const chunkCount = (m: ChunkLayout): number => Math.ceil(m.size / m.chunkSize);
export const chunkOffset = (m: ChunkLayout, index: number): number => index * m.chunkSize;
export const chunkLength = (m: ChunkLayout, index: number): number => Math.max(0, Math.min(m.chunkSize, m.size - index * m.chunkSize));

export function verifyChunk(m: ChunkLayout, index: number, data: Buffer): void {
  const expected = m.chunks[index];
  if (!Number.isInteger(index) || expected === undefined) throw fwError(FwErr.chunk, `chunk ${index} is not part of the release (${m.chunks.length} chunks)`);
  const length = chunkLength(m, index);
  if (data.length > length) throw fwError(FwErr.tooLarge, `chunk ${index} has ${data.length} bytes, its place holds ${length}`);
  if (data.length < length) throw fwError(FwErr.chunk, `chunk ${index} is truncated: ${data.length} of ${length} bytes`);
  if (createHash('sha256').update(data).digest('hex') !== expected) throw fwError(FwErr.chunk, `chunk ${index} does not match its SHA-256`);
}

export function chunkTopic(product: string, releaseId: string, index: number): string {
  if (!RELEASE_ID.test(releaseId)) throw fwError(FwErr.format, `invalid release id ${JSON.stringify(releaseId)}`);
  assertIndex(index);
  return `${fwPrefix(product)}/chunk/${releaseId}/${index}`;
}

export function chunkFilter(product: string, releaseId: string): string {
  if (!RELEASE_ID.test(releaseId)) throw fwError(FwErr.format, `invalid release id ${JSON.stringify(releaseId)}`);
  return `${fwPrefix(product)}/chunk/${releaseId}/+`;
}

/** The parts of a chunk topic, or undefined for any other topic (also non-canonical indexes like "01"). */
export function parseChunkTopic(topic: string): { product: string; releaseId: string; index: number } | undefined {
  const m = /^fw\/([^/]+)\/chunk\/([0-9a-f]{32})\/(0|[1-9][0-9]{0,9})$/.exec(topic);
  if (!m || !isValidProduct(m[1])) return undefined;
  const index = Number(m[3]);
  return index <= 0xffffffff ? { product: m[1], releaseId: m[2]!, index } : undefined;
}

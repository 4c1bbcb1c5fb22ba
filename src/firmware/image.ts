/**
 * Reading an image file chunk by chunk: positional reads into one chunk-sized buffer at a time, so an
 * image is never held in memory whole (64 MiB images on small devices, 100 pushes in parallel).
 *
 *   imageChunks(path, chunkSize)   async iterator of {index, data} (data: a fresh Buffer per chunk)
 *   hashImage(path, chunkSize)     → {size, sha256, chunks}: whole-image and per-chunk SHA-256 (hex)
 *   verifyImageFile(path, {size, sha256})   MOAT_ERR_FW_IMAGE when the size or SHA-256 differs
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { FwErr, fwError } from './errors.js';

export async function* imageChunks(path: string, chunkSize: number): AsyncGenerator<{ index: number; data: Buffer }> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw fwError(FwErr.format, `chunk size ${chunkSize} is not a positive integer`);
  const file = await open(path, 'r');
  try {
    for (let index = 0; ; index++) {
      const data = Buffer.allocUnsafe(chunkSize);
      let filled = 0;
      // read() may return fewer bytes than asked before the end: fill the chunk or reach EOF.
      while (filled < chunkSize) {
        const { bytesRead } = await file.read(data, filled, chunkSize - filled, index * chunkSize + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) return;
      yield { index, data: filled === chunkSize ? data : data.subarray(0, filled) };
      if (filled < chunkSize) return;
    }
  } finally {
    await file.close();
  }
}

export async function hashImage(path: string, chunkSize: number): Promise<{ size: number; sha256: string; chunks: string[] }> {
  const whole = createHash('sha256');
  const chunks: string[] = [];
  let size = 0;
  for await (const { data } of imageChunks(path, chunkSize)) {
    whole.update(data);
    chunks.push(createHash('sha256').update(data).digest('hex'));
    size += data.length;
  }
  return { size, sha256: whole.digest('hex'), chunks };
}

export async function verifyImageFile(path: string, expected: { size: number; sha256: string }): Promise<void> {
  const whole = createHash('sha256');
  let size = 0;
  // Read a little past the expected size: a longer file is as wrong as a different one.
  for await (const { data } of imageChunks(path, 1 << 16)) {
    size += data.length;
    if (size > expected.size) throw fwError(FwErr.image, `image ${path} is longer than the manifest's ${expected.size} bytes`);
    whole.update(data);
  }
  if (size !== expected.size) throw fwError(FwErr.image, `image ${path} has ${size} bytes, the manifest says ${expected.size}`);
  if (whole.digest('hex') !== expected.sha256) throw fwError(FwErr.image, `image ${path} does not match the manifest's SHA-256`);
}

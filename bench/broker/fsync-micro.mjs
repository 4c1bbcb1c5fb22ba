#!/usr/bin/env node
/**
 * What one durable commit costs on a filesystem: append 4 KiB to a file and fdatasync it, `n` times;
 * then the same with fsync (the WAL commit of SQLite with synchronous=FULL is appends plus an fsync,
 * or an fdatasync where SQLite is built with it).
 *
 *   node bench/broker/fsync-micro.mjs [DIR] [--n=200]
 *
 * DIR defaults to os.tmpdir(): use the filesystem the broker's data directory lives on.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Returns { fdatasync: { p50, p90, max, perSec }, fsync: {…} } in µs, measured in a temp dir under `dir`. */
export function fsyncMicro(dir = tmpdir(), n = 200) {
  const work = mkdtempSync(join(dir, 'moat-fsync-'));
  try {
    const block = Buffer.alloc(4096, 0x61);
    const out = {};
    for (const [name, sync] of [['fdatasync', fdatasyncSync], ['fsync', fsyncSync]]) {
      const fd = openSync(join(work, name), 'w');
      const us = [];
      try {
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          writeSync(fd, block, 0, block.length, i * block.length);
          sync(fd);
          us.push((performance.now() - t0) * 1000);
        }
      } finally {
        closeSync(fd);
      }
      const sorted = us.sort((a, b) => a - b);
      const total = us.reduce((a, x) => a + x, 0);
      out[name] = { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted[sorted.length - 1], perSec: (n * 1e6) / total, n };
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const nArg = args.find((a) => a.startsWith('--n='));
  const dir = args.find((a) => !a.startsWith('--'));
  const r = fsyncMicro(dir, nArg ? Number(nArg.slice(4)) : 200);
  for (const [k, v] of Object.entries(r)) {
    process.stdout.write(`${k}: 4 KiB append + ${k}, n = ${v.n}: p50 ${v.p50.toFixed(0)} µs, p90 ${v.p90.toFixed(0)} µs, max ${v.max.toFixed(0)} µs, ${v.perSec.toFixed(0)}/s\n`);
  }
}

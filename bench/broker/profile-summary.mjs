#!/usr/bin/env node
/**
 * Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), e.g. of the Moat broker under
 * the benchmark's load:
 *
 *   node bench/broker.mjs --only fan-in --transport tls --brokers moat --rounds 1 \
 *        --moat-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   node bench/broker/profile-summary.mjs /tmp/prof/CPU.*.cpuprofile [--top=25]
 *
 * Self time is the time sampled with the function on top of the stack; "total" includes its callees.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const args = process.argv.slice(2);
const topArg = args.find((a) => a.startsWith('--top='));
const top = topArg ? Number(topArg.slice(6)) : 25;
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  process.stderr.write('usage: profile-summary.mjs FILE.cpuprofile [--top=N]\n');
  process.exit(2);
}

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample counts per node; time deltas per sample give the weights.
  const selfUs = new Map();
  const deltas = prof.timeDeltas ?? [];
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const key = (n) => {
    const f = n.callFrame;
    const url = f.url ? relative(process.cwd(), f.url.replace(/^file:\/\//, '')) : '';
    return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map();
  const total = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + us);
    // Total: count once per distinct function on the stack.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(byId.get(cur));
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + us);
    }
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  process.stdout.write(`\n${file}: ${(totalUs / 1e6).toFixed(2)} s sampled\n\n| self % | total % | function |\n|---:|---:|---|\n`);
  for (const [k, us] of rows) {
    process.stdout.write(`| ${((us / totalUs) * 100).toFixed(1)} | ${(((total.get(k) ?? 0) / totalUs) * 100).toFixed(1)} | ${k.replace(/\|/g, '\\|')} |\n`);
  }
}

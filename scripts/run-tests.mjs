// Runs every compiled test file under .build/test with Node's test runner (Node 20 takes no globs).
// Besides the spec reporter on stdout, results go to .build/test-results.jsonl for docs/conformance.md.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const files = collect('.build/test').sort();
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
const result = spawnSync(process.execPath, [
  '--test', '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/results-reporter.mjs', '--test-reporter-destination=.build/test-results.jsonl',
  ...selected,
], { stdio: 'inherit' });
process.exit(result.status ?? 1);

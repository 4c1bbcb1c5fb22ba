import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sourceFiles } from './source-files.js';

const CODE = /MOAT_ERR_[A-Z0-9_]+/g;

test('every MOAT_ERR_ code in src/ is documented in docs/errors.md, and every documented code exists', () => {
  const used = new Set<string>();
  for (const file of sourceFiles('src')) {
    for (const m of readFileSync(file, 'utf8').matchAll(CODE)) used.add(m[0]);
  }
  const documented = new Set<string>();
  for (const line of readFileSync('docs/errors.md', 'utf8').split('\n')) {
    const m = /^\| `(MOAT_ERR_[A-Z0-9_]+)` \|/.exec(line);
    if (m) documented.add(m[1]!);
  }
  assert.ok(used.size > 0, 'found no codes in src/: the scan is broken');
  assert.deepEqual([...used].filter((c) => !documented.has(c)).sort(), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !used.has(c)).sort(), [], 'documented codes no longer in src/');
});

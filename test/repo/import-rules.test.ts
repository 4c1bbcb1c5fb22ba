/**
 * The layer rules of docs/architecture.md that can be checked mechanically. Adding a folder under
 * src/ means adding its row to RULES: a folder without a row fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sourceFiles } from './source-files.js';

interface Rule {
  /** Folders of ours (under src/) this folder may import from. */
  ours: string[];
  /** node: built-ins it may import; '*' for any. */
  builtins: string[] | '*';
}

const RULES: Record<string, Rule> = {
  // Pure: bytes ⇄ packets, nothing of ours, no I/O [docs/architecture.md].
  codec: { ours: [], builtins: ['node:buffer'] },
  // Engines, router, transports and listeners; I/O only in the files of IO_FILES.
  broker: { ours: ['codec', 'store'], builtins: '*' },
  // Stores see messages and the codec's types, never the broker's engines.
  store: { ours: ['codec'], builtins: '*' },
  // Client engine and transports: the codec only; never the broker.
  client: { ours: ['codec'], builtins: '*' },
  // TLS profiles, dev PKI, authentication and authorization hooks.
  security: { ours: ['codec'], builtins: '*' },
  // SSH console: talks to the broker through ConsolePort, writes to SSH channels, never the terminal.
  ssh: { ours: ['broker', 'store', 'security', 'codec'], builtins: '*' },
  // Signed firmware delivery: keys, manifests, chunks (pure), device agent and pusher (over the client).
  firmware: { ours: ['codec', 'client'], builtins: '*' },
  // Security cost lab: starts a broker (with the security layer's PKI and profiles) and measures clients.
  lab: { ours: ['codec', 'client', 'security', 'broker', 'store'], builtins: '*' },
  // The only place that reads argv and writes to the terminal.
  cli: { ours: ['*'], builtins: '*' },
};

/** In src/broker, only these files may touch sockets; the engine and its handlers do no I/O. */
const IO_FILES = new Set(['src/broker/transport.ts', 'src/broker/listeners.ts']);
const IO_MODULES = /^(node:(net|tls|http|https|http2|dgram|fs|fs\/promises|child_process)|ws)$/;

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : '';
}

function resolveFolder(file: string, spec: string): string {
  const parts = file.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.length > 2 ? parts[1]! : '';
}

test('every folder under src/ has an import rule', () => {
  const folders = new Set(sourceFiles('src').map(folderOf).filter((f) => f !== ''));
  for (const f of folders) assert.ok(RULES[f], `src/${f} has no row in RULES (test/repo/import-rules.test.ts)`);
});

test('each folder imports only what its layer allows (codec: nothing of ours, no I/O module)', () => {
  const violations: string[] = [];
  for (const file of sourceFiles('src')) {
    const folder = folderOf(file);
    const rule = RULES[folder];
    if (!rule) continue;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const target = resolveFolder(file, spec);
        if (target !== folder && !rule.ours.includes('*') && !rule.ours.includes(target)) {
          violations.push(`${file} imports ${spec} (src/${target})`);
        }
      } else if (spec.startsWith('node:')) {
        if (rule.builtins !== '*' && !rule.builtins.includes(spec)) violations.push(`${file} imports ${spec}`);
      } else if (rule.builtins !== '*' && folder === 'codec') {
        violations.push(`${file} imports package ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('broker engines, handlers, sessions and router import no I/O module', () => {
  const violations: string[] = [];
  for (const file of sourceFiles('src/broker')) {
    if (IO_FILES.has(file)) continue;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (IO_MODULES.test(spec)) violations.push(`${file} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('only src/cli touches argv and the terminal', () => {
  const violations: string[] = [];
  for (const file of sourceFiles('src')) {
    if (folderOf(file) === 'cli') continue;
    const text = readFileSync(file, 'utf8');
    if (/process\.argv|\bconsole\.|process\.std(out|err|in)/.test(text)) violations.push(file);
  }
  assert.deepEqual(violations, []);
});

test('the import scanner sees the imports it must judge', () => {
  const sample = "import { a } from './x.js';\nimport type { B } from '../y/z.js';\nexport * from './w.js';\nimport 'reflect-metadata';\nconst m = await import('node:net');";
  assert.deepEqual(importsOf(sample), ['./x.js', '../y/z.js', './w.js', 'reflect-metadata', 'node:net']);
});

#!/usr/bin/env node
/**
 * Builds the browser client: src/client/browser.ts → dist/browser/moat-client.min.js (ESM, minified,
 * ES2020). The three Node built-ins the core uses map to small shims (scripts/browser-shims/): Buffer
 * from the `buffer` package, EventEmitter of our own, randomBytes over crypto.getRandomValues. Any
 * other Node built-in or `ws` reaching the bundle fails the build. Prints raw, min and min+gzip sizes.
 *
 *   node scripts/build-browser.mjs            (npm run build:browser)
 */
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shims = join(root, 'scripts', 'browser-shims');
const SHIMS = { 'node:buffer': 'buffer.mjs', 'node:events': 'events.mjs', 'node:crypto': 'crypto.mjs' };

/** Node built-ins to the shims; anything else of Node's (or `ws`) is an error, not a silent external. */
const browserOnly = {
  name: 'moat-browser-only',
  setup(b) {
    b.onResolve({ filter: /^(node:.*|ws)$/ }, (args) => {
      const shim = SHIMS[args.path];
      if (shim) return { path: join(shims, shim) };
      return { errors: [{ text: `${args.path} (imported by ${args.importer}) has no place in the browser bundle` }] };
    });
  },
};

const options = (minify) => ({
  entryPoints: [join(root, 'src', 'client', 'browser.ts')],
  bundle: true, format: 'esm', platform: 'browser', target: 'es2020', minify, write: false, metafile: true,
  legalComments: 'none', inject: [join(shims, 'buffer.mjs')], plugins: [browserOnly], logLevel: 'silent',
  outfile: 'moat-client.js',
});

/** Builds both forms; writes the minified one to `outfile`. Returns the sizes in bytes and the inputs. */
export async function buildBrowser(outfile = join(root, 'dist', 'browser', 'moat-client.min.js')) {
  const [raw, min] = await Promise.all([build(options(false)), build(options(true))]);
  const code = min.outputFiles[0].contents;
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(outfile, code);
  return {
    outfile,
    raw: raw.outputFiles[0].contents.length,
    min: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    inputs: Object.keys(min.metafile.inputs),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await buildBrowser();
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB (${n} B)`;
  process.stdout.write(`${s.outfile}\n  raw      ${kb(s.raw)}\n  min      ${kb(s.min)}\n  min+gzip ${kb(s.gzip)}\n`);
}

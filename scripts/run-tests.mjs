// Runs every compiled test file under .build/test with Node's test runner (Node 20 takes no globs).
// Besides the spec reporter on stdout, results go to .build/test-results.jsonl for docs/conformance.md.
//
// A failing test must never hang the run (CI has a hard limit): every test has a default timeout, the
// whole run has a watchdog (a file whose leaked handles keep its process alive fails the run at the
// watchdog, instead of CI's limit), and whatever the tests left behind in the runner's process group
// is killed at the end. Tests clean up after themselves (t.after) so that this never fires.
// Not --test-force-exit: on Node 20 it once ended a file's process in the middle of a describe block,
// and the tests not yet run were simply missing from a green run (seen: 21 codec tests).
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const TEST_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = Number(process.env.TEST_RUN_TIMEOUT_MS ?? 20 * 60_000);
if (!Number.isFinite(RUN_TIMEOUT_MS) || RUN_TIMEOUT_MS < 1000) {
  console.error(`run-tests: TEST_RUN_TIMEOUT_MS must be a number of milliseconds ≥ 1000, not ${process.env.TEST_RUN_TIMEOUT_MS}`);
  process.exit(2);
}

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
// Tests that need OpenSSL in FIPS mode run in a process of their own, started with the FIPS provider
// (FIPS_OPENSSL_CNF — not MOAT_…: the broker refuses unknown MOAT_ variables — the openssl.cnf from
// scripts/fips-provider.sh; .ci/run builds it). Without it they
// run with the others and skip themselves.
const FIPS_FILE = /tls-fips-on\.test\.js$/;
const fipsCnf = process.env.FIPS_OPENSSL_CNF;
const phases = fipsCnf
  ? [
    { files: selected.filter((f) => !FIPS_FILE.test(f)), flags: [], results: '.build/test-results.jsonl' },
    { files: selected.filter((f) => FIPS_FILE.test(f)), flags: [`--openssl-config=${fipsCnf}`, '--enable-fips'], results: '.build/test-results-fips.jsonl' },
  ]
  : [{ files: selected, flags: [], results: '.build/test-results.jsonl' }];

let child;
const reap = () => {
  if (!child) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is already gone */ }
};
const watchdog = setTimeout(() => {
  console.error(`\nrun-tests: the test run exceeded ${RUN_TIMEOUT_MS / 60_000} minutes; killing it`);
  reap();
  process.exit(1);
}, RUN_TIMEOUT_MS);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.on(signal, () => { reap(); process.exit(code); });

function run(phase) {
  child = spawn(process.execPath, [
    ...phase.flags, '--test', `--test-timeout=${TEST_TIMEOUT_MS}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/results-reporter.mjs', `--test-reporter-destination=${phase.results}`,
    ...phase.files,
  ], { stdio: 'inherit', detached: true }); // its own process group: everything it starts can be reaped
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    reap();
    resolve(code ?? (signal ? 1 : 0));
  }));
}

// Results of this run only: a FIPS file left by an earlier run must not be merged into this one.
for (const phase of phases) rmSync(phase.results, { force: true });
let status = 0;
for (const phase of phases) {
  if (phase.files.length === 0) continue;
  const code = await run(phase);
  if (code !== 0) status = code;
}
if (phases.length > 1 && phases[0].files.length > 0 && existsSync(phases[1].results)) {
  appendFileSync(phases[0].results, readFileSync(phases[1].results));
}
clearTimeout(watchdog);
process.exit(status);

// Runs every compiled test file under .build/test with Node's test runner (Node 20 takes no globs).
// Besides the spec reporter on stdout, results go to .build/test-results.jsonl for docs/conformance.md.
//
// A failing test must never hang the run (CI has a hard limit): every test has a default timeout, a
// file's process exits when its tests are done even if a broker child or a reconnecting client is
// still holding it open (--test-force-exit), the whole run has a watchdog, and whatever the tests
// left behind in the runner's process group is killed at the end.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const TEST_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = Number(process.env.MOAT_TEST_RUN_TIMEOUT_MS ?? 30 * 60_000);

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
const child = spawn(process.execPath, [
  '--test', '--test-force-exit', `--test-timeout=${TEST_TIMEOUT_MS}`,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/results-reporter.mjs', '--test-reporter-destination=.build/test-results.jsonl',
  ...selected,
], { stdio: 'inherit', detached: true }); // its own process group: everything it starts can be reaped

const reap = () => {
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is already gone */ }
};
const watchdog = setTimeout(() => {
  console.error(`\nrun-tests: the test run exceeded ${RUN_TIMEOUT_MS / 60_000} minutes; killing it`);
  reap();
  process.exit(1);
}, RUN_TIMEOUT_MS);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { reap(); process.exit(130); });

child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  reap();
  process.exit(code ?? (signal ? 1 : 0));
});

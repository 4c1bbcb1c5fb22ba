/**
 * `moat lab` as a process (the CLI of this build, a real run: broker child, delay proxy, every mode):
 * --quick within the 30 s with a table of every mode, --out's three files, --json, recommend
 * from a saved report; usage errors; the progress line's two forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labOptions, progressWriter } from '../../src/cli/lab-command.js';
import { LAB_KEYS, LAB_MODES, type LabReport } from '../../src/lab/index.js';
import { rowLabel } from '../../src/lab/format.js';
import { assertSelfContained, assertWellFormed, inChromium } from '../lab/html-check.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'moat-lab-cli-'));

interface Run { code: number | null; out: string; err: string; ms: number }

function moat(args: string[], timeoutMs = 90_000): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  // A run that hangs fails its test instead of the whole file.
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(guard);
    resolve({ code, out, err, ms: performance.now() - started });
  }));
}

/** "mode key" of each row of the Markdown's first table. */
function tableRows(md: string): string[] {
  const table = md.split('\n## ')[1] ?? '';
  return table.split('\n').filter((l) => l.startsWith('|')).slice(2)
    .map((l) => l.split('|').map((c) => c.trim()))
    .map((c) => (c[2] && c[2] !== '—' ? `${c[1]} ${c[2]}` : c[1]!));
}

const every = LAB_MODES.flatMap((m) => (['plain', 'tls13-psk', 'tls12-psk'].includes(m) ? [m] : LAB_KEYS.map((k) => `${m} ${k}`)));
const out = join(dir, 'report');

test('moat lab --quick --out DIR: under 30 s, a table row for every mode and key, report.html/.json/.md', async (t) => {
  const run = await moat(['lab', '--quick', '--out', out]);
  t.diagnostic(`moat lab --quick --out: ${(run.ms / 1000).toFixed(1)} s wall clock (process start to exit)`);
  assert.equal(run.code, 0, run.err);
  assert.ok(run.ms < 30_000, `moat lab --quick took ${(run.ms / 1000).toFixed(1)} s (issue 8: under 30 s)`);
  assert.deepEqual(tableRows(run.out), every);
  // Progress on stderr (not a TTY here: a line per phase) and the files named at the end.
  assert.match(run.err, /^tls13-full ecdsa-p256: /m);
  assert.match(run.err, /wrote .*report\.html, report\.json and report\.md/);
  for (const f of ['report.html', 'report.json', 'report.md']) assert.ok(existsSync(join(out, f)), f);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as LabReport;
  assert.equal(report.version, 1);
  assert.equal(report.quick, true);
  assert.deepEqual(report.results.map(rowLabel), every);
  // --quick: memory over 200 connections (fewer give no usable figure), for the first key type and keyless rows.
  assert.equal(report.method?.memConnections, 200);
  assert.equal(report.method?.memKey, 'ecdsa-p256');
  for (const r of report.results) {
    assert.equal(r.memoryPerConnection !== undefined, r.key === undefined || r.key === 'ecdsa-p256', rowLabel(r));
  }
  assert.match(run.out, /for ecdsa-p256 and keyless rows only/);
  assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), run.out);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assertWellFormed(html);
  assertSelfContained(html);
  const seen = await inChromium(html);
  assert.deepEqual(seen.mainRows, every);
  assert.equal(seen.charts.length, 4);
  for (const c of seen.charts) assert.ok(c.marks > 0, `${c.title} draws marks`);
  assert.deepEqual(seen.requests, []);
});

test('moat lab --json prints a report that parses, with the modes and keys asked for', async () => {
  const run = await moat(['lab', '--quick', '--json', '--modes', 'plain,tls13-full', '--keys', 'ed25519', '--rtt', '0,100']);
  assert.equal(run.code, 0, run.err);
  const report = JSON.parse(run.out) as LabReport;
  assert.deepEqual(report.results.map(rowLabel), ['plain', 'tls13-full ed25519']);
  assert.deepEqual(report.rtts, [0, 100]);
  assert.deepEqual(report.results[1]!.setup.map((s) => s.rttMs), [0, 100]);
});

test('moat lab recommend --report: per-mode daily costs and a recommendation; --json parses', async () => {
  const report = join(out, 'report.json');
  assert.ok(existsSync(report), 'the --out test ran first');
  const device = ['--ram-kb', '32', '--cpu-mhz', '120', '--rtt-ms', '600', '--reconnects-per-day', '48', '--msgs-per-day', '96', '--payload-bytes', '24'];
  const run = await moat(['lab', 'recommend', ...device, '--report', report]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /^Recommended: tls1[23]-psk$/m, run.out);
  for (const row of every) assert.ok(run.out.includes(row), row);
  const json = await moat(['lab', 'recommend', ...device.slice(0, 6), '--reconnects-per-day', '500', '--msgs-per-day', '500', '--payload-bytes', '24', '--ram-kb', '4096', '--report', report, '--json']);
  assert.equal(json.code, 0, json.err);
  const rec = JSON.parse(json.out) as { recommended: { mode: string }; reasons: string[] };
  assert.notEqual(rec.recommended.mode, 'plain');
  assert.ok(rec.reasons.length > 0);
});

test('usage errors exit 2 with MOAT_ERR_CONFIG before anything runs', async () => {
  writeFileSync(join(dir, 'not-a-report.json'), '{"hello":1}');
  writeFileSync(join(dir, 'incomplete-report.json'), JSON.stringify({ version: 1, results: [{ mode: 'tls13-full' }], environment: {}, rtts: [0] }));
  const cases = [
    ['lab', '--modes', 'tls14-full'], ['lab', '--keys', 'dsa'], ['lab', '--repeat', '0'], ['lab', '--rtt', '0,x'],
    ['lab', '--cafile', 'ca.crt'], ['lab', '--url', 'http://x'], ['lab', '--url', 'mqtt://127.0.0.1:1', '--insecure'],
    ['lab', '--url', 'mqtts://127.0.0.1:1', '--psk', 'zz', '--psk-identity', 'a'], ['lab', '--bogus'], ['lab', 'frobnicate'],
    ['lab', '--url', 'mqtt://alice:s3cret@127.0.0.1:1'], ['lab', '--rtt', '0,10001'], ['lab', '--rtt', '50,'], ['lab', '--rtt', ','], ['lab', '-u', 'alice', '-P', 's3cret'],
    ['lab', '--url', 'ws://127.0.0.1:1'], ['lab', '--url', 'mqtts://127.0.0.1:1', '-P', 's3cret', '--cert', 'only-cert.pem'],
    ['lab', 'recommend', '--ram-kb', '64', '--cpu-mhz', '80', '--rtt-ms', '50', '--reconnects-per-day', '1', '--msgs-per-day', '1', '--payload-bytes', '1', '--report', 'incomplete-report.json'],
    ['lab', 'recommend', '--ram-kb', '64'],
    ['lab', 'recommend', '--ram-kb', '64', '--cpu-mhz', '80', '--rtt-ms', '', '--reconnects-per-day', '1', '--msgs-per-day', '1', '--payload-bytes', '1', '--report', 'x'],
    ['lab', 'recommend', '--ram-kb', '64', '--cpu-mhz', '80', '--rtt-ms', '50', '--reconnects-per-day', '1', '--msgs-per-day', '1', '--payload-bytes', '1', '--report', 'not-a-report.json'],
    ['lab', 'recommend', '--ram-kb', '64', '--cpu-mhz', '80', '--rtt-ms', '50', '--reconnects-per-day', '1', '--msgs-per-day', '1', '--payload-bytes', '1', '--qos', '2', '--report', 'x'],
  ];
  for (const args of cases) {
    const run = await moat(args, 20_000);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.err}`);
    if (args[1] !== '--bogus') assert.match(run.err, /\(MOAT_ERR_CONFIG\)\n$/, args.join(' '));
    assert.equal(run.out, '');
    assert.doesNotMatch(run.err, /s3cret/, 'a password in --url is never echoed');
  }
  const help = await moat(['lab', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /moat lab recommend --ram-kb N/);
});

test('--url flags as moat pub takes them: -u/-P become the CONNECT login, --cafile/--cert/--key/--psk the TLS side, and the dev profile serves a local URL', () => {
  const d = mkdtempSync(join(tmpdir(), 'moat-lab-flags-'));
  writeFileSync(join(d, 'ca.pem'), 'CA');
  const o = labOptions({ url: 'mqtts://broker.example:8883', username: 'alice', pw: 's3cret', cafile: join(d, 'ca.pem'), psk: '00ff', 'psk-identity': 'dev1' }, d);
  assert.equal(o.url, 'mqtts://broker.example:8883');
  assert.equal(o.login?.username, 'alice');
  assert.equal(o.login?.password?.toString(), 's3cret');
  assert.equal(String(o.tls?.ca), 'CA');
  assert.deepEqual([o.tls?.pskHex, o.tls?.pskIdentity, o.tls?.insecure], ['00ff', 'dev1', undefined]);
  // A local URL: the dev profile (./.moat/client.json) names the CA and the device certificate, as for moat pub.
  mkdirSync(join(d, '.moat'));
  for (const f of ['dev-ca.crt', 'dev.crt', 'dev.key']) writeFileSync(join(d, '.moat', f), f);
  writeFileSync(join(d, '.moat', 'client.json'), JSON.stringify({ ca: 'dev-ca.crt', cert: 'dev.crt', key: 'dev.key' }));
  const local = labOptions({ url: 'mqtts://localhost:8883' }, d);
  assert.deepEqual([String(local.tls?.ca), String(local.tls?.cert), String(local.tls?.key)], ['dev-ca.crt', 'dev.crt', 'dev.key']);
  assert.equal(local.login, undefined);
  assert.equal(labOptions({ url: 'mqtts://localhost:8883', insecure: true }, d).tls?.insecure, true);
  rmSync(d, { recursive: true, force: true });
});

test('moat lab recommend without --report measures first (a --quick run) and recommends from it', async () => {
  const run = await moat(['lab', 'recommend', '--ram-kb', '256', '--cpu-mhz', '240', '--rtt-ms', '80', '--reconnects-per-day', '24',
    '--msgs-per-day', '1440', '--payload-bytes', '64', '--json']);
  assert.equal(run.code, 0, run.err);
  const rec = JSON.parse(run.out) as { recommended: { mode: string }; estimates: Array<{ mode: string }>; reasons: string[] };
  assert.ok(LAB_MODES.includes(rec.recommended.mode as never), rec.recommended.mode);
  assert.ok(rec.reasons.length > 0);
  assert.equal(rec.estimates.length, every.length, 'an estimate for every measured row');
  // The run's progress went to stderr while it measured.
  assert.match(run.err, /tls13-full ecdsa-p256: /);
});

test('progress: on a terminal one line rewritten in place and cleared at the end; else a line per phase', () => {
  let tty = '';
  const p = progressWriter((s) => { tty += s; }, true, 30);
  p.update('tls13-full ecdsa-p256: setup at 50 ms RTT 3/10');
  p.update('tls13-full ecdsa-p256: done');
  p.done();
  assert.equal(tty, '\r\x1b[Ktls13-full ecdsa-p256: setup…\r\x1b[Ktls13-full ecdsa-p256: done\r\x1b[K');
  let log = '';
  const q = progressWriter((s) => { log += s; }, false);
  for (let i = 1; i <= 3; i++) q.update(`plain: setup at 0 ms RTT ${i}/3`);
  q.update('plain: CPU 1/2');
  q.done();
  assert.equal(log, 'plain: setup at 0 ms RTT 1/3\nplain: CPU 1/2\n');
  // A terminal reporting no width (a pty without a size) is not clipped to nothing.
  let zero = '';
  progressWriter((s) => { zero += s; }, true, 0).update('plain: setup at 0 ms RTT 1/2');
  assert.equal(zero, '\r\x1b[Kplain: setup at 0 ms RTT 1/2');
});

test('Ctrl-C during a run: exit 130, "interrupted", and no temporary keys (CA, server keys, PSK, ticket key) left behind', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'moat-lab-sigint-'));
  const child = spawn(process.execPath, [MAIN, 'lab', '--quick'], { cwd: dir, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  // Once the keys exist and the broker child runs, measuring has begun.
  for (let i = 0; i < 300 && !/tls|plain/.test(err.split('\n').slice(1).join('\n')); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(readdirSync(tmp).some((n) => n.startsWith('moat-lab-')), `the run's key folder exists: ${err}`);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, err);
  assert.match(err, /moat lab: interrupted/);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('moat-lab-')), [], 'keys, PSK and ticket key removed');
  rmSync(tmp, { recursive: true, force: true });
});

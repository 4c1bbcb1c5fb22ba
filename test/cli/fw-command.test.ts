/**
 * `moat fw` as processes (the CLI of this build) against Moat's broker in-process on a real socket:
 * keygen, sign (checked by the device-side checkManifest), trust create, push (retained chunks and
 * manifest; a campaign followed to an agent's install), status, the wolfMQTT round trip, usage errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/client/index.js';
import {
  FwErr, checkManifest, chunkTopic, decodeChunk, encodeEnvelope, loadPublicKey, loadTrustFile, manifestTopic, parseEnvelope,
  parseTrustList, releaseIdOf, type TrustList,
} from '../../src/firmware/index.js';
import { progressView, statusTable, summaryTable } from '../../src/cli/fw-progress-view.js';
import type { CampaignSnapshot } from '../../src/firmware/index.js';
import { startBroker, type TestBroker } from '../broker/helpers.js';
import { issue, makeCa, startTlsBroker, writeFiles } from '../support/test-pki.js';
import { retainedUnder } from '../firmware/support.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'moat-fw-cli-'));
let broker: TestBroker;
const children: ChildProcess[] = [];

before(async () => {
  broker = await startBroker();
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await broker.close();
});

interface Run { code: number | null; out: string; err: string }

/** Runs `moat ARGS`; `onOutput` sees stdout and stderr as they grow (to act once the process is ready). */
function moat(args: string[], onOutput?: (out: string, err: string) => void): Promise<Run> & { child: ChildProcess } {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  // A command waiting for something that never comes fails its test instead of hanging the run.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.on('close', () => clearTimeout(guard));
  let out = '';
  let err = '';
  const done = new Promise<Run>((resolve) => {
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); onOutput?.(out, err); });
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); onOutput?.(out, err); });
    child.on('close', (code) => resolve({ code, out, err }));
  });
  return Object.assign(done, { child });
}

const url = (): string => `mqtt://127.0.0.1:${broker.port}`;
const image = randomBytes(20_000);
writeFileSync(join(dir, 'image.bin'), image);

const retained = (filter: string): Promise<Map<string, Buffer>> => retainedUnder(url(), filter);

test('fw keygen writes a 0600 private key and a public key; refuses to overwrite without --force', async () => {
  const r = await moat(['fw', 'keygen', '--out', 'keys', '--name', 'ops']);
  assert.equal(r.code, 0, r.err);
  assert.equal(statSync(join(dir, 'keys', 'ops.key')).mode & 0o777, 0o600);
  const pub = await loadPublicKey(join(dir, 'keys', 'ops.pub'));
  assert.equal(pub.alg, 'ed25519');
  assert.match(r.out, new RegExp(pub.keyId));
  const again = await moat(['fw', 'keygen', '--out', 'keys', '--name', 'ops']);
  assert.equal(again.code, 1);
  assert.match(again.err, new RegExp(FwErr.key));
  assert.equal((await moat(['fw', 'keygen', '--out', 'keys', '--name', 'ops', '--force'])).code, 0);
  const ec = await moat(['fw', 'keygen', '--alg', 'ecdsa-p256', '--out', 'keys', '--name', 'ec']);
  assert.equal(ec.code, 0, ec.err);
  assert.equal((await loadPublicKey(join(dir, 'keys', 'ec.pub'))).alg, 'ecdsa-p256-sha256');
});

let trust: TrustList;
let releaseId: string;

test('fw sign produces a manifest envelope that the device-side checkManifest accepts', async () => {
  const r = await moat(['fw', 'sign', '--key', 'keys/ops.key', '--product', 'thermo', '--version', '1.2.0', '--device', 'dev-1,dev-2',
    '--min-version', '1.0', '--expires', '2d', '--chunk-size', '4096', 'image.bin', '-o', 'manifest.json']);
  assert.equal(r.code, 0, r.err);
  trust = await loadTrustFile(join(dir, 'keys', 'ops.pub'));
  const envelope = readFileSync(join(dir, 'manifest.json'));
  const checked = checkManifest({ manifestEnvelope: envelope, trust, product: 'thermo', deviceId: 'dev-1', runningVersion: '1.1' });
  assert.deepEqual(checked.manifest.target, { devices: ['dev-1', 'dev-2'] });
  assert.equal(checked.manifest.chunks.length, 5);
  assert.equal(checked.manifest.minVersion, '1.0');
  const days = (Date.parse(checked.manifest.expiresAt) - Date.parse(checked.manifest.createdAt)) / 86_400_000;
  assert.equal(days, 2);
  releaseId = checked.releaseId;
  assert.match(r.err, new RegExp(releaseId));
  assert.throws(() => checkManifest({ manifestEnvelope: envelope, trust, product: 'thermo', deviceId: 'dev-9', runningVersion: '1.1' }), { code: FwErr.target });
});

test('fw trust create: an unsigned pin, and a signed update the devices accept', async () => {
  const pin = await moat(['fw', 'trust', 'create', '--key', 'keys/ops.pub', '-o', 'trust.json']);
  assert.equal(pin.code, 0, pin.err);
  const list = parseTrustList(readFileSync(join(dir, 'trust.json')));
  assert.deepEqual(list.keys.map((k) => k.keyId), trust.keys.map((k) => k.keyId));
  const ec = await loadPublicKey(join(dir, 'keys', 'ec.pub'));
  const upd = await moat(['fw', 'trust', 'create', '--key', 'keys/ops.pub', '--key', 'keys/ec.pub', '--revoke', ec.keyId,
    '--sequence', '2', '--sign-key', 'keys/ops.key', '-o', 'trust-2.json']);
  assert.equal(upd.code, 0, upd.err);
  const env = parseEnvelope(readFileSync(join(dir, 'trust-2.json')));
  const next = parseTrustList(Buffer.from(env.payload, 'base64'));
  assert.deepEqual([next.sequence, next.keys.length, next.revoked], [2, 2, [ec.keyId]]);
});

test('fw push --no-wait: every chunk and then the manifest are retained on the broker', async () => {
  const r = await moat(['fw', 'push', '-L', url(), '--manifest', 'manifest.json', 'image.bin', '--no-wait']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`release ${releaseId}`));
  const kept = await retained('fw/thermo/#');
  assert.deepEqual(kept.get(manifestTopic('thermo')), encodeEnvelope(parseEnvelope(readFileSync(join(dir, 'manifest.json')))));
  const parts = [0, 1, 2, 3, 4].map((i) => decodeChunk(kept.get(chunkTopic('thermo', releaseId, i))!, i).data);
  assert.deepEqual(Buffer.concat(parts), image);
});

test('fw push follows a campaign: an agent installs it (exit 0); a device that never answers times out (exit 1)', async () => {
  const sign = await moat(['fw', 'sign', '--key', 'keys/ops.key', '--product', 'thermo', '--version', '1.3.0', 'image.bin', '-o', 'm13.json']);
  assert.equal(sign.code, 0, sign.err);
  const installed = join(dir, 'installed.txt');
  const agent = moat(['fw', 'agent', '-L', url(), '--product', 'thermo', '--device', 'dev-1', '--trust', 'trust.json', '--state', 'state-1',
    '--running', '1.2.0', '--exec', `cp "$1" ${JSON.stringify(installed)} && echo`]);
  try {
    const push = await moat(['fw', 'push', '-L', url(), '--manifest', 'm13.json', 'image.bin', '--devices', 'dev-1', '--timeout', '30s']);
    assert.equal(push.code, 0, `${push.out}\n${push.err}`);
    assert.match(push.out, /dev-1\s+installed\s+1\.3\.0/);
    assert.match(push.out, /1 installed, 0 failed, 0 timed out/);
    assert.deepEqual(readFileSync(installed), image);

    const status = await moat(['fw', 'status', '-L', url(), '--product', 'thermo']);
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, /^manifest: release [0-9a-f]{32}, version 1\.3\.0/);
    assert.match(status.out, /DEVICE\s+STATE\s+PERCENT\s+VERSION\s+RUNNING/);
    assert.match(status.out, /dev-1\s+installed\s+100%\s+1\.3\.0\s+1\.3\.0/);
    const json = await moat(['fw', 'status', '-L', url(), '--product', 'thermo', '--json']);
    assert.equal(JSON.parse(json.out.trim().split('\n')[0]!).device, 'dev-1');

    const late = await moat(['fw', 'push', '-L', url(), '--manifest', 'm13.json', 'image.bin', '--devices', 'dev-1,ghost', '--timeout', '1s']);
    assert.equal(late.code, 1);
    assert.match(late.out, /ghost\s+timed out\s+waiting/);
    assert.match(late.out, /1 installed, 0 failed, 1 timed out/);
  } finally {
    agent.child.kill('SIGTERM');
    const a = await agent;
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /installed 1\.3\.0/);
  }
});

test('fw push --format wolfmqtt → fw agent --format wolfmqtt --trust: received, verified, saved (round trip)', async () => {
  const out = join(dir, 'wolf.bin');
  let pushed: Promise<Run> | undefined;
  const agent = await moat(['fw', 'agent', '--format', 'wolfmqtt', '-L', url(), '--trust', 'keys/ec.pub', '--out', 'wolf.bin', '-t', 'wolf/a'], (_o, err) => {
    if (err.includes('waiting for firmware')) pushed ??= moat(['fw', 'push', '--format', 'wolfmqtt', '-L', url(), '--sign-key', 'keys/ec.key', '-t', 'wolf/a', 'image.bin']);
  });
  assert.equal(agent.code, 0, agent.err);
  assert.equal((await pushed)?.code, 0);
  assert.deepEqual(readFileSync(out), image);
  assert.match(agent.out, /with the pinned key/);
  assert.doesNotMatch(agent.err, /WARNING/);
});

test('fw agent --format wolfmqtt without --trust warns (integrity only); with another pinned key it refuses and saves nothing', async () => {
  const push = await moat(['fw', 'push', '--format', 'wolfmqtt', '-L', url(), '--sign-key', 'keys/ec.key', '-t', 'wolf/b', '-r', 'image.bin']);
  assert.equal(push.code, 0, push.err);
  const open = await moat(['fw', 'agent', '--format', 'wolfmqtt', '-L', url(), '--out', 'wolf-b.bin', '-t', 'wolf/b']);
  assert.equal(open.code, 0, open.err);
  assert.match(open.err, /WARNING: wolfMQTT format without --trust.*integrity only/);
  assert.deepEqual(readFileSync(join(dir, 'wolf-b.bin')), image);

  const other = await moat(['fw', 'keygen', '--alg', 'ecdsa-p256', '--out', 'keys', '--name', 'other']);
  assert.equal(other.code, 0);
  const refused = await moat(['fw', 'agent', '--format', 'wolfmqtt', '-L', url(), '--trust', 'keys/other.pub', '--out', 'wolf-c.bin', '-t', 'wolf/b']);
  assert.equal(refused.code, 1);
  assert.match(refused.err, new RegExp(FwErr.unknownSigner));
  assert.equal(existsSync(join(dir, 'wolf-c.bin')), false);
  // An Ed25519 key cannot sign the wolfMQTT format.
  const ed = await moat(['fw', 'push', '--format', 'wolfmqtt', '-L', url(), '--sign-key', 'keys/ops.key', '-t', 'wolf/d', 'image.bin']);
  assert.equal(ed.code, 1);
  assert.match(ed.err, new RegExp(FwErr.key));
});

test('over TLS the connection flags are moat pub\'s: --cafile, --cert, --key (the TLS key) with -L or -h/-p; the signing key is --sign-key', async (t) => {
  const ca = await makeCa('fw test CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  const client = await issue(ca, { cn: 'pusher', role: 'client' });
  const files = await writeFiles(dir, { 'ca.crt': ca.pem, 'server.crt': server.pem, 'server.key': server.keyPem, 'client.crt': client.pem, 'client.key': client.keyPem });
  // The broker requires a client certificate: a command whose --key did not reach TLS cannot connect.
  const tls = await startTlsBroker({ certFile: files['server.crt'], keyFile: files['server.key'], caFile: files['ca.crt'], clientCert: 'required' });
  t.after(() => tls.close());
  const conn = ['--cafile', 'ca.crt', '--cert', 'client.crt', '--key', 'client.key'];
  const push = await moat(['fw', 'push', '--format', 'wolfmqtt', '-L', `mqtts://localhost:${tls.port}`, ...conn, '--sign-key', 'keys/ec.key', '-t', 'wolf/tls', '-r', 'image.bin']);
  assert.equal(push.code, 0, push.err);
  const agent = await moat(['fw', 'agent', '--format', 'wolfmqtt', '-h', '127.0.0.1', '-p', String(tls.port), ...conn, '-u', 'dev', '-P', 'pw',
    '--trust', 'keys/ec.pub', '--out', 'wolf-tls.bin', '-t', 'wolf/tls']);
  assert.equal(agent.code, 0, agent.err);
  assert.deepEqual(readFileSync(join(dir, 'wolf-tls.bin')), image);
  const status = await moat(['fw', 'status', '-L', `mqtts://127.0.0.1:${tls.port}`, ...conn, '--product', 'thermo']);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /manifest: none retained/);
  const noCert = await moat(['fw', 'status', '-L', `mqtts://127.0.0.1:${tls.port}`, '--cafile', 'ca.crt', '--product', 'thermo']);
  assert.equal(noCert.code, 1, 'the broker refuses a client without a certificate');
});

test('fw push refuses an image that is not the signed one (exit 1, nothing retained for it)', async () => {
  writeFileSync(join(dir, 'other.bin'), randomBytes(20_000));
  const sign = await moat(['fw', 'sign', '--key', 'keys/ops.key', '--product', 'other', '--version', '1.0', 'image.bin', '-o', 'other.json']);
  assert.equal(sign.code, 0, sign.err);
  const r = await moat(['fw', 'push', '-L', url(), '--manifest', 'other.json', 'other.bin', '--no-wait']);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(FwErr.image));
  assert.equal((await retained('fw/other/#')).size, 0);
  assert.equal(releaseIdOf(Buffer.from(parseEnvelope(readFileSync(join(dir, 'other.json'))).payload, 'base64')).length, 32);
});

test('usage errors exit 2 with one line', async () => {
  const cases: string[][] = [
    ['fw', 'bogus'],
    ['fw', 'keygen', '--alg', 'rsa'],
    ['fw', 'sign', '--key', 'keys/ops.key', 'image.bin'],
    ['fw', 'sign', '--key', 'keys/ops.key', '--product', 'p', '--version', '1', '--expires', 'soon', 'image.bin'],
    ['fw', 'push', '-L', url(), '--manifest', 'manifest.json', 'image.bin', '--devices', 'a', '--expect', '1'],
    ['fw', 'push', '-L', url(), 'image.bin'],
    ['fw', 'push', '-L', url(), '--manifest', 'manifest.json', '--sign-key', 'keys/ops.key', 'image.bin'],
    // --key is the TLS client key, as in moat pub: with a plain mqtt:// URL it is an error, and alone too.
    ['fw', 'push', '-L', url(), '--manifest', 'manifest.json', '--key', 'keys/ops.key', 'image.bin'],
    ['fw', 'status', '-L', `mqtts://127.0.0.1:${broker.port}`, '--product', 'thermo', '--key', 'keys/ops.key'],
    ['fw', 'push', '--format', 'wolfmqtt', '-L', url(), '--cert-key', 'keys/ec.key', 'image.bin'],
    ['fw', 'push', '-L', url(), '--manifest', 'manifest.json', 'image.bin', '--timeout', '0'],
    ['fw', 'push', '--format', 'wolfmqtt', '-L', url(), 'image.bin'],
    ['fw', 'status', '-L', url()],
    ['fw', 'agent', '-L', url(), '--product', 'p', '--device', 'a/b', '--trust', 'trust.json', '--state', 's'],
    ['fw', 'agent', '--format', 'wolfmqtt', '-L', url()],
    ['fw', 'trust', 'create', '--key', 'keys/ops.pub', '--revoke', 'nothex'],
    ['fw', 'keygen', '--unknown'],
  ];
  for (const args of cases) {
    const r = await moat(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
  }
  const help = await moat(['fw', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /moat fw push/);
});

test('the progress view: on a terminal one table redrawn in place; otherwise one line per device change', () => {
  const snap = (percent: number): CampaignSnapshot => ({
    releaseId: '0123456789abcdef0123456789abcdef', version: '1.3.0', installed: 0, failed: 0, remaining: 2, malformed: 0, elapsedMs: 2000,
    devices: [
      { deviceId: 'd1', current: true, done: false, status: { state: 'downloading', percent, release: '0123456789abcdef0123456789abcdef', version: '1.3.0', at: '' } },
      { deviceId: 'd2', current: false, done: false },
    ],
  });
  let tty = '';
  const view = progressView((s) => { tty += s; }, true);
  view.update(snap(10));
  const first = tty;
  view.update(snap(55));
  assert.equal(first.split('\n').length - 1, 4, 'header, two devices, the totals line');
  assert.equal(tty.slice(first.length, first.length + 7), '\x1b[4F\x1b[J', 'back up the 4 lines drawn, clear, draw again');
  assert.match(tty.slice(first.length), /d1\s+downloading\s+55%\s+1\.3\.0\n/);
  let lines = '';
  const plain = progressView((s) => { lines += s; }, false);
  plain.update(snap(10));
  plain.update(snap(10));
  plain.update(snap(55));
  assert.equal(lines, 'd1 downloading 10% 1.3.0\nd2 waiting\nd1 downloading 55% 1.3.0\n');
});

test('device ids and status fields are printed without C0/C1 control characters (no terminal escapes from a status)', () => {
  const at = '\x1b]0;owned\x07\x1b[2J';
  const status = { state: 'failed' as const, code: 'MOAT_ERR_FW_CHUNK\x9b31m', reason: 'r\x1b[1A', at };
  const table = statusTable([['dev\x1b[31m', status]]);
  const summary = summaryTable({
    releaseId: '0123456789abcdef0123456789abcdef', version: '2.0', installed: [], failed: [{ deviceId: 'dev\x1b[31m', code: status.code, reason: status.reason }],
    timedOut: [], pending: [], missing: 0, malformed: 0, complete: true, devices: [], elapsedMs: 0,
  } as unknown as Parameters<typeof summaryTable>[0]);
  for (const text of [table, summary]) {
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, JSON.stringify(text));
    assert.match(text, /dev\?\[31m/);
  }
});

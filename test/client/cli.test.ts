/** `moat pub` / `moat sub` as processes (.build/src/cli/main.js) against Moat's broker over TLS and Mosquitto. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { ensureDevPki, type DevPki } from '../../src/security/dev-pki.js';

// Next to this test's build (.build, or a helper's own outDir), not a fixed folder.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let dir: string;
let pki: DevPki;
let other: DevPki;
let broker: Broker;
let tls: RunningListener;
let tcp: RunningListener;

interface Run { code: number | null; out: string; err: string }

function moat(args: string[], opts: { cwd?: string; input?: string; onLine?: (line: string) => void } = {}): Promise<Run> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd ?? dir });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      const before = out;
      out += c.toString();
      if (opts.onLine) for (const l of out.slice(before.lastIndexOf('\n') + 1).split('\n').slice(0, -1)) opts.onLine(l);
    });
    p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    p.on('close', (code) => { if (process.env.DEBUG_CLI) console.error('[moat]', args.join(' '), code, JSON.stringify(out), err); done({ code, out, err }); });
    p.stdin.end(opts.input ?? '');
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moat-cli-client-'));
  pki = await ensureDevPki(join(dir, '.moat', 'pki')); // the dev profile `moat broker` creates
  other = await ensureDevPki(join(dir, 'other'));
  broker = new Broker({ sysInterval: 0 });
  tls = await startListener(broker, { url: 'mqtts://127.0.0.1:0', tls: { cert: pki.cert, key: pki.key, minVersion: 'TLSv1.3' } });
  tcp = await startListener(broker, { url: 'mqtt://127.0.0.1:0' });
});
after(async () => {
  broker.shutdown();
  await Promise.all([tls.close(), tcp.close()]);
});

test('moat sub / moat pub over TLS with the dev CA picked up from ./.moat (the broker banner\'s command, -p of this run)', async () => {
  const port = String(tls.address.port);
  await moat(['pub', '-h', 'localhost', '-p', port, '--cafile', '.moat/pki/ca.crt', '-t', 'cli/ready', '-m', 'r', '-r', '-q', '1']);
  let sent: Promise<Run> | undefined;
  const sub = moat(['sub', '-L', `mqtts://localhost:${port}`, '-t', 'cli/#', '-v', '-C', '4'], {
    onLine: (l) => {
      // The retained message shows the subscription is in place: publish the rest.
      if (l === 'cli/ready r') {
        sent = Promise.all([
          moat(['pub', '-L', `mqtts://localhost:${port}`, '-t', 'cli/m', '-m', 'hello', '-q', '2']),
          moat(['pub', '-L', `mqtts://127.0.0.1:${port}`, '-t', 'cli/l', '-l', '-V', '311'], { input: 'one\ntwo\n' }),
        ]).then((r) => r[0]!);
      }
    },
  });
  const r = await sub;
  assert.equal(r.code, 0, r.err);
  assert.equal((await sent)?.code, 0);
  assert.deepEqual(r.out.trim().split('\n').sort(), ['cli/l one', 'cli/l two', 'cli/m hello', 'cli/ready r']);
});

test('moat pub -f with --format json and raw on the subscriber side (plain TCP, 3.1.1 and 5)', async () => {
  const port = String(tcp.address.port);
  const file = join(dir, 'payload.bin');
  writeFileSync(file, Buffer.from([0xff, 0x00, 0x41]));
  assert.equal((await moat(['pub', '-h', '127.0.0.1', '-p', port, '-t', 'fmt/bin', '-f', file, '-r', '-q', '1'])).code, 0);
  assert.equal((await moat(['pub', '-h', '127.0.0.1', '-p', port, '-t', 'fmt/txt', '-m', 'héllo', '-r', '-V', '311'])).code, 0);
  const json = await moat(['sub', '-h', '127.0.0.1', '-p', port, '-t', 'fmt/#', '-C', '2', '--format', 'json', '-q', '1']);
  const rows = json.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    .sort((a, b) => String(a.topic).localeCompare(String(b.topic)));
  assert.deepEqual(rows.map((x) => [x.topic, x.payload ?? x.payloadBase64, x.retain]),
    [['fmt/bin', Buffer.from([0xff, 0x00, 0x41]).toString('base64'), true], ['fmt/txt', 'héllo', true]]);
  const raw = await moat(['sub', '-h', '127.0.0.1', '-p', port, '-t', 'fmt/txt', '-C', '1', '--format', 'raw']);
  assert.equal(raw.out, 'héllo');
});

test('moat pub: TLS verification failure and connection refused are one clear line, exit status 1; usage errors exit 2', async () => {
  const bad = await moat(['pub', '-h', 'localhost', '-p', String(tls.address.port), '--cafile', join(dir, 'other', 'ca.crt'), '-t', 't', '-m', 'x']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^moat pub: TLS verification of mqtts:\/\/localhost:\d+ failed: .* \(MOAT_ERR_TLS_VERIFY\)\n$/);
  void other;
  const wrongHost = await moat(['pub', '-L', `mqtts://127.0.0.2:${tls.address.port}`, '--cafile', '.moat/pki/ca.crt', '-t', 't', '-m', 'x']);
  assert.equal(wrongHost.code, 1);
  const refused = await moat(['pub', '-h', '127.0.0.1', '-p', '1', '-t', 't', '-m', 'x']);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /connection refused \(MOAT_ERR_CONNECT_FAILED\)/);
  const usage = await moat(['pub', '-t', 't']);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /exactly one of -m, -f, -s, -l, -n/);
});

test('moat sub -W: exits after the time; status 27 when -C was not reached', async () => {
  const t0 = Date.now();
  const r = await moat(['sub', '-h', '127.0.0.1', '-p', String(tcp.address.port), '-t', 'quiet/#', '-W', '1', '-C', '5']);
  assert.equal(r.code, 27);
  assert.ok(Date.now() - t0 >= 1000);
});

test('moat pub / moat sub against Mosquitto on 127.0.0.1:1883', async () => {
  const topic = `moat-cli/${randomBytes(4).toString('hex')}`;
  const cwd = tmpdir(); // no dev profile here: plain MQTT on 1883
  let sent: Promise<Run> | undefined;
  const sub = moat(['sub', '-h', '127.0.0.1', '-t', `${topic}/#`, '-v', '-C', '2', '-V', '311'], {
    cwd,
    onLine: (l) => {
      if (l.endsWith(' ready')) sent = moat(['pub', '-h', '127.0.0.1', '-t', `${topic}/b`, '-m', 'second', '-q', '2'], { cwd });
    },
  });
  await moat(['pub', '-h', '127.0.0.1', '-t', `${topic}/a`, '-m', 'ready', '-r', '-q', '1'], { cwd });
  const r = await sub;
  assert.equal(r.code, 0, r.err);
  assert.equal((await sent)?.code, 0);
  assert.deepEqual(r.out.trim().split('\n'), [`${topic}/a ready`, `${topic}/b second`]);
  await moat(['pub', '-h', '127.0.0.1', '-t', `${topic}/a`, '-n', '-r'], { cwd }); // clear the retained message
});

test('moat pub -D: v5 properties from the command line reach the subscriber (json shows them)', async () => {
  const port = String(tcp.address.port);
  const pub = await moat(['pub', '-h', '127.0.0.1', '-p', port, '-t', 'props/t', '-m', 'p', '-r', '-q', '1',
    '-D', 'publish', 'user-property', 'site', 'lab', '-D', 'publish', 'content-type', 'text/plain',
    '-D', 'connect', 'user-property', 'who', 'cli']);
  assert.equal(pub.code, 0, pub.err);
  const sub = await moat(['sub', '-h', '127.0.0.1', '-p', port, '-t', 'props/t', '-C', '1', '--format', 'json',
    '-D', 'subscribe', 'subscription-identifier', '9']);
  const row = JSON.parse(sub.out) as { properties: Record<string, unknown> };
  assert.deepEqual(row.properties, { userProperties: [['site', 'lab']], contentType: 'text/plain', subscriptionIdentifiers: [9] });
  const bad = await moat(['pub', '-t', 't', '-m', 'x', '-D', 'publish', 'bogus', '1']);
  assert.equal(bad.code, 2);
});

test('moat sub: SIGINT while the broker is down (reconnecting) ends it at once', { timeout: 15_000 }, async () => {
  const { subCommand } = await import('../../src/cli/sub-command.js');
  const b = new Broker({ sysInterval: 0 });
  const l = await startListener(b, { url: 'mqtt://127.0.0.1:0' });
  const signals = new Map<string, () => void>();
  const io = { out: () => {}, err: () => {}, env: {}, onSignal: (s: string, fn: () => void) => { signals.set(s, fn); } };
  const run = subCommand(['-h', '127.0.0.1', '-p', String(l.address.port), '-t', 'down/#'], io as never);
  await new Promise((r) => setTimeout(r, 500));
  b.shutdown();
  await l.close();
  await new Promise((r) => setTimeout(r, 200));
  signals.get('SIGINT')?.();
  const code = await Promise.race([run, new Promise((r) => setTimeout(() => r('hung'), 3000).unref())]);
  assert.equal(code, 0);
});

test('--insecure warns on stderr that the broker certificate is not verified, and still connects (wrong CA on purpose)', async () => {
  // The broker's certificate is signed by `pki`; run in a folder whose dev CA is `other`, so only --insecure lets it through.
  const topic = `insecure/${randomBytes(4).toString('hex')}`;
  const r = await moat(['pub', '-h', '127.0.0.1', '-p', String(tls.address.port), '--insecure', '-t', topic, '-m', 'x'], { cwd: join(dir, 'other') });
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /WARNING: --insecure: the broker's certificate is NOT verified/);
});

test('TLS flags with a plain mqtt:// or ws:// URL are a one-line MOAT_ERR_CONFIG (exit 2), not silently ignored', async () => {
  const port = String(tcp.address.port);
  const cases: string[][] = [
    ['pub', '-L', `mqtt://127.0.0.1:${port}`, '--cafile', '.moat/pki/ca.crt', '-t', 'x', '-m', 'y'],
    ['pub', '-h', `mqtt://127.0.0.1:${port}`, '--cert', 'c.pem', '--key', 'k.pem', '-t', 'x', '-m', 'y'],
    ['sub', '-L', `ws://127.0.0.1:${port}/mqtt`, '--psk', 'abcd', '--psk-identity', 'dev', '-t', 'x'],
    ['sub', '-L', `mqtt://127.0.0.1:${port}`, '--insecure', '-t', 'x', '-C', '1'],
  ];
  for (const args of cases) {
    const r = await moat(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /^moat: .*\(MOAT_ERR_CONFIG\)\n$/, args.join(' '));
    assert.equal(r.err.split('\n').length, 2, 'one line');
  }
  // The same flags with a TLS URL are taken (and the plain URL without them still works).
  const ok = await moat(['pub', '-L', `mqtts://localhost:${tls.address.port}`, '--cafile', '.moat/pki/ca.crt', '-t', 'x', '-m', 'y']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal((await moat(['pub', '-L', `mqtt://127.0.0.1:${port}`, '-t', 'x', '-m', 'y'])).code, 0);
});

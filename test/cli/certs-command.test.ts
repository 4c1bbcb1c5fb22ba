/**
 * `moat certs init|issue` as processes, and the client profile they and the broker's first start write:
 * `moat pub`/`moat sub` with no TLS flags in that folder verify the broker with the dev CA and present
 * the dev device certificate (checked against a broker that requires one), explicit flags win.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Broker } from '../../src/broker/broker.js';
import { startListener } from '../../src/broker/listeners.js';
import type { AuthenticateRequest } from '../../src/broker/hooks.js';
import { CLI_MAIN, startCli, type CliProcess } from '../support/cli-broker.js';

const run = promisify(execFile);
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const tmp = (): string => mkdtempSync(join(tmpdir(), 'moat-certs-'));

interface Run { code: number | null; out: string; err: string }

function moat(args: string[], cwd: string, onOut?: (out: string) => void): Promise<Run> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      onOut?.(out);
    });
    p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    p.on('close', (code) => done({ code, out, err }));
  });
}

/**
 * `moat pub` a retained "ready", then `moat sub`: once it prints "ready" (the subscription is in place)
 * `moat pub` "no flags". Every command gets the same connection arguments.
 */
async function subThenPub(cwd: string, conn: string[], topic = `profile/${Math.random().toString(36).slice(2)}`, subExtra: string[] = []): Promise<{ sub: Run; pubs: Run[] }> {
  const ready = await moat(['pub', ...conn, '-t', topic, '-m', 'ready', '-r', '-q', '1'], cwd);
  if (ready.code !== 0) return { sub: ready, pubs: [] };
  let pub: Promise<Run> | undefined;
  const sub = await moat(['sub', ...conn, '-t', subExtra.length ? subExtra[0]! : topic, ...subExtra.slice(1), '-C', '2', '-W', '15', '-q', '1'], cwd, (out) => {
    if (out.includes('ready\n')) pub ??= moat(['pub', ...conn, '-t', topic, '-m', 'no flags', '-q', '1'], cwd);
  });
  return { sub, pubs: [ready, ...(pub ? [await pub] : [])] };
}

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups) await c();
});

test('moat certs init writes the CA, server, device and client profile (keys 0600); a second init needs --force (MOAT_ERR_PKI)', async () => {
  const cwd = tmp();
  const r = await moat(['certs', 'init', '--key-type', 'ed25519'], cwd);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /client profile {2}\.moat\/client\.json/);
  const pki = join(cwd, '.moat', 'pki');
  for (const key of ['ca.key', 'server.key', 'devices/dev-client.key']) assert.equal(statSync(join(pki, key)).mode & 0o777, 0o600, key);
  const profile = JSON.parse(readFileSync(join(cwd, '.moat', 'client.json'), 'utf8')) as Record<string, string>;
  assert.deepEqual(profile, { ca: 'pki/ca.crt', cert: 'pki/devices/dev-client.crt', key: 'pki/devices/dev-client.key' });
  const device = new X509Certificate(readFileSync(join(pki, 'devices', 'dev-client.crt')));
  assert.equal(device.publicKey.asymmetricKeyType, 'ed25519');
  assert.equal(device.subject, 'CN=dev-client');
  const again = await moat(['certs', 'init'], cwd);
  assert.equal(again.code, 2);
  assert.match(again.err, /MOAT_ERR_PKI/);
  const forced = await moat(['certs', 'init', '--force', '--key-type', 'rsa'], cwd);
  assert.equal(forced.code, 0, forced.err);
  assert.equal(new X509Certificate(readFileSync(join(pki, 'ca.crt'))).publicKey.asymmetricKeyType, 'rsa');
});

test('moat certs issue --device ID: CN = ID, clientAuth, signed by the dev CA (openssl verify -purpose sslclient), key 0600', async () => {
  const cwd = tmp();
  assert.equal((await moat(['certs', 'init', '--dir', 'data'], cwd)).code, 0);
  const r = await moat(['certs', 'issue', '--device', 'sensor-7', '--dir', 'data', '--key-type', 'rsa', '--days', '30'], cwd);
  assert.equal(r.code, 0, r.err);
  const certPath = join(cwd, 'data', 'pki', 'devices', 'sensor-7.crt');
  const x = new X509Certificate(readFileSync(certPath));
  assert.equal(x.subject, 'CN=sensor-7');
  assert.deepEqual(x.keyUsage, [CLIENT_AUTH]);
  assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(x.verify(new X509Certificate(readFileSync(join(cwd, 'data', 'pki', 'ca.crt'))).publicKey));
  assert.equal(statSync(join(cwd, 'data', 'pki', 'devices', 'sensor-7.key')).mode & 0o777, 0o600);
  const v = await run('openssl', ['verify', '-CAfile', join(cwd, 'data', 'pki', 'ca.crt'), '-purpose', 'sslclient', certPath]);
  assert.match(v.stdout, /: OK/);
});

test('moat certs issue refuses a bad device id, an existing device without --force, a missing CA, bad days and key types', async () => {
  const cwd = tmp();
  const none = await moat(['certs', 'issue', '--device', 'early'], cwd);
  assert.equal(none.code, 2);
  assert.match(none.err, /MOAT_ERR_PKI/);
  assert.equal((await moat(['certs', 'init'], cwd)).code, 0);
  for (const args of [['--device', '../up'], ['--device', 'a/b'], ['--device', ''], ['--device', 'x', '--days', '0'],
    ['--device', 'x', '--days', 'soon'], ['--device', 'x', '--key-type', 'dsa']]) {
    const r = await moat(['certs', 'issue', ...args], cwd);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /MOAT_ERR_PKI/, args.join(' '));
    assert.equal(r.err.trim().split('\n').length, 1, 'one line');
  }
  assert.equal(existsSync(join(cwd, '.moat', 'up.crt')), false);
  const missing = await moat(['certs', 'issue'], cwd);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /MOAT_ERR_CONFIG/);
  assert.equal((await moat(['certs', 'issue', '--device', 'twice'], cwd)).code, 0);
  const first = readFileSync(join(cwd, '.moat', 'pki', 'devices', 'twice.crt'), 'utf8');
  const dup = await moat(['certs', 'issue', '--device', 'twice'], cwd);
  assert.equal(dup.code, 2);
  assert.match(dup.err, /MOAT_ERR_PKI/);
  assert.equal(readFileSync(join(cwd, '.moat', 'pki', 'devices', 'twice.crt'), 'utf8'), first, 'untouched');
  assert.equal((await moat(['certs', 'issue', '--device', 'twice', '--force'], cwd)).code, 0);
  assert.notEqual(readFileSync(join(cwd, '.moat', 'pki', 'devices', 'twice.crt'), 'utf8'), first);
});

test('moat pub/sub with no TLS flags use ./.moat/client.json: the dev CA verifies the broker, the device certificate is presented', async () => {
  const cwd = tmp();
  assert.equal((await moat(['certs', 'init'], cwd)).code, 0);
  const pki = join(cwd, '.moat', 'pki');
  const seen: string[] = [];
  const broker = new Broker({ sysInterval: 0 }, {
    hooks: {
      authenticate: [(req: AuthenticateRequest) => {
        const der = req.tls?.peerCertificate;
        seen.push(der ? new X509Certificate(der).subject : 'none');
        return undefined;
      }],
    },
  });
  // Mutual TLS required: only a client that presents a certificate of the dev CA gets in.
  const l = await startListener(broker, {
    url: 'mqtts://127.0.0.1:0',
    tls: {
      cert: readFileSync(join(pki, 'server.crt')), key: readFileSync(join(pki, 'server.key')), ca: readFileSync(join(pki, 'ca.crt')),
      minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true,
    },
  });
  cleanups.push(() => l.close(), () => broker.shutdown());
  const url = `mqtts://localhost:${l.address.port}`;
  const { sub, pubs } = await subThenPub(cwd, ['-L', url]);
  assert.equal(sub.code, 0, sub.err);
  assert.deepEqual(pubs.map((p) => p.code), [0, 0]);
  assert.equal(sub.out, 'ready\nno flags\n');
  assert.deepEqual(seen, ['CN=dev-client', 'CN=dev-client', 'CN=dev-client']);

  // Without the profile (the CA alone), no certificate is presented and the broker refuses.
  const bare = tmp();
  mkdirSync(join(bare, '.moat', 'pki'), { recursive: true });
  cpSync(join(pki, 'ca.crt'), join(bare, '.moat', 'pki', 'ca.crt'));
  const refused = await moat(['pub', '-L', url, '-t', 'x', '-m', 'y'], bare);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED/);
  // Explicit flags win over the profile: another CA fails verification.
  const other = tmp();
  assert.equal((await moat(['certs', 'init', '--dir', other], cwd)).code, 0);
  const wrongCa = await moat(['pub', '-L', url, '--cafile', join(other, 'pki', 'ca.crt'), '-t', 'x', '-m', 'y'], cwd);
  assert.equal(wrongCa.code, 1);
  assert.match(wrongCa.err, /MOAT_ERR_TLS_VERIFY/);
  // ... and another device certificate (of the same CA) is the one presented.
  assert.equal((await moat(['certs', 'issue', '--device', 'flagged'], cwd)).code, 0);
  const flagged = await moat(['pub', '-L', url, '--cert', join(pki, 'devices', 'flagged.crt'), '--key', join(pki, 'devices', 'flagged.key'),
    '-t', 'x', '-m', 'y'], cwd);
  assert.equal(flagged.code, 0, flagged.err);
  assert.equal(seen.at(-1), 'CN=flagged');
});

/** `moat broker` in `cwd`, resolved once `ready` is printed (by default the client profile's line of the banner). */
async function startBroker(args: string[], cwd: string, ready = /client profile .*\n/): Promise<CliProcess> {
  const s = await startCli(args, { cwd, ready });
  cleanups.push(() => s.child.kill('SIGKILL'));
  return s;
}

test('the broker\'s first start writes the PKI with a device and the client profile, prints where they are; moat sub/pub need no TLS flags', async () => {
  const cwd = tmp();
  const b = await startBroker(['--listen', 'mqtts://127.0.0.1:0'], cwd);
  assert.match(b.stdout, /^ {2}CA +\.moat\/pki\/ca\.crt$/m);
  assert.match(b.stdout, /^ {2}device cert +\.moat\/pki\/devices\/dev-client\.crt$/m);
  assert.match(b.stdout, /^ {2}client profile +\.moat\/client\.json/m);
  for (let i = 0; i < 50 && !b.stderr.includes('client profile'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(b.stderr, /wrote the client profile/);
  assert.equal(statSync(join(cwd, '.moat', 'pki', 'devices', 'dev-client.key')).mode & 0o777, 0o600);
  const url = `mqtts://localhost:${b.ports['mqtts']}`;
  const { sub, pubs } = await subThenPub(cwd, ['-L', url]);
  assert.equal(sub.code, 0, sub.err);
  assert.deepEqual(pubs.map((p) => p.code), [0, 0]);
  assert.equal(sub.out, 'ready\nno flags\n');
  // A second start (after the first stopped: one broker per data directory) keeps the profile and the PKI.
  const stopped = new Promise((r) => b.child.once('exit', r));
  b.child.kill('SIGTERM');
  await stopped;
  const profile = readFileSync(join(cwd, '.moat', 'client.json'), 'utf8');
  const ca = readFileSync(join(cwd, '.moat', 'pki', 'ca.crt'), 'utf8');
  const b2 = await startBroker(['--listen', 'mqtts://127.0.0.1:0'], cwd);
  assert.doesNotMatch(b2.stderr, /created|wrote/);
  assert.equal(readFileSync(join(cwd, '.moat', 'client.json'), 'utf8'), profile);
  assert.equal(readFileSync(join(cwd, '.moat', 'pki', 'ca.crt'), 'utf8'), ca);
});

test('a broken client profile: moat pub names it (MOAT_ERR_CONFIG, exit 2) and the broker still starts', async () => {
  const cwd = tmp();
  mkdirSync(join(cwd, '.moat'));
  writeFileSync(join(cwd, '.moat', 'client.json'), '{ "ca": ');
  const b = await startBroker(['--listen', 'mqtts://127.0.0.1:0'], cwd, /-v\n/);
  assert.doesNotMatch(b.stdout, /client profile/);
  const r = await moat(['pub', '-L', `mqtts://localhost:${b.ports['mqtts']}`, '-t', 'x', '-m', 'y'], cwd);
  assert.equal(r.code, 2);
  assert.match(r.err, /client\.json.*MOAT_ERR_CONFIG/);
  writeFileSync(join(cwd, '.moat', 'client.json'), JSON.stringify({ ca: 'pki/ca.crt', cert: 'pki/devices/dev-client.crt' }));
  const half = await moat(['pub', '-L', `mqtts://localhost:${b.ports['mqtts']}`, '-t', 'x', '-m', 'y'], cwd);
  assert.equal(half.code, 2);
  assert.match(half.err, /MOAT_ERR_CONFIG/);
});

const portFree = (port: number): Promise<boolean> => new Promise((r) => {
  const s = createServer();
  s.once('error', () => r(false));
  s.listen(port, '0.0.0.0', () => s.close(() => r(true)));
});

test('zero configuration: `moat broker` with no options, then `moat sub -t \'#\'` and `moat pub` with no flags at all (TLS on 8883)', async (t) => {
  if (!(await portFree(8883))) {
    t.skip('port 8883 is in use on this machine');
    return;
  }
  const cwd = tmp();
  const b = await startBroker([], cwd);
  assert.match(b.stdout, /listening on mqtts:\/\/0\.0\.0\.0:8883/);
  assert.match(b.stdout, /^ {2}moat sub -t '#' -v$/m);
  const { sub, pubs } = await subThenPub(cwd, [], 'zero/config', ['#', '-v']);
  assert.equal(sub.code, 0, sub.err);
  assert.deepEqual(pubs.map((p) => p.code), [0, 0]);
  assert.equal(sub.out, 'zero/config ready\nzero/config no flags\n');
});

/**
 * `moat broker` as a real process: the listeners it prints, TLS verified against its dev CA, interop
 * with Mosquitto's clients and openssl s_client, MQTT.js over WebSocket, and graceful shutdown.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { RawClient } from '../broker/helpers.js';
import { CLI_MAIN, startCli, type CliProcess } from '../support/cli-broker.js';
import { sClient } from '../support/test-pki.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'moat-cli-'));

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

let b: CliProcess;
before(async () => {
  b = await startCli(['--listen', 'mqtt://127.0.0.1:0', '--listen', 'mqtts://127.0.0.1:0', '--listen', 'ws://127.0.0.1:0', '--data-dir', join(dir, 'data')], { cwd: dir });
});
after(() => b.child.kill('SIGKILL'));

test('the dev PKI is created on first start with private keys readable by the owner only', async () => {
  // stderr and stdout are separate pipes: the notice may arrive after the banner.
  for (let i = 0; i < 50 && !b.stderr.includes('created a development CA'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(b.stderr, /created a development CA/);
  for (const key of ['ca.key', 'server.key']) assert.equal(statSync(join(dir, 'data', 'pki', key)).mode & 0o777, 0o600);
  assert.match(b.stdout, /mosquitto_sub -h localhost -p \d+ --cafile \S+ca\.crt -t '#' -v/);
  assert.match(b.stdout, /moat sub -h localhost -p \d+ --cafile \S+ca\.crt -t '#' -v/);
});

for (const version of ['mqttv311', 'mqttv5']) {
  test(`interop: mosquitto_sub over TLS (${version}, server verified by the dev CA) gets mosquitto_pub's message over TCP`, async () => {
    const ca = join(dir, 'data', 'pki', 'ca.crt');
    const sub = run('mosquitto_sub', ['-h', 'localhost', '-p', String(b.ports['mqtts']), '--cafile', ca, '-V', version,
      '-t', `interop/${version}`, '-C', '1', '-W', '10', '-q', '1']);
    // Retained: mosquitto_sub gets it whether its TLS handshake and SUBSCRIBE finish before or after
    // the publish (on a loaded machine they can take longer than any fixed wait).
    await new Promise((r) => setTimeout(r, 300));
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.ports['mqtt']), '-V', version, '-t', `interop/${version}`, '-m', 'hello', '-q', '1', '-r']);
    assert.equal((await sub).stdout.trim(), 'hello');
    // Cleared again: later tests subscribe to '#'.
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.ports['mqtt']), '-V', version, '-t', `interop/${version}`, '-n', '-q', '1', '-r']);
  });
}

test('interop: openssl s_client negotiates TLS 1.3 with ALPN mqtt and verifies the chain; TLS 1.2 is refused', async () => {
  const ca = join(dir, 'data', 'pki', 'ca.crt');
  const out = await sClient(b.ports['mqtts']!, ['-CAfile', ca, '-alpn', 'mqtt', '-verify_return_error']);
  assert.match(out, /New, TLSv1\.3, Cipher is TLS_/);
  assert.match(out, /ALPN protocol: mqtt/);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  const old = await sClient(b.ports['mqtts']!, ['-tls1_2']);
  assert.match(old, /alert protocol version/);
  assert.match(old, /New, \(NONE\), Cipher is \(NONE\)/);
});

test('interop: MQTT.js over WebSocket (subprotocol mqtt) publishes and receives', async () => {
  const c = await mqtt.connectAsync(`ws://127.0.0.1:${b.ports['ws']}/mqtt`, { protocolVersion: 5 });
  await c.subscribeAsync('ws/t', { qos: 1 });
  const got = new Promise<string>((r) => c.on('message', (_t, p) => r(p.toString())));
  await c.publishAsync('ws/t', 'over-ws', { qos: 1 });
  assert.equal(await got, 'over-ws');
  await c.endAsync();
});

test('a port already in use is one clear line and exit code 2 (MOAT_ERR_LISTEN)', async () => {
  const child = spawn(process.execPath, [CLI_MAIN, 'broker', '--listen', `mqtt://127.0.0.1:${b.ports['mqtt']}`], { cwd: dir });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  assert.equal(await exited(child), 2);
  assert.match(err, /MOAT_ERR_LISTEN/);
  assert.equal(err.trim().split('\n').length, 1);
});

test('[MQTT-3.14.2-1] SIGTERM: v5 clients get DISCONNECT 0x8B (server shutting down) and the process exits 0', async () => {
  const s = await startCli(['--listen', 'mqtt://127.0.0.1:0'], { cwd: dir });
  const c = await RawClient.connected(s.ports['mqtt']!, { clientId: 'bye' });
  s.child.kill('SIGTERM');
  const d = await c.expect('disconnect');
  assert.equal(d.reasonCode, 0x8b);
  assert.equal(await exited(s.child), 0);
});

test('the moat sub line the broker prints works as printed (TLS, dev CA), receiving a message published over TCP', async () => {
  const line = /^ {2}(moat sub .*)$/m.exec(b.stdout)?.[1];
  assert.ok(line, 'banner has a moat sub line');
  // The printed words, as a shell would split them (only '#' is quoted); -C/-W make it end.
  const words = line.split(' ').slice(2).map((w) => w.replace(/^'(.*)'$/, '$1'));
  const sub = spawn(process.execPath, [CLI_MAIN, 'sub', ...words, '-C', '1', '-W', '10'], { cwd: dir });
  let out = '';
  sub.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  // Published until the subscriber has it: how long `moat sub` takes to start depends on the machine's load.
  const code = exited(sub);
  let done = false;
  void code.then(() => { done = true; });
  while (!done) {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.ports['mqtt']), '-t', 'banner/check', '-m', 'it works', '-q', '1']);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(await code, 0);
  assert.equal(out.trim(), 'banner/check it works');
});

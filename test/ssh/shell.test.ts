/**
 * The interactive shell over a pty (ssh2's client): prompt, history, tab completion, `tail` until
 * Ctrl-C, exit. And `tail` as a one-shot exec with both clients, stopped by closing the channel.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { ClientChannel } from 'ssh2';
import { RawClient } from '../broker/helpers.js';
import { ssh2Connect, startHarness, until, type Harness } from './helpers.js';

let h: Harness;
let device: RawClient;

before(async () => {
  h = await startHarness();
  device = await RawClient.connected(h.tb.port, { clientId: 'watcher-9' });
});

after(async () => {
  device.socket.destroy();
  await h.close();
});

const publish = (topic: string, text: string): void =>
  device.send({ type: 'publish', topic, payload: Buffer.from(text), qos: 0, retain: false, dup: false });

interface Term { stream: ClientChannel; output: () => string; mark: () => void; since: () => string; closed: () => boolean }

async function openShell(key: string): Promise<Term & { end(): void }> {
  const client = await ssh2Connect(h.port, { privateKey: await readFile(key) });
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    client.shell({ term: 'xterm', cols: 120, rows: 40 }, (err, s) => (err ? reject(err) : resolve(s))));
  let out = '';
  let from = 0;
  let closed = false;
  stream.on('data', (d: Buffer) => { out += d.toString(); });
  stream.on('close', () => { closed = true; client.end(); });
  return {
    stream, output: () => out, mark: () => { from = out.length; }, since: () => out.slice(from), closed: () => closed,
    end: () => client.end(),
  };
}

test('shell: prompt, a command, history with the up arrow, Ctrl-C clears the line, exit', async () => {
  const t = await openShell(h.keys.admin);
  await until(() => t.output().includes('moat(admin)> '), 5000, 'prompt');
  assert.match(t.output(), /Moat broker console, admin "operator"/);
  t.mark();
  t.stream.write('status\r');
  await until(() => /connections\s+1\r\n[\s\S]*moat\(admin\)> $/.test(t.since()), 5000, 'status output');
  assert.ok(t.since().includes('\r\n'), 'CR LF on a pty');
  t.mark();
  t.stream.write('\x1b[A');
  await until(() => t.since().includes('status'), 5000, 'history recall');
  t.stream.write('\r');
  await until(() => /uptime[\s\S]*moat\(admin\)> $/.test(t.since()), 5000, 'status again');
  t.mark();
  t.stream.write('garbage\x03');
  await until(() => t.since().endsWith('^C\r\nmoat(admin)> '), 5000, 'Ctrl-C');
  t.mark();
  t.stream.write('exit\r');
  await until(() => t.closed(), 5000, 'channel closed');
  assert.match(t.since(), /bye/);
});

test('shell: tab completes commands, subcommands and client ids; lists choices when ambiguous', async () => {
  const t = await openShell(h.keys.viewer);
  await until(() => t.output().includes('moat(viewer)> '), 5000, 'prompt');
  t.mark();
  t.stream.write('sta\t');
  await until(() => t.since().includes('status '), 5000, 'completed status');
  t.stream.write('\x15'); // Ctrl-U
  t.mark();
  t.stream.write('cli\t');
  await until(() => t.since().includes('client'), 5000, 'common prefix');
  t.mark();
  t.stream.write('\t');
  await until(() => t.since().includes('client  clients'), 5000, 'choices listed');
  t.stream.write('\x15');
  t.mark();
  t.stream.write('client wat\t');
  await until(() => t.since().includes('client watcher-9 '), 5000, 'client id completed');
  t.mark();
  t.stream.write('\r');
  await until(() => /client\s+watcher-9\r\n/.test(t.since()), 5000, 'client output');
  t.mark();
  t.stream.write('retained cl\t');
  await until(() => t.since().includes('retained clear '), 5000, 'subcommand completed');
  t.stream.write('\x15kick watcher-9\r');
  await until(() => /permission denied/.test(t.since()), 5000, 'viewer refused');
  assert.equal(device.closed, false);
  t.stream.write('\x04'); // Ctrl-D on an empty line leaves
  await until(() => t.closed(), 5000, 'closed');
});

test('shell: tail prints published messages until Ctrl-C, then the prompt comes back', async () => {
  const t = await openShell(h.keys.viewer);
  await until(() => t.output().includes('moat(viewer)> '), 5000, 'prompt');
  t.mark();
  t.stream.write('tail sensors/#\r');
  await until(() => t.since().includes('tailing sensors/#'), 5000, 'tail started');
  publish('sensors/1/temp', '21.5');
  publish('other/topic', 'not me');
  publish('sensors/2/hum', '40');
  await until(() => t.since().includes('sensors/2/hum'), 5000, 'messages shown');
  assert.match(t.since(), /\d\d:\d\d:\d\d\.\d{3}  sensors\/1\/temp  q0  21\.5\r\n/);
  assert.ok(!t.since().includes('other/topic'));
  t.mark();
  t.stream.write('\x03');
  await until(() => t.since().endsWith('moat(viewer)> '), 5000, 'prompt after Ctrl-C');
  await until(() => h.tb.broker.listenerCount('messagePublished') === 0, 5000, 'tail unsubscribed');
  t.mark();
  publish('sensors/3/temp', 'late');
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!t.since().includes('late'));
  t.stream.write('exit\r');
  await until(() => t.closed(), 5000, 'closed');
});

test('exec tail --json with ssh2\'s client: one JSON line per message; closing the channel stops it', async () => {
  const client = await ssh2Connect(h.port, { privateKey: await readFile(h.keys.viewer) });
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    client.exec('tail alarms/+ --json', (err, s) => (err ? reject(err) : resolve(s))));
  let out = '';
  stream.on('data', (d: Buffer) => { out += d.toString(); });
  await until(() => h.tb.broker.listenerCount('messagePublished') === 1, 5000, 'tail listening');
  publish('alarms/door', 'open');
  device.send({ type: 'publish', topic: 'alarms/bin', payload: Buffer.from([0xff, 0x00]), qos: 0, retain: false, dup: false });
  await until(() => out.split('\n').length >= 3, 5000, 'two JSON lines');
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => [l.topic, l.payload, l.payloadBase64]), [['alarms/door', 'open', undefined], ['alarms/bin', undefined, '/wA=']]);
  client.end();
  await until(() => h.tb.broker.listenerCount('messagePublished') === 0, 5000, 'tail stopped');
});

test('exec tail with OpenSSH shows published messages; ending ssh stops it', async () => {
  const child = spawn('ssh', [
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR', '-F', '/dev/null', '-i', h.keys.admin, '-p', String(h.port), 'operator@127.0.0.1', 'tail', "'fleet/#'",
  ], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    await until(() => out.includes('tailing fleet/#'), 10_000, 'tail started');
    publish('fleet/truck-1/gps', '48.1,11.5');
    await until(() => out.includes('fleet/truck-1/gps'), 5000, 'message shown');
    assert.match(out, /fleet\/truck-1\/gps  q0  48\.1,11\.5\n/);
  } finally {
    child.kill('SIGTERM');
  }
  await until(() => h.tb.broker.listenerCount('messagePublished') === 0, 5000, 'tail stopped');
});

test('exec tail on a pty (ssh -t): Ctrl-C ends it with status 0, output in CR LF', async () => {
  const client = await ssh2Connect(h.port, { privateKey: await readFile(h.keys.viewer) });
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    client.exec('tail pty/#', { pty: { term: 'xterm', cols: 80, rows: 24 } }, (err, s) => (err ? reject(err) : resolve(s))));
  let out = '';
  let code: number | undefined;
  stream.on('data', (d: Buffer) => { out += d.toString(); });
  stream.on('exit', (c: number) => { code = c; });
  const closed = new Promise<void>((r) => stream.on('close', () => r()));
  await until(() => out.includes('tailing pty/#'), 5000, 'tail started');
  publish('pty/a', 'x');
  await until(() => out.includes('pty/a'), 5000, 'message');
  assert.match(out, /pty\/a  q0  x\r\n/);
  stream.write('\x03');
  await closed;
  assert.equal(code, 0);
  client.end();
});

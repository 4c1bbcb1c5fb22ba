/**
 * Every console command with the system OpenSSH client against a live broker and real MQTT clients:
 * tables and --json, roles (a viewer may only read), kick with DISCONNECT 0x98, the audit log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { RawClient } from '../broker/helpers.js';
import { subscribe } from '../broker/conformance-util.js';
import { openssh, startHarness, type Harness } from './helpers.js';

let h: Harness;
let sensor: RawClient;
let legacy: RawClient;
let watcher: RawClient;

before(async () => {
  h = await startHarness();
  sensor = await RawClient.connected(h.tb.port, { clientId: 'sensor-1', username: 'dev' });
  legacy = await RawClient.connected(h.tb.port, { clientId: 'legacy-7', protocolVersion: 4, protocolName: 'MQTT' });
  watcher = await RawClient.connected(h.tb.port, { clientId: 'watcher' });
  await subscribe(watcher, ['sensors/+/temp', 'alarms/#'], 1);
  sensor.send({ type: 'publish', topic: 'sensors/1/temp', payload: Buffer.from('21.5'), qos: 0, retain: true, dup: false });
  await watcher.expect('publish');
});

after(async () => {
  for (const c of [sensor, legacy, watcher]) c.socket.destroy();
  await h.close();
});

const admin = (...cmd: string[]) => openssh(h.port, h.keys.admin, cmd);
const viewer = (...cmd: string[]) => openssh(h.port, h.keys.viewer, cmd);

test('an admin key logs in and runs status, as a table and as --json', async () => {
  const r = await admin('status');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^uptime\s+\d\d:\d\d:\d\d$/m);
  assert.match(r.stdout, /^connections\s+3$/m);
  assert.match(r.stdout, /^listeners\s+mqtt:\/\/127\.0\.0\.1:\d+$/m);
  const json = JSON.parse((await admin('status', '--json')).stdout) as Record<string, unknown>;
  assert.equal(json.connections, 3);
  assert.equal(json.retained, 1);
  assert.equal(json.store, 'memory');
  assert.match(h.ssh.hostKeys[0]!.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test('an unknown key is refused, and the refusal is logged with its fingerprint', async () => {
  const r = await openssh(h.port, h.keys.stranger, ['status']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Permission denied/);
  const refused = h.logLines.filter((l) => l.msg === 'ssh login refused');
  assert.ok(refused.some((l) => (l.obj as { why?: string }).why === 'unknown key'));
  assert.ok(refused.every((l) => /^SHA256:/.test((l.obj as { fingerprint: string }).fingerprint)));
});

test('clients lists every connected client as an aligned table; a pattern filters; --json for scripts', async () => {
  const r = await viewer('clients');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^CLIENT\s+ADDRESS\s+MQTT\s+TRANSPORT\s+TLS\s+CIPHER\s+RESUMED\s+IDENTITY\s+SUBS\s+QUEUED$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['legacy-7', 'sensor-1', 'watcher']);
  // Aligned: the ADDRESS column starts at the same offset on every line.
  const at = lines[0]!.indexOf('ADDRESS');
  for (const l of lines.slice(1)) assert.match(l.slice(at), /^127\.0\.0\.1/);
  assert.match(lines.find((l) => l.startsWith('sensor-1'))!, /\s5\s+tcp\s.*\sdev\s+0\s+0$/);
  assert.match(lines.find((l) => l.startsWith('legacy-7'))!, /\s3\.1\.1\s/);
  const some = JSON.parse((await viewer('clients', 's*', '--json')).stdout) as Array<{ clientId: string; identity?: string }>;
  assert.deepEqual(some.map((c) => c.clientId), ['sensor-1']);
  assert.equal(some[0]!.identity, 'dev');
});

test('client ID shows one client with its subscriptions; an unknown id fails with status 1', async () => {
  const r = await viewer('client', 'watcher');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^client\s+watcher$/m);
  assert.match(r.stdout, /^alarms\/#\s+1$/m);
  const json = JSON.parse((await viewer('client', 'watcher', '--json')).stdout) as { subscriptionList: unknown[] };
  assert.equal(json.subscriptionList.length, 2);
  assert.equal((await viewer('client', 'nobody')).code, 1);
});

test('subs lists subscriptions; with a topic, the ones that match it', async () => {
  const all = await viewer('subs');
  assert.equal(all.code, 0);
  assert.match(all.stdout, /^FILTER\s+CLIENT\s+QOS/);
  assert.match(all.stdout, /^sensors\/\+\/temp\s+watcher\s+1\s/m);
  const one = JSON.parse((await viewer('subs', 'alarms/fire', '--json')).stdout) as Array<{ filter: string }>;
  assert.deepEqual(one.map((s) => s.filter), ['alarms/#']);
  const covered = JSON.parse((await viewer('subs', 'sensors/#', '--json')).stdout) as Array<{ filter: string }>;
  assert.deepEqual(covered.map((s) => s.filter), ['sensors/+/temp']);
  assert.equal((await viewer('subs', 'bad/#/x')).code, 2);
});

test('retained lists retained messages; retained clear deletes one (admin)', async () => {
  const r = await viewer('retained');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^sensors\/1\/temp\s+0\s+4\s+21\.5$/m);
  const denied = await viewer('retained', 'clear', 'sensors/1/temp');
  assert.equal(denied.code, 126);
  assert.equal(h.tb.broker.retained.size, 1);
  const cleared = await admin('retained', 'clear', 'sensors/1/temp');
  assert.equal(cleared.code, 0, cleared.stdout);
  assert.equal(h.tb.broker.retained.size, 0);
  assert.equal((await admin('retained', 'clear', 'sensors/1/temp')).code, 1);
  assert.deepEqual(JSON.parse((await viewer('retained', 'sensors/#', '--json')).stdout), []);
});

test('pub publishes as the broker: subscribers get it, -q and -r apply; a viewer may not', async () => {
    // OpenSSH sends the words as one command line: quotes keep the payload one argument.
  const r = await admin('pub', 'alarms/door', "'open now'", '-q', '1', '-r');
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /published alarms\/door \(8 bytes, qos 1, retained\): delivered/);
  const p = await watcher.expect('publish');
  assert.equal(p.topic, 'alarms/door');
  assert.equal(p.payload.toString(), 'open now');
  assert.equal(p.qos, 1);
  watcher.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
  assert.equal(h.tb.broker.retained.size, 1);
  assert.equal((await viewer('pub', 'alarms/door', 'x')).code, 126);
  assert.equal((await admin('pub', '$SYS/x', 'x')).code, 2);
  assert.equal((await admin('pub', 'a/+', 'x')).code, 2);
  await watcher.quiet(100);
});

test('a viewer\'s kick is refused and audited; an admin\'s kick sends v5 DISCONNECT 0x98', async () => {
  const denied = await viewer('kick', 'sensor-1');
  assert.equal(denied.code, 126);
  assert.match(denied.stdout, /permission denied/);
  assert.equal(sensor.closed, false);
  const r = await admin('kick', 'sensor-1');
  assert.equal(r.code, 0, r.stdout);
  const d = await sensor.expect('disconnect');
  assert.equal(d.reasonCode, 0x98);
  await sensor.waitClosed();
  const v4 = await admin('kick', 'legacy-7', '--json');
  assert.deepEqual(JSON.parse(v4.stdout), { clientId: 'legacy-7', kicked: true });
  await legacy.waitClosed();
  assert.equal((await admin('kick', 'sensor-1')).code, 1);
  await h.ssh.audit.flush();
  const audit = (await readFile(h.auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const kicks = audit.filter((a) => a.action === 'kick');
  assert.deepEqual(kicks.map((a) => [a.role, a.clientId, a.outcome]), [
    ['viewer', 'sensor-1', 'denied'], ['admin', 'sensor-1', 'ok'], ['admin', 'legacy-7', 'ok'], ['admin', 'sensor-1', 'failed'],
  ]);
  assert.ok(kicks.every((a) => typeof a.key === 'string' && a.user === 'operator' && a.remote === '127.0.0.1'));
  const pubs = audit.filter((a) => a.action === 'pub' && a.outcome === 'ok');
  assert.equal(pubs[0]!.bytes, 8);
  assert.ok(!JSON.stringify(audit).includes('open now'), 'payloads are not audited');
});

test('reload is admin-only and reloads the authorized keys: a removed key stops working', async () => {
  assert.equal((await viewer('reload')).code, 126);
  const { writeFile } = await import('node:fs/promises');
  const text = await readFile(h.authorizedKeysFile, 'utf8');
  await writeFile(h.authorizedKeysFile, text.split('\n').filter((l) => !l.includes('viewer@test')).join('\n'));
  const r = await admin('reload');
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /reloaded: ssh authorized keys/);
  assert.equal(h.reloads, 1);
  assert.equal((await viewer('status')).code, 255);
  await writeFile(h.authorizedKeysFile, 'moat-role=root ssh-ed25519 AAAA\n');
  const broken = await admin('reload');
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /MOAT_ERR_SSH_AUTHORIZED_KEYS/);
  assert.equal((await admin('status')).code, 0, 'the old keys stay in force');
  await writeFile(h.authorizedKeysFile, text);
  assert.equal((await admin('reload')).code, 0);
});

test('help lists every command; unknown commands exit 127; quoting keeps spaces', async () => {
  const r = await viewer('help');
  assert.equal(r.code, 0);
  for (const c of ['status', 'clients', 'client', 'kick', 'subs', 'retained', 'pub', 'tail', 'reload', 'help']) {
    assert.match(r.stdout, new RegExp(`^${c}\\b`, 'm'), c);
  }
  const names = (JSON.parse((await viewer('help', '--json')).stdout) as Array<{ name: string; admin: boolean }>);
  assert.deepEqual(names.filter((c) => c.admin).map((c) => c.name), ['kick', 'pub', 'reload']);
  assert.equal((await viewer('frobnicate')).code, 127);
  const q = await admin("pub alarms/q 'two words'");
  assert.match(q.stdout, /\(9 bytes/);
  await watcher.expect('publish');
});

/**
 * Authentication and authorization end to end: the built `moat broker` with a password file made by
 * `moat passwd`, a JWT secret, an ACL file and a TLS listener whose verified client certificates name
 * the MQTT user; Mosquitto's clients, MQTT.js and our RawClient against it; SIGHUP reloads; the log at
 * debug level never holds a password or a token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import type { ProtocolVersion } from '../../src/codec/index.js';
import { issueDeviceCert, type DeviceCert } from '../../src/security/dev-pki.js';
import { RawClient } from '../broker/helpers.js';
import { publish, receiveOne, subscribe } from '../broker/conformance-util.js';
import { CLI_MAIN, startCli, type CliProcess } from '../support/cli-broker.js';
import { eventually } from '../support/test-pki.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'moat-auth-e2e-'));
const data = join(dir, 'data');

const ALICE_PW = `alice-${randomBytes(6).toString('hex')}-pw`;
const OPS_PW = `ops-${randomBytes(6).toString('hex')}-pw`;
const WRONG_PW = `wrong-${randomBytes(6).toString('hex')}-pw`;
const BOB_PW = `bob-${randomBytes(6).toString('hex')}-pw`;
const JWT_SECRET = randomBytes(32).toString('base64url');
const AUDIENCE = 'moat-e2e';

const ACL = `topic read public/#

user alice
topic readwrite home/alice/#
topic deny home/alice/secret/#

# ops is an admin through the config file's acl.admins, not through this file.
user ops
topic read ops/#

user sensor-0042
topic write telemetry/sensor-0042/#

user jwt-device
topic readwrite jwt/#

pattern readwrite devices/%u/#
`;

/** `moat passwd FILE USER` with the password on a piped stdin. */
async function passwd(file: string, user: string, password: string): Promise<void> {
  const child = spawn(process.execPath, [CLI_MAIN, 'passwd', file, user], { stdio: ['pipe', 'ignore', 'pipe'] });
  child.stdin.end(`${password}\n`);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0);
}

function jwt(claims: Record<string, unknown>): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${input}.${createHmac('sha256', Buffer.from(JWT_SECRET)).update(input).digest('base64url')}`;
}
const now = (): number => Math.floor(Date.now() / 1000);
const VALID_JWT = jwt({ sub: 'jwt-device', aud: AUDIENCE, exp: now() + 3600 });
const EXPIRED_JWT = jwt({ sub: 'jwt-device', aud: AUDIENCE, exp: now() - 3600 });

/** CONNECT over TCP and the CONNACK's reason code (3.1.1: return code); the client stays open when accepted. */
async function connectRaw(port: number, o: { version?: ProtocolVersion; clientId?: string; username?: string; password?: string } = {}): Promise<{ code: number; client: RawClient }> {
  const version = o.version ?? 5;
  const client = await RawClient.open(port, version);
  client.send({
    type: 'connect', protocolName: 'MQTT', protocolVersion: version, clean: true, keepAlive: 0, clientId: o.clientId ?? '',
    ...(o.username !== undefined ? { username: o.username } : {}), ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
  });
  const ack = await client.expect('connack');
  return { code: ack.reasonCode, client };
}

async function connected(port: number, o: Parameters<typeof connectRaw>[1]): Promise<RawClient> {
  const { code, client } = await connectRaw(port, o);
  assert.equal(code, 0, 'CONNACK');
  return client;
}

let b: CliProcess;
let device: DeviceCert;
let other: DeviceCert;
const ca = join(data, 'pki', 'ca.crt');
const aclFile = join(dir, 'acl');

before(async () => {
  const users = join(dir, 'users');
  await passwd(users, 'alice', ALICE_PW);
  await passwd(users, 'ops', OPS_PW);
  writeFileSync(join(dir, 'jwt.key'), `${JWT_SECRET}\n`);
  writeFileSync(aclFile, ACL);
  writeFileSync(join(dir, 'moat.yaml'), `
listeners:
  - mqtt://127.0.0.1:0
  - url: mqtts://127.0.0.1:0
    ca: ${ca}
store: memory
dataDir: ${data}
logLevel: debug
auth:
  jwt: { secretFile: ${join(dir, 'jwt.key')}, audience: ${AUDIENCE} }
  backoff: { freeFailures: 1000 }
  certUsername: true
  forceClientIdFromCert: true
acl:
  file: ${aclFile}
  admins: [ops]
`);
  // The password file comes from the flag, next to the config file's auth keys.
  b = await startCli(['--config', join(dir, 'moat.yaml'), '--password-file', users], { cwd: dir });
  device = await issueDeviceCert(join(data, 'pki'), 'sensor-0042');
  other = await issueDeviceCert(join(data, 'pki'), 'sensor-0099');
});
after(() => b?.child.kill('SIGKILL'));

test('mosquitto_pub: the right password is accepted, a wrong one refused (exit code non-zero)', async () => {
  const args = ['-h', '127.0.0.1', '-p', String(b.ports['mqtt']), '-t', 'home/alice/door', '-m', 'open', '-q', '1'];
  for (const v of ['mqttv311', 'mqttv5']) {
    await run('mosquitto_pub', [...args, '-V', v, '-u', 'alice', '-P', ALICE_PW]);
    await assert.rejects(run('mosquitto_pub', [...args, '-V', v, '-u', 'alice', '-P', WRONG_PW]), (err: { code?: number }) => typeof err.code === 'number' && err.code !== 0);
  }
});

test('wrong password and unknown user: CONNACK 0x86 (v5) / return code 4 (3.1.1)', async () => {
  for (const [version, expected] of [[5, 0x86], [4, 4]] as const) {
    for (const username of ['alice', 'mallory']) {
      const { code, client } = await connectRaw(b.ports['mqtt']!, { version, username, password: WRONG_PW });
      assert.equal(code, expected, `${username} v${version}`);
      await client.waitClosed();
    }
  }
});

test('ACL: a denied PUBLISH gets PUBACK 0x87, an allowed one is delivered; denied SUBSCRIBE 0x87 (v5) / 0x80 (3.1.1)', async () => {
  const alice = await connected(b.ports['mqtt']!, { clientId: 'alice-1', username: 'alice', password: ALICE_PW });
  // home/alice/# could reach the denied home/alice/secret/…: refused as a whole. The anonymous lines
  // (public/#) are not alice's.
  assert.deepEqual(await subscribe(alice, ['home/alice/lamp', 'home/alice/#', 'home/alice/secret/#', 'home/bob/#', 'public/news'], 1), [1, 0x87, 0x87, 0x87, 0x87]);
  const pub = await connected(b.ports['mqtt']!, { clientId: 'alice-pub', username: 'alice', password: ALICE_PW });
  assert.equal((await publish(pub, 'home/bob/door', 'x', { qos: 1 }))?.reasonCode, 0x87);
  assert.equal((await publish(pub, 'home/alice/secret/key', 'x', { qos: 1 }))?.reasonCode, 0x87);
  assert.equal((await publish(pub, 'home/alice/lamp', 'on', { qos: 1 }))?.reasonCode, 0);
  const got = await receiveOne(alice);
  assert.equal(got.topic, 'home/alice/lamp');
  pub.end();
  // `pattern readwrite devices/%u/#`: alice's own subtree only.
  assert.deepEqual(await subscribe(alice, ['devices/alice/#', 'devices/bob/#'], 0), [0, 0x87]);
  alice.end();
  const old = await connected(b.ports['mqtt']!, { version: 4, clientId: 'alice-2', username: 'alice', password: ALICE_PW });
  assert.deepEqual(await subscribe(old, ['home/bob/#', 'home/alice/lamp'], 1), [0x80, 1]);
  old.end();
});

test('$SYS: nobody may publish there (0x87, admin included); only admins may subscribe', async () => {
  const ops = await connected(b.ports['mqtt']!, { clientId: 'ops-1', username: 'ops', password: OPS_PW });
  assert.equal((await publish(ops, '$SYS/broker/fake', 'x', { qos: 1 }))?.reasonCode, 0x87);
  assert.deepEqual(await subscribe(ops, '$SYS/broker/#', 0), [0]);
  ops.end();
  const alice = await connected(b.ports['mqtt']!, { clientId: 'alice-3', username: 'alice', password: ALICE_PW });
  assert.deepEqual(await subscribe(alice, '$SYS/#', 0), [0x87]);
  alice.end();
});

test('JWT: a valid token is accepted and its user\'s ACL applies; an expired one is refused with 0x86', async () => {
  const { code, client } = await connectRaw(b.ports['mqtt']!, { username: 'jwt-device', password: EXPIRED_JWT });
  assert.equal(code, 0x86);
  await client.waitClosed();
  const dev = await connected(b.ports['mqtt']!, { clientId: 'jwt-1', username: 'jwt-device', password: VALID_JWT });
  assert.deepEqual(await subscribe(dev, ['jwt/#', 'home/#'], 0), [0, 0x87]);
  dev.end();
  // MQTT 5 allows a password without a user name: the token's subject becomes the user name.
  const bare = await connected(b.ports['mqtt']!, { clientId: 'jwt-2', password: VALID_JWT });
  assert.deepEqual(await subscribe(bare, ['jwt/#', 'public/#'], 0), [0, 0x87], 'jwt-device\'s ACL block, not the anonymous lines');
  bare.end();
});

test('[MQTT-4.12.0-5] [MQTT-4.12.1-1] JWT: the connection ends with its token (0x87); v5 re-authentication with AUTH (same method) and a fresh token keeps it', { timeout: 20_000 }, async () => {
  const port = b.ports['mqtt']!;
  const short = (sub = 'jwt-device'): string => jwt({ sub, aud: AUDIENCE, exp: now() + 2 });
  const enhanced = async (clientId: string, token: string): Promise<RawClient> => {
    const c = await RawClient.open(port);
    c.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId,
      properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token) } });
    const ack = await c.expect('connack');
    assert.equal(ack.reasonCode, 0, clientId);
    assert.equal(ack.properties?.authenticationMethod, 'JWT');
    return c;
  };
  // A short token as the password, and one by enhanced authentication: both are cut at `exp`.
  const byPassword = await connected(port, { clientId: 'jwt-pw', password: short() });
  const byAuth = await enhanced('jwt-ea', short());
  // The same, refreshed half-way through with a token valid for an hour: stays.
  const refreshed = await enhanced('jwt-re', short());
  refreshed.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(VALID_JWT) } });
  assert.equal((await refreshed.expect('auth')).reasonCode, 0x00);
  // The token's subject is the identity: its ACL block applies (no user name was sent).
  assert.deepEqual(await subscribe(refreshed, ['jwt/#', 'public/#'], 0), [0, 0x87]);
  // A refresh may not change who the client is: DISCONNECT 0x87.
  const other = await enhanced('jwt-other', short());
  other.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(jwt({ sub: 'ops', aud: AUDIENCE, exp: now() + 3600 })) } });
  assert.equal((await other.expect('disconnect')).reasonCode, 0x87);
  for (const c of [byPassword, byAuth]) {
    const d = await c.expect('disconnect', 4000);
    assert.equal(d.reasonCode, 0x87);
    await c.waitClosed();
  }
  refreshed.send({ type: 'pingreq' });
  assert.equal((await refreshed.expect('pingresp')).type, 'pingresp', 'the refreshed connection outlived the first token');
  refreshed.end();
});

test('anonymous on a loopback listener: only the anonymous ACL lines apply', async () => {
  const anon = await connected(b.ports['mqtt']!, {});
  assert.deepEqual(await subscribe(anon, ['public/#', 'home/#'], 0), [0, 0x87]);
  assert.equal((await publish(anon, 'public/x', 'x', { qos: 1 }))?.reasonCode, 0x87);
  anon.end();
});

test('mutual TLS with certUsername: the certificate\'s CN is the username (its `user` block applies), client id forced to it', async () => {
  const tls = { ca: readFileSync(ca), cert: device.cert, key: device.key, servername: 'localhost', rejectUnauthorized: true };
  const url = `mqtts://127.0.0.1:${b.ports['mqtts']}`;
  // A different client id than the CN: 0x85 Client Identifier not valid.
  await assert.rejects(mqtt.connectAsync(url, { ...tls, protocolVersion: 5, clientId: 'someone-else', reconnectPeriod: 0 }), (err: { code?: number }) => err.code === 0x85);
  // The CN as client id; a username in CONNECT does not override the certificate, no password needed.
  const c = await mqtt.connectAsync(url, { ...tls, protocolVersion: 5, clientId: 'sensor-0042', username: 'alice', reconnectPeriod: 0 });
  try {
    await c.publishAsync('telemetry/sensor-0042/temp', '21.5', { qos: 1 });
    await assert.rejects(c.publishAsync('home/alice/door', 'open', { qos: 1 }), (err: { code?: number }) => err.code === 0x87);
    // write only: no subscribe right (MQTT.js rejects a SUBACK failure code).
    await assert.rejects(c.subscribeAsync('telemetry/sensor-0042/#', { qos: 0 }), (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] === 0x87);
  } finally {
    await c.endAsync();
  }
  // Another device's certificate: its own CN, which has no block, so nothing is allowed.
  const o = await mqtt.connectAsync(url, { ...tls, cert: other.cert, key: other.key, protocolVersion: 5, clientId: 'sensor-0099', reconnectPeriod: 0 });
  try {
    await assert.rejects(o.publishAsync('telemetry/sensor-0042/temp', 'forged', { qos: 1 }), (err: { code?: number }) => err.code === 0x87);
  } finally {
    await o.endAsync();
  }
  // mosquitto_pub with the device certificate, 3.1.1: the client id must be the CN there too.
  await run('mosquitto_pub', ['-h', 'localhost', '-p', String(b.ports['mqtts']), '--cafile', ca, '--cert', device.certPath, '--key', device.keyPath,
    '-i', 'sensor-0042', '-t', 'telemetry/sensor-0042/hum', '-m', '40', '-q', '1']);
  await assert.rejects(run('mosquitto_pub', ['-h', 'localhost', '-p', String(b.ports['mqtts']), '--cafile', ca, '--cert', device.certPath, '--key', device.keyPath,
    '-i', 'not-the-cn', '-t', 'telemetry/sensor-0042/hum', '-m', '40', '-q', '1']));
});

test('SIGHUP: a new ACL applies to new subscriptions on a live connection; a broken file keeps the old one', async () => {
  const alice = await connected(b.ports['mqtt']!, { clientId: 'alice-hup', username: 'alice', password: ALICE_PW });
  assert.deepEqual(await subscribe(alice, 'garden/#', 0), [0x87]);
  const reloads = (): number => b.stderr.split('ACL reloaded').length - 1;
  const before = reloads();
  writeFileSync(aclFile, ACL.replace('user alice\n', 'user alice\ntopic read garden/#\n'));
  b.child.kill('SIGHUP');
  await eventually(() => reloads() > before, 5000, 'ACL reloaded in the log');
  assert.deepEqual(await subscribe(alice, 'garden/#', 0), [0], 'the new rule applies on the same connection');

  writeFileSync(aclFile, 'user alice\nfrobnicate garden/#\n');
  b.child.kill('SIGHUP');
  await eventually(() => b.stderr.includes('ACL reload failed'), 5000, 'ACL reload failure in the log');
  assert.match(b.stderr, /"code":"MOAT_ERR_ACL"/);
  // The previous ACL (with garden/#) is still in force, and the connection is still up.
  assert.deepEqual(await subscribe(alice, ['garden/tomatoes', 'home/bob/#'], 0), [0, 0x87]);
  assert.equal(alice.closed, false);
  alice.end();
  writeFileSync(aclFile, ACL);
});

test('SIGHUP: the password file is read again (a new user gets in); a broken one keeps the old table', async () => {
  const users = join(dir, 'users');
  const original = readFileSync(users, 'utf8');
  await passwd(users, 'bob', BOB_PW);
  assert.equal((await connectRaw(b.ports['mqtt']!, { username: 'bob', password: BOB_PW })).code, 0x86, 'not before the reload');
  const reloads = (): number => b.stderr.split('password file reloaded').length - 1;
  const before = reloads();
  b.child.kill('SIGHUP');
  await eventually(() => reloads() > before, 5000, 'password file reloaded in the log');
  (await connected(b.ports['mqtt']!, { clientId: 'bob-1', username: 'bob', password: BOB_PW })).end();

  writeFileSync(users, 'this line is not user:hash\n');
  b.child.kill('SIGHUP');
  await eventually(() => b.stderr.includes('password file reload failed'), 5000, 'password file reload failure in the log');
  assert.match(b.stderr, /"code":"MOAT_ERR_PASSWORD_FILE"/);
  (await connected(b.ports['mqtt']!, { clientId: 'bob-2', username: 'bob', password: BOB_PW })).end();
  (await connected(b.ports['mqtt']!, { clientId: 'alice-4', username: 'alice', password: ALICE_PW })).end();
  writeFileSync(users, original, { mode: 0o600 });
});

test('the log at debug level holds no password and no token', async () => {
  // Something was logged at debug, so the check is not vacuous.
  assert.match(b.stderr, /authentication succeeded/);
  assert.match(b.stderr, /authentication failed/);
  assert.match(b.stderr, /MOAT_ERR_JWT_EXPIRED/);
  for (const secret of [ALICE_PW, OPS_PW, WRONG_PW, BOB_PW, JWT_SECRET, VALID_JWT, EXPIRED_JWT, VALID_JWT.split('.')[2]!]) {
    assert.ok(!b.stderr.includes(secret), 'stderr must not contain a secret');
    assert.ok(!b.stdout.includes(secret), 'stdout must not contain a secret');
  }
});

test('a broker whose only listener is not on loopback: loud warning for plain text, anonymous refused even from 127.0.0.1', async () => {
  const s = await startCli(['--listen', 'mqtt://0.0.0.0:0', '--store', 'memory', '--data-dir', join(dir, 'data2')], { cwd: dir });
  try {
    assert.match(s.stderr, /WARNING: mqtt:\/\/0\.0\.0\.0:0 is plain text on a non-loopback address/);
    const { code, client } = await connectRaw(s.ports['mqtt']!, {});
    assert.equal(code, 0x87);
    await client.waitClosed();
  } finally {
    s.child.kill('SIGKILL');
  }
});

test('MOAT_PASSWORD_FILE and MOAT_ACL_FILE from the environment', async () => {
  const s = await startCli(['--listen', 'mqtt://127.0.0.1:0', '--store', 'memory', '--data-dir', join(dir, 'data3')], {
    cwd: dir, env: { ...process.env, MOAT_PASSWORD_FILE: join(dir, 'users'), MOAT_ACL_FILE: aclFile }, ready: /-v\n/,
  });
  try {
    const port = s.ports['mqtt']!;
    assert.equal((await connectRaw(port, { username: 'alice', password: WRONG_PW })).code, 0x86);
    const alice = await connected(port, { clientId: 'env-alice', username: 'alice', password: ALICE_PW });
    assert.deepEqual(await subscribe(alice, ['home/alice/lamp', 'home/bob/#'], 0), [0, 0x87]);
    alice.end();
  } finally {
    s.child.kill('SIGKILL');
  }
});

test('TLS-PSK with pskUsername: the PSK identity is the username for the ACL, with anonymous access off; an unmapped certificate does not vouch for a claimed user name', async () => {
  const key = randomBytes(16).toString('hex');
  writeFileSync(join(dir, 'psk.txt'), `dev-psk-1:${key}\n`);
  writeFileSync(join(dir, 'psk.yaml'), `
listeners:
  - url: mqtts://127.0.0.1:0
    tlsProfile: psk
    pskFile: ${join(dir, 'psk.txt')}
store: memory
dataDir: ${join(dir, 'data4')}
allowAnonymous: false
auth: { pskUsername: true }
acl: ${aclFile}
`);
  const s = await startCli(['--config', join(dir, 'psk.yaml')], { cwd: dir });
  try {
    const common = ['-h', '127.0.0.1', '-p', String(s.ports['mqtts']), '--psk', key, '--psk-identity', 'dev-psk-1', '-V', 'mqttv5'];
    // `pattern readwrite devices/%u/#` with %u = the PSK identity. Retained: order of SUBSCRIBE and PUBLISH does not matter.
    const sub = run('mosquitto_sub', [...common, '-i', 'psk-sub', '-t', 'devices/dev-psk-1/#', '-C', '1', '-W', '8']);
    await run('mosquitto_pub', [...common, '-i', 'psk-pub', '-t', 'devices/dev-psk-1/status', '-m', 'psk-ok', '-q', '1', '-r']);
    assert.match((await sub).stdout, /psk-ok/);
    // Another identity's subtree: the SUBACK refuses it and mosquitto_sub says so (and exits 0).
    const denied = await run('mosquitto_sub', [...common, '-i', 'psk-sub2', '-t', 'devices/other/#', '-C', '1', '-W', '4']);
    assert.match(`${denied.stdout}${denied.stderr}`, /All subscription requests were denied/);
    // A device certificate (verified, not mapped here: certUsername is off) authenticates the client,
    // but not a user name it merely claims: that needs the password.
    const cert = await issueDeviceCert(join(dir, 'data4', 'pki'), 'cam-7');
    const tls = { ca: readFileSync(join(dir, 'data4', 'pki', 'ca.crt')), cert: cert.cert, key: cert.key, servername: 'localhost', rejectUnauthorized: true };
    const url = `mqtts://127.0.0.1:${s.ports['mqtts']}`;
    const ok = await mqtt.connectAsync(url, { ...tls, protocolVersion: 5, clientId: 'cam-7', reconnectPeriod: 0 });
    await ok.endAsync();
    await assert.rejects(mqtt.connectAsync(url, { ...tls, protocolVersion: 5, clientId: 'cam-7', username: 'ops', reconnectPeriod: 0 }),
      (err: { code?: number }) => err.code === 0x86);
  } finally {
    s.child.kill('SIGKILL');
  }
});

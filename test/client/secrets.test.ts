/** Credentials given to the client never show through enumeration, JSON.stringify or util.inspect. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { connect, MqttClient } from '../../src/client/index.js';
import { startBroker } from '../broker/helpers.js';

const PASSWORD = 'pw-4f1c9e-secret';
const PSK = 'a1b2c3d4e5f60718';
const KEY = '-----BEGIN PRIVATE KEY-----\nkey-material-7d3e\n-----END PRIVATE KEY-----\n';
const PASSPHRASE = 'passphrase-91ab';
const SECRETS = [PASSWORD, PSK, 'key-material-7d3e', PASSPHRASE];
/** A secret given as a Buffer shows in inspect() as hex bytes: look for those too. */
const hexBytes = (s: string): string => [...Buffer.from(s)].slice(0, 6).map((b) => b.toString(16).padStart(2, '0')).join(' ');

function assertHidden(text: string, where: string): void {
  for (const s of SECRETS) {
    assert.ok(!text.includes(s), `${where} shows a secret`);
    assert.ok(!text.includes(hexBytes(s)), `${where} shows a secret's bytes`);
  }
}

test('client.options and the client itself: password, PSK, private key and passphrase are not enumerable, serialised or inspected', () => {
  const options = { password: PASSWORD, psk: PSK, pskIdentity: 'dev-1', key: KEY, passphrase: PASSPHRASE, username: 'alice', reconnect: false as const };
  const c = new MqttClient('mqtts://127.0.0.1:1', options);
  assertHidden(inspect(c, { depth: Infinity }), 'inspect(client)');
  assertHidden(inspect(c.options, { depth: Infinity }), 'inspect(client.options)');
  assertHidden(JSON.stringify(c.options), 'JSON.stringify(client.options)');
  assertHidden(JSON.stringify({ ...c.options }), 'a spread copy');
  assert.deepEqual(Object.keys(c.options).filter((k) => ['password', 'psk', 'key', 'passphrase'].includes(k)), []);
  // Still there for the client to use, and the other options still visible.
  assert.equal(c.options.password, PASSWORD);
  assert.equal(c.options.key, KEY);
  assert.equal(JSON.parse(JSON.stringify(c.options)).username, 'alice');
  // The caller's own object is left as it was.
  assert.ok(Object.keys(options).includes('password'));
});

test('a connected client authenticated with a password (Buffer) does not show it, and the password did reach the broker', async () => {
  const b = await startBroker({}, { hooks: { authenticate: [(req) => (req.password?.toString() === PASSWORD ? undefined : { verdict: 'deny' })] } });
  const c = await connect(b.url, { reconnect: false, username: 'alice', password: Buffer.from(PASSWORD) });
  assert.equal(c.connected, true);
  assertHidden(inspect(c, { depth: Infinity }), 'inspect(connected client)');
  assertHidden(inspect(c.options, { depth: Infinity }), 'inspect(client.options)');
  assertHidden(JSON.stringify(c.options), 'JSON.stringify(client.options)');
  await assert.rejects(connect(b.url, { reconnect: false, username: 'alice', password: 'wrong' }));
  await c.end();
  await b.close();
});

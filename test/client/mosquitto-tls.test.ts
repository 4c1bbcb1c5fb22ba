/** The client against a Mosquitto started by this test with a TLS listener (dev PKI) and a TLS-PSK listener. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isMoatError } from '../../src/codec/index.js';
import { connect } from '../../src/client/index.js';
import { ensureDevPki, type DevPki } from '../../src/security/dev-pki.js';

let mosquitto: ChildProcess;
let dir: string;
let pki: DevPki;
let other: DevPki;
let tlsPort: number;
let pskPort: number;
const PSK = '00112233445566778899aabbccddeeff';

const freePort = (): Promise<number> => new Promise((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => r(port));
  });
});

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = netConnect(port, '127.0.0.1', () => { s.destroy(); r(true); }).on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`mosquitto did not listen on ${port}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moat-mosq-tls-'));
  pki = await ensureDevPki(join(dir, 'pki'));
  other = await ensureDevPki(join(dir, 'other'));
  // Mosquitto started as root drops to its own user: give it readable copies (test keys only).
  const pub = join(dir, 'public');
  mkdirSync(pub);
  chmodSync(dir, 0o755);
  chmodSync(pub, 0o755);
  for (const [from, to] of [[pki.caCertPath, 'ca.crt'], [pki.serverCertPath, 'server.crt'], [pki.serverKeyPath, 'server.key']] as const) {
    copyFileSync(from, join(pub, to));
    chmodSync(join(pub, to), 0o644);
  }
  writeFileSync(join(pub, 'psk.txt'), `dev1:${PSK}\n`, { mode: 0o644 });
  [tlsPort, pskPort] = [await freePort(), await freePort()];
  writeFileSync(join(pub, 'mosquitto.conf'), [
    'per_listener_settings true',
    `listener ${tlsPort} 127.0.0.1`, 'allow_anonymous true',
    `cafile ${join(pub, 'ca.crt')}`, `certfile ${join(pub, 'server.crt')}`, `keyfile ${join(pub, 'server.key')}`,
    `listener ${pskPort} 127.0.0.1`, 'allow_anonymous true', 'psk_hint moat', `psk_file ${join(pub, 'psk.txt')}`,
    'use_identity_as_username true', '',
  ].join('\n'));
  mosquitto = spawn('mosquitto', ['-c', join(pub, 'mosquitto.conf')], { stdio: 'ignore' });
  await Promise.all([waitListening(tlsPort), waitListening(pskPort)]);
});
after(() => {
  mosquitto.kill();
});

test('Mosquitto over TLS: verified with the CA (SNI localhost), QoS 1 round trip; a wrong CA is MOAT_ERR_TLS_VERIFY', async () => {
  const c = await connect(`mqtts://localhost:${tlsPort}`, { ca: pki.ca, reconnect: false });
  const s = await c.subscribe('tls/t', { qos: 1 });
  await c.publish('tls/t', 'secure', { qos: 1 });
  const m = await s[Symbol.asyncIterator]().next();
  assert.equal(m.value?.payload.toString(), 'secure');
  await c.end();
  await assert.rejects(connect(`mqtts://localhost:${tlsPort}`, { ca: other.ca }), (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY'));
});

test('Mosquitto over TLS-PSK: the right key connects (library and moat pub), a wrong key does not', async () => {
  const c = await connect(`mqtts://127.0.0.1:${pskPort}`, { psk: PSK, pskIdentity: 'dev1', protocolVersion: 4, reconnect: false });
  assert.equal((await c.publish('psk/t', 'x', { qos: 1 })).reasonCode, 0);
  await c.end();
  await assert.rejects(connect(`mqtts://127.0.0.1:${pskPort}`, { psk: 'ff'.repeat(16), pskIdentity: 'dev1' }),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_CONNECT_FAILED'));
  const code = await new Promise<number | null>((r) => {
    spawn(process.execPath, [resolve('.build/src/cli/main.js'), 'pub', '-h', '127.0.0.1', '-p', String(pskPort),
      '--psk', PSK, '--psk-identity', 'dev1', '-t', 'psk/cli', '-m', 'x', '-q', '1'], { stdio: 'ignore' }).on('close', r);
  });
  assert.equal(code, 0);
});

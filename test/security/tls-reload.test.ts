/**
 * Hot reload: new certificate, key, CRL and PSK file contents apply to new connections while live
 * ones stay up, on file change (watched) and on reload() (what the CLI ties to SIGHUP); a broken file
 * is refused with a log line and the previous context stays.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { isMoatError } from '../../src/codec/index.js';
import { prepareTls } from '../../src/security/tls-listener.js';
import {
  issue, makeCa, makeCrl, replaceFile, runTool, sClient, startTlsBroker, tempDir, writeFiles, eventually, captureLog, type Issued, type TlsBroker,
} from '../support/test-pki.js';

let dir: string;
let serverCa: Issued;
let deviceCa: Issued;
let first: Issued;
let second: Issued;
let device: Issued;

before(async () => {
  dir = await tempDir();
  serverCa = await makeCa('Reload Server CA');
  deviceCa = await makeCa('Reload Device CA');
  first = await issue(serverCa, { cn: 'first', role: 'server' });
  second = await issue(serverCa, { cn: 'second', role: 'server' });
  device = await issue(deviceCa, { cn: 'device-r', role: 'client' });
});

const subjectCn = (out: string): string | undefined => /subject=CN ?= ?([^\n]+)/.exec(out)?.[1]?.trim();

/** A live MQTT.js connection that does a publish/receive round trip when asked. */
async function live(b: TlsBroker, opts: mqtt.IClientOptions = {}): Promise<{ client: mqtt.MqttClient; roundTrip(): Promise<void> }> {
  const client = await mqtt.connectAsync(`mqtts://localhost:${b.port}`, { ca: serverCa.pem, reconnectPeriod: 0, protocolVersion: 5, ...opts });
  await client.subscribeAsync('live/t', { qos: 1 });
  return {
    client,
    async roundTrip() {
      const got = new Promise<string>((r) => client.once('message', (_t, p) => r(p.toString())));
      await client.publishAsync('live/t', 'still-here', { qos: 1 });
      assert.equal(await got, 'still-here');
    },
  };
}

test('replacing the certificate and key files: new connections get the new certificate, a live one stays up', async () => {
  const sub = await tempDir('moat-reload-');
  const files = await writeFiles(sub, { 'server.crt': first.pem, 'server.key': first.keyPem });
  const b = await startTlsBroker({ certFile: files['server.crt'], keyFile: files['server.key'], reloadDebounceMs: 100 });
  try {
    const c = await live(b);
    assert.equal(subjectCn(await sClient(b.port, [])), 'first');
    // Key first, then certificate, each renamed over the old file as deployment tools do.
    await replaceFile(files['server.key'], second.keyPem);
    await replaceFile(files['server.crt'], second.pem);
    await eventually(async () => subjectCn(await sClient(b.port, [])) === 'second', 5000, 'new certificate served');
    assert.ok(b.log.lines.some((l) => l.msg === 'TLS files reloaded'));
    assert.equal(c.client.connected, true);
    assert.equal((c.client.stream as unknown as TLSSocket).getPeerCertificate().subject.CN, 'first');
    await c.roundTrip();
    await c.client.endAsync();
  } finally {
    await b.close();
  }
});

test('a broken certificate file is refused with a log line; the old certificate stays, and a fixed file is taken', async () => {
  const sub = await tempDir('moat-reload-');
  const files = await writeFiles(sub, { 'server.crt': first.pem, 'server.key': first.keyPem });
  const b = await startTlsBroker({ certFile: files['server.crt'], keyFile: files['server.key'], reloadDebounceMs: 50 });
  try {
    const c = await live(b);
    await replaceFile(files['server.crt'], '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await eventually(() => b.log.lines.some((l) => l.level === 'error' && l.obj['code'] === 'MOAT_ERR_TLS_FILE'), 5000, 'refusal logged');
    assert.equal(await b.listener.tls!.reload(), false);
    assert.equal(subjectCn(await sClient(b.port, [])), 'first');
    // A certificate that does not belong to the key is refused the same way.
    await replaceFile(files['server.crt'], second.pem);
    assert.equal(await b.listener.tls!.reload(), false);
    assert.equal(subjectCn(await sClient(b.port, [])), 'first');
    await c.roundTrip();
    await replaceFile(files['server.key'], second.keyPem);
    assert.equal(await b.listener.tls!.reload(), true);
    assert.equal(subjectCn(await sClient(b.port, [])), 'second');
    await c.roundTrip();
    await c.client.endAsync();
  } finally {
    await b.close();
  }
});

test('reload() with a new CRL: the revoked device cannot connect or resume, its live connection stays', async () => {
  const sub = await tempDir('moat-reload-');
  const files = await writeFiles(sub, {
    'server.crt': first.pem, 'server.key': first.keyPem, 'ca.crt': deviceCa.pem, 'crl.pem': await makeCrl(deviceCa, []),
    'device.crt': device.pem, 'device.key': device.keyPem, 'server-ca.crt': serverCa.pem,
  });
  const b = await startTlsBroker({
    certFile: files['server.crt'], keyFile: files['server.key'], caFile: files['ca.crt'], crlFile: files['crl.pem'],
    clientCert: 'required', watch: false,
  });
  try {
    const c = await live(b, { cert: device.pem, key: device.keyPem });
    const sess = `${sub}/device.sess`;
    const args = ['-CAfile', files['server-ca.crt'], '-cert', files['device.crt'], '-key', files['device.key']];
    await sClient(b.port, [...args, '-sess_out', sess]);
    assert.match(await sClient(b.port, [...args, '-sess_in', sess]), /Reused, TLSv1\.3/);
    await writeFile(files['crl.pem'], await makeCrl(deviceCa, [device.serial]));
    assert.equal(await b.listener.tls!.reload(), true);
    // The CRL is part of the session id context: the old ticket gives a full handshake, checked anew.
    const again = await sClient(b.port, [...args, '-sess_in', sess]);
    assert.match(again, /New, TLSv1\.3/);
    await eventually(() => b.log.lines.some((l) => l.obj['reason'] === 'CERT_REVOKED'), 3000, 'revocation logged');
    const pub = await runTool('mosquitto_pub', ['-h', 'localhost', '-p', String(b.port), '--cafile', files['server-ca.crt'],
      '--cert', files['device.crt'], '--key', files['device.key'], '-t', 'live/t', '-m', 'x']);
    assert.notEqual(pub.code, 0, pub.out);
    assert.equal(c.client.connected, true);
    await c.roundTrip();
    await c.client.endAsync();
  } finally {
    await b.close();
  }
});

test('a new PSK file: an added identity works at once, a removed one is refused; a broken one keeps the old table', async () => {
  const sub = await tempDir('moat-reload-');
  const k1 = '00112233445566778899aabbccddeeff';
  const k2 = 'ffeeddccbbaa99887766554433221100';
  const files = await writeFiles(sub, { 'server.crt': first.pem, 'server.key': first.keyPem, 'psk.txt': `one:${k1}\n` });
  const b = await startTlsBroker({ profile: 'psk', certFile: files['server.crt'], keyFile: files['server.key'], pskFile: files['psk.txt'], reloadDebounceMs: 50 });
  const psk = (id: string, key: string): Promise<string> => sClient(b.port, ['-psk_identity', id, '-psk', key]);
  const usedPsk = (out: string): boolean => /TLSv1\.3, Cipher is/.test(out) && !/Server certificate/.test(out);
  try {
    assert.ok(usedPsk(await psk('one', k1)));
    assert.ok(!usedPsk(await psk('two', k2)));
    await replaceFile(files['psk.txt'], `two:${k2}\n`);
    await eventually(async () => usedPsk(await psk('two', k2)), 5000, 'new identity accepted');
    assert.ok(!usedPsk(await psk('one', k1)));
    await replaceFile(files['psk.txt'], 'two:zz\n');
    await eventually(() => b.log.lines.some((l) => l.level === 'error' && l.obj['code'] === 'MOAT_ERR_TLS_FILE'), 5000, 'refusal logged');
    assert.ok(usedPsk(await psk('two', k2)));
    assert.ok(!JSON.stringify(b.log.lines).includes(k2));
  } finally {
    await b.close();
  }
});

test('an SNI certificate replaced on disk is served to new connections for that name', async () => {
  const sub = await tempDir('moat-reload-');
  const a1 = await issue(serverCa, { cn: 'a-one', role: 'server', names: [{ type: 'dns', value: 'a.test' }] });
  const a2 = await issue(serverCa, { cn: 'a-two', role: 'server', names: [{ type: 'dns', value: 'a.test' }] });
  const files = await writeFiles(sub, { 'server.crt': first.pem, 'server.key': first.keyPem, 'a.crt': a1.pem, 'a.key': a1.keyPem });
  const b = await startTlsBroker({
    certFile: files['server.crt'], keyFile: files['server.key'], sni: { 'a.test': { certFile: files['a.crt'], keyFile: files['a.key'] } }, watch: false,
  });
  try {
    assert.equal(subjectCn(await sClient(b.port, ['-servername', 'a.test'])), 'a-one');
    await writeFile(files['a.key'], a2.keyPem);
    await writeFile(files['a.crt'], a2.pem);
    assert.equal(await b.listener.tls!.reload(), true);
    assert.equal(subjectCn(await sClient(b.port, ['-servername', 'a.test'])), 'a-two');
    assert.equal(subjectCn(await sClient(b.port, ['-servername', 'other.test'])), 'first');
  } finally {
    await b.close();
  }
});

test('at start a broken certificate or key is MOAT_ERR_TLS_FILE, a missing one too', async () => {
  const files = await writeFiles(dir, { 'bad.crt': 'garbage\n', 'good.key': first.keyPem, 'other.crt': second.pem });
  await assert.rejects(prepareTls({ certFile: files['bad.crt'], keyFile: files['good.key'] }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
  await assert.rejects(prepareTls({ certFile: files['other.crt'], keyFile: files['good.key'] }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
  await assert.rejects(prepareTls({ certFile: `${dir}/missing.crt`, keyFile: files['good.key'] }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
});

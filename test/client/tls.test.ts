/** TLS: the server verified by default (CA, host name), ALPN mqtt, client certificates, session resumption. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMoatError } from '../../src/codec/index.js';
import { connect } from '../../src/client/index.js';
import { Broker } from '../../src/broker/broker.js';
import { startListener, type RunningListener } from '../../src/broker/listeners.js';
import { ensureDevPki, type DevPki } from '../../src/security/dev-pki.js';

let pki: DevPki;
let other: DevPki;
let broker: Broker;
let tls: RunningListener;
const ticketKeys = randomBytes(48);
const spec = (): { url: string; tls: { cert: string; key: string; minVersion: 'TLSv1.3'; ticketKeys: Buffer } } =>
  ({ url: 'mqtts://127.0.0.1:0', tls: { cert: pki.cert, key: pki.key, minVersion: 'TLSv1.3', ticketKeys } });

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moat-client-tls-'));
  pki = await ensureDevPki(join(dir, 'pki'));
  other = await ensureDevPki(join(dir, 'other'));
  broker = new Broker({ sysInterval: 0 });
  tls = await startListener(broker, spec());
});
after(async () => {
  broker.shutdown();
  await tls.close();
});

test('mqtts: the dev CA verifies the server by host name (SNI) and by IP address (no SNI)', async () => {
  for (const host of ['localhost', '127.0.0.1']) {
    const c = await connect(`mqtts://${host}:${tls.address.port}`, { ca: pki.ca, reconnect: false });
    assert.equal(c.connected, true);
    await c.publish('tls/t', 'x', { qos: 1 });
    await c.end();
  }
});

test('mqtts: an unknown CA fails with MOAT_ERR_TLS_VERIFY naming the reason; no CA at all too', async () => {
  await assert.rejects(connect(`mqtts://localhost:${tls.address.port}`, { ca: other.ca }),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY') && /verif|certificate/i.test(e.message));
  await assert.rejects(connect(`mqtts://localhost:${tls.address.port}`),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY'));
});

test('mqtts: a host name the certificate does not name fails with MOAT_ERR_TLS_VERIFY', async () => {
  await assert.rejects(connect(`mqtts://127.0.0.1:${tls.address.port}`, { ca: pki.ca, servername: 'wrong.example' }),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY') && /wrong\.example|altnames|ERR_TLS_CERT_ALTNAME_INVALID/.test(e.message));
});

test('mqtts: the TLS session ticket is reused on reconnect (isResumed true after a broker restart)', async () => {
  let b = new Broker({ sysInterval: 0 });
  let l = await startListener(b, spec());
  const port = l.address.port;
  const c = await connect(`mqtts://localhost:${port}`, { ca: pki.ca, reconnect: { initialDelay: 20, maxDelay: 40 } });
  assert.equal(c.isResumed, false);
  await c.publish('tls/warm', 'x', { qos: 1 }); // a round trip: the TLS 1.3 ticket has arrived
  const back = new Promise<{ isResumed: boolean }>((r) => c.once('connect', r));
  b.shutdown();
  await l.close();
  // Same ticket keys (as a broker restarted with its keys kept would have): the ticket is accepted.
  b = new Broker({ sysInterval: 0 });
  l = await startListener(b, { ...spec(), url: `mqtts://127.0.0.1:${port}` });
  const info = await back;
  assert.equal(info.isResumed, true);
  assert.equal(c.isResumed, true);
  await c.end();
  b.shutdown();
  await l.close();
});

test('wss: verified against the dev CA', async () => {
  const b = new Broker({ sysInterval: 0 });
  const l = await startListener(b, { url: 'wss://127.0.0.1:0/mqtt', tls: { cert: pki.cert, key: pki.key } });
  const c = await connect(`wss://localhost:${l.address.port}/mqtt`, { ca: pki.ca, reconnect: false });
  assert.equal((await c.publish('wss/t', 'x', { qos: 1 })).reasonCode < 0x80, true);
  await c.end();
  await assert.rejects(connect(`wss://localhost:${l.address.port}/mqtt`, { ca: other.ca }), (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY'));
  b.shutdown();
  await l.close();
});

test('mqtts: offers ALPN "mqtt"; SNI carries a host name and is absent for an IP address (RFC 6066 §3)', async () => {
  const { createServer } = await import('node:tls');
  const seen: Array<{ alpn: string | false | null; sni: string | false }> = [];
  const server = createServer({ cert: pki.cert, key: pki.key, ALPNProtocols: ['mqtt'] }, (s) => {
    seen.push({ alpn: s.alpnProtocol, sni: (s as unknown as { servername: string | false }).servername });
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  for (const host of ['localhost', '127.0.0.1']) {
    await connect(`mqtts://${host}:${port}`, { ca: pki.ca, reconnect: false }).catch(() => undefined);
  }
  server.close();
  assert.deepEqual(seen, [{ alpn: 'mqtt', sni: 'localhost' }, { alpn: 'mqtt', sni: false }]);
});

test('mqtts: an expired server certificate fails with MOAT_ERR_TLS_VERIFY (CERT_HAS_EXPIRED)', async () => {
  const old = await ensureDevPki(join(mkdtempSync(join(tmpdir(), 'moat-client-expired-')), 'pki'), new Date(Date.now() - 500 * 24 * 3600 * 1000));
  const b = new Broker({ sysInterval: 0 });
  const l = await startListener(b, { url: 'mqtts://127.0.0.1:0', tls: { cert: old.cert, key: old.key } });
  await assert.rejects(connect(`mqtts://localhost:${l.address.port}`, { ca: old.ca }),
    (e: unknown) => isMoatError(e, 'MOAT_ERR_TLS_VERIFY') && /CERT_HAS_EXPIRED/.test(e.message));
  b.shutdown();
  await l.close();
});

test('mqtts: with a tlsSessionStore, a new client (a restarted process) resumes the TLS session too', async () => {
  let saved: Buffer | undefined;
  const store = { get: () => saved, set: (s: Buffer) => { saved = s; } };
  const first = await connect(`mqtts://localhost:${tls.address.port}`, { ca: pki.ca, reconnect: false, tlsSessionStore: store });
  await first.publish('tls/ticket', 'x', { qos: 1 });
  await first.end();
  assert.ok(saved, 'the ticket was handed to the store');
  const second = await connect(`mqtts://localhost:${tls.address.port}`, { ca: pki.ca, reconnect: false, tlsSessionStore: store });
  assert.equal(second.isResumed, true);
  await second.end();
});

test('wss: the TLS session ticket is reused on reconnect too (isResumed)', async () => {
  const keys = randomBytes(48);
  let b = new Broker({ sysInterval: 0 });
  let l = await startListener(b, { url: 'wss://127.0.0.1:0/mqtt', tls: { cert: pki.cert, key: pki.key, ticketKeys: keys } });
  const port = l.address.port;
  const c = await connect(`wss://localhost:${port}/mqtt`, { ca: pki.ca, reconnect: { initialDelay: 20, maxDelay: 40 } });
  assert.equal(c.isResumed, false);
  await c.publish('wss/warm', 'x', { qos: 1 });
  const back = new Promise<{ isResumed: boolean }>((r) => c.once('connect', r));
  b.shutdown();
  await l.close();
  b = new Broker({ sysInterval: 0 });
  l = await startListener(b, { url: `wss://127.0.0.1:${port}/mqtt`, tls: { cert: pki.cert, key: pki.key, ticketKeys: keys } });
  assert.equal((await back).isResumed, true);
  await c.end();
  b.shutdown();
  await l.close();
});

/**
 * A TLS connection that completes its handshake and never sends a byte (a load balancer's health
 * check, a scanner, a handshake flood): the handshake counters and the connection limit count it, the
 * connect timeout closes it, but no Connection or TlsInfo exists until its first bytes. One that does
 * send CONNECT gets the TlsInfo read then, and keeps the connect deadline of its handshake.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { encodePacket } from '../../src/codec/index.js';
import type { AuthenticateRequest } from '../../src/broker/hooks.js';
import type { TlsListenerOptions } from '../../src/security/tls-listener.js';
import { ManualClock } from '../support/manual-clock.js';
import { issue, makeCa, startTlsBroker, tempDir, writeFiles, eventually } from '../support/test-pki.js';

let base: TlsListenerOptions;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const dir = await tempDir();
  const ca = await makeCa('Silent CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  const f = await writeFiles(dir, { 'server.crt': server.pem, 'server.key': server.keyPem });
  base = { certFile: f['server.crt'], keyFile: f['server.key'] };
});

function handshake(port: number): Promise<tls.TLSSocket> {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  s.on('error', () => {});
  return once(s, 'secureConnect').then(() => s);
}

const connect = encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'talker' }, 4);

test('a handshake without bytes: counted, no Connection, closed at connectTimeoutMs (10 s default)', async () => {
  const clock = new ManualClock();
  const b = await startTlsBroker(base, { clock });
  try {
    const silent = await handshake(b.port);
    let closed = false;
    silent.on('close', () => { closed = true; });
    await eventually(() => b.listener.tls!.stats().full === 1, 3000, 'handshake counted');
    assert.equal(b.broker.liveConnections, 1);
    assert.equal(b.broker.connections.size, 0);
    assert.equal(b.broker.stats.connectionsTotal, 1);
    clock.advance(9_999);
    await sleep(100);
    assert.equal(closed, false, 'still open before the connect timeout');
    clock.advance(1);
    await eventually(() => closed, 3000, 'closed at the connect timeout');
    await eventually(() => b.broker.liveConnections === 0, 3000, 'no longer held');
    assert.ok(b.log.lines.some((l) => l.msg === 'connect timeout'));
  } finally {
    await b.close();
  }
});

test('the first bytes make the connection: TlsInfo read then; the connect deadline still runs from the handshake', async () => {
  const clock = new ManualClock();
  const seen: AuthenticateRequest[] = [];
  const hooks = { authenticate: [(req: AuthenticateRequest) => { seen.push(req); return { verdict: 'allow' as const }; }] };
  const b = await startTlsBroker(base, { clock, hooks });
  try {
    // Half a CONNECT 6 s after the handshake: closed 4 s later, not 10.
    const slow = await handshake(b.port);
    let closed = false;
    slow.on('close', () => { closed = true; });
    await eventually(() => b.broker.liveConnections === 1, 3000, 'held');
    clock.advance(6_000);
    slow.write(connect.subarray(0, 5));
    await eventually(() => b.broker.connections.size === 1, 3000, 'connection made on the first bytes');
    clock.advance(3_999);
    await sleep(100);
    assert.equal(closed, false);
    clock.advance(1);
    await eventually(() => closed, 3000, 'closed at the handshake\'s deadline');

    const talker = await handshake(b.port);
    const got: Buffer[] = [];
    talker.on('data', (d: Buffer) => got.push(d));
    talker.write(connect);
    await eventually(() => Buffer.concat(got).length >= 4, 3000, 'CONNACK');
    assert.deepEqual([...Buffer.concat(got).subarray(0, 4)], [0x20, 0x02, 0x00, 0x00]);
    const info = seen.at(-1)!.tls!;
    assert.equal(info.protocol, 'TLSv1.3');
    assert.equal(info.cipher, talker.getCipher().name);
    assert.equal(info.resumed, false);
    assert.deepEqual(b.listener.tls!.stats(), { full: 2, resumed: 0, psk: 0, failed: 0, rejected: 0 });
    talker.end();
  } finally {
    await b.close();
  }
});

for (const scheme of ['mqtts', 'wss'] as const) test(`${scheme}: a TLS handshake that stalls, or a TLS port that gets no byte, is closed at the connect timeout (Node's 120 s handshake timeout never closed it)`, async () => {
  const b = await startTlsBroker(base, {}, scheme, { limits: { connectTimeoutMs: 300 } });
  try {
    // The first 3 bytes of a TLS record header, then nothing: a client stalled mid-handshake.
    const stalled = net.connect({ port: b.port, host: '127.0.0.1' }, () => stalled.write(Buffer.from([0x16, 0x03, 0x01])));
    const silent = net.connect({ port: b.port, host: '127.0.0.1' });
    const started = performance.now();
    // Without the fix this would wait 120 s: give up (and fail) after 5 s.
    const closedAfter = (s: net.Socket): Promise<number> => new Promise((resolve) => {
      const guard = setTimeout(() => { resolve(Infinity); s.destroy(); }, 5_000);
      s.on('error', () => {});
      s.on('close', () => { clearTimeout(guard); resolve(performance.now() - started); });
    });
    const [a, c] = await Promise.all([closedAfter(stalled), closedAfter(silent)]);
    assert.ok(a >= 250 && a < 3_000, `stalled handshake closed after ${a.toFixed(0)} ms`);
    assert.ok(c >= 250 && c < 3_000, `silent socket closed after ${c.toFixed(0)} ms`);
    await eventually(() => b.broker.liveConnections === 0, 3000, 'no longer held');
  } finally {
    await b.close();
  }
});

/**
 * Stateless TLS 1.3 resumption: tickets sealed with a key from a file survive a broker restart; an
 * explicit session id context; rotation (scheduled, on demand, by another process writing the file);
 * full vs resumed counters. Peers: openssl s_client -sess_out/-sess_in and MQTT.js.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { isMoatError } from '../../src/codec/index.js';
import type { AuthenticateRequest } from '../../src/broker/hooks.js';
import { prepareTls, type TlsListenerOptions } from '../../src/security/tls-listener.js';
import { issue, makeCa, sClient, startTlsBroker, tempDir, writeFiles, eventually, captureLog } from '../support/test-pki.js';

let dir: string;
let base: TlsListenerOptions;
let caPem: string;
let n = 0;
const sess = (): string => join(dir, `s${++n}.pem`);

before(async () => {
  dir = await tempDir();
  const ca = await makeCa('Resumption CA');
  const server = await issue(ca, { cn: 'localhost', role: 'server' });
  caPem = ca.pem;
  const f = await writeFiles(dir, { 'server.crt': server.pem, 'server.key': server.keyPem });
  base = { certFile: f['server.crt'], keyFile: f['server.key'] };
});

/** A full handshake that saves its session, then the same session offered again. */
async function fullThenResume(port: number, file = sess()): Promise<{ first: string; second: string; file: string }> {
  const first = await sClient(port, ['-sess_out', file]);
  const second = await sClient(port, ['-sess_in', file]);
  return { first, second, file };
}

test('two s_client runs: the second resumes (Reused) and the counters say 1 full, 1 resumed', async () => {
  const b = await startTlsBroker(base);
  try {
    const { first, second } = await fullThenResume(b.port);
    assert.match(first, /New, TLSv1\.3/);
    assert.match(second, /Reused, TLSv1\.3/);
    await eventually(() => b.listener.tls!.stats().resumed === 1, 3000, 'resumed counted');
    assert.deepEqual(b.listener.tls!.stats(), { full: 1, resumed: 1, psk: 0, failed: 0, rejected: 0 });
  } finally {
    await b.close();
  }
});

test('across a broker restart with the same ticket key file the session resumes; the file is created 0600', async () => {
  const keyFile = join(dir, 'tickets-restart.key');
  const opts = { ...base, ticketKeyFile: keyFile };
  const b1 = await startTlsBroker(opts);
  const file = sess();
  try {
    assert.match(await sClient(b1.port, ['-sess_out', file]), /New, TLSv1\.3/);
  } finally {
    await b1.close();
  }
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  assert.match((await readFile(keyFile, 'utf8')).trim(), /^[0-9a-f]{96}$/);
  const b2 = await startTlsBroker(opts);
  try {
    assert.match(await sClient(b2.port, ['-sess_in', file]), /Reused, TLSv1\.3/);
    await eventually(() => b2.listener.tls!.stats().resumed === 1, 3000, 'resumed counted after restart');
  } finally {
    await b2.close();
  }
  // Without the file (a fresh random key) the same ticket cannot be opened: full handshake.
  const b3 = await startTlsBroker(base);
  try {
    assert.match(await sClient(b3.port, ['-sess_in', file]), /New, TLSv1\.3/);
  } finally {
    await b3.close();
  }
});

test('the session id context is part of the check: same key, other context → full handshake', async () => {
  const keyFile = join(dir, 'tickets-ctx.key');
  const b1 = await startTlsBroker({ ...base, ticketKeyFile: keyFile, sessionIdContext: 'one' });
  const file = sess();
  try {
    await sClient(b1.port, ['-sess_out', file]);
    assert.match(await sClient(b1.port, ['-sess_in', file]), /Reused, TLSv1\.3/);
  } finally {
    await b1.close();
  }
  const b2 = await startTlsBroker({ ...base, ticketKeyFile: keyFile, sessionIdContext: 'two' });
  try {
    assert.match(await sClient(b2.port, ['-sess_in', file]), /New, TLSv1\.3/);
  } finally {
    await b2.close();
  }
});

test('rotation on demand: tickets sealed with the previous key get a full handshake; new tickets resume; the file holds the new key', async () => {
  const keyFile = join(dir, 'tickets-rotate.key');
  const b = await startTlsBroker({ ...base, ticketKeyFile: keyFile, ticketRotationSeconds: 0 });
  try {
    const old = sess();
    await sClient(b.port, ['-sess_out', old]);
    const before = await readFile(keyFile, 'utf8');
    await b.listener.tls!.rotateTicketKeys();
    assert.notEqual(await readFile(keyFile, 'utf8'), before);
    // Node holds one ticket key: the previous one is not accepted any more.
    assert.match(await sClient(b.port, ['-sess_in', old]), /New, TLSv1\.3/);
    const { second } = await fullThenResume(b.port);
    assert.match(second, /Reused, TLSv1\.3/);
    assert.ok(b.log.lines.some((l) => l.msg === 'TLS session ticket key rotated'));
  } finally {
    await b.close();
  }
});

test('scheduled rotation rewrites the key file', async () => {
  const keyFile = join(dir, 'tickets-scheduled.key');
  const b = await startTlsBroker({ ...base, ticketKeyFile: keyFile, ticketRotationSeconds: 1 });
  try {
    const first = await readFile(keyFile, 'utf8');
    await eventually(async () => (await readFile(keyFile, 'utf8')) !== first, 4000, 'key file rotated');
  } finally {
    await b.close();
  }
});

test('a key written to the file by another process is picked up: a ticket from this broker resumes at a second one using the file', async () => {
  const keyFile = join(dir, 'tickets-shared.key');
  const b1 = await startTlsBroker({ ...base, ticketKeyFile: keyFile, ticketRotationSeconds: 0, reloadDebounceMs: 50 });
  const file = sess();
  try {
    await writeFile(keyFile, randomBytes(48).toString('hex'));
    await eventually(() => b1.log.lines.some((l) => l.msg === 'TLS session ticket key loaded'), 4000, 'ticket key loaded');
    await sClient(b1.port, ['-sess_out', file]);
  } finally {
    await b1.close();
  }
  const b2 = await startTlsBroker({ ...base, ticketKeyFile: keyFile, ticketRotationSeconds: 0 });
  try {
    assert.match(await sClient(b2.port, ['-sess_in', file]), /Reused, TLSv1\.3/);
  } finally {
    await b2.close();
  }
});

test('a ticket key file of the wrong size, or one that cannot be written, stops the start with MOAT_ERR_TLS_FILE; a missing folder is made', async () => {
  const [bad] = Object.values(await writeFiles(dir, { 'short.key': 'abcd\n' }));
  await assert.rejects(prepareTls({ ...base, ticketKeyFile: bad! }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
  await assert.rejects(prepareTls({ ...base, ticketKeyFile: join(bad!, 'under-a-file.key') }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_TLS_FILE'));
  const nested = join(dir, 'new', 'folder', 'tickets.key');
  (await prepareTls({ ...base, ticketKeyFile: nested }, captureLog(), 'x')).close();
  assert.equal((await stat(nested)).mode & 0o777, 0o600);
});

test('MQTT.js reconnecting with its TLS session is resumed, and the broker reports resumed in TlsInfo', async () => {
  const seen: AuthenticateRequest[] = [];
  const b = await startTlsBroker(base, { hooks: { authenticate: [(req) => { seen.push(req); return undefined; }] } });
  try {
    const url = `mqtts://localhost:${b.port}`;
    const c1 = await mqtt.connectAsync(url, { ca: caPem, protocolVersion: 5, clientId: 'js-1' });
    // TLS 1.3 tickets follow the server's Finished, so they arrived before the CONNACK did.
    const session = (c1.stream as unknown as TLSSocket).getSession();
    assert.ok(session);
    await c1.endAsync();
    const c2 = await mqtt.connectAsync(url, { ca: caPem, protocolVersion: 5, clientId: 'js-2', session } as mqtt.IClientOptions);
    await c2.endAsync();
    assert.equal(seen.find((r) => r.clientId === 'js-1')?.tls?.resumed, false);
    assert.equal(seen.find((r) => r.clientId === 'js-2')?.tls?.resumed, true);
    assert.equal(b.listener.tls!.stats().resumed, 1);
  } finally {
    await b.close();
  }
});

test('sessionTimeout: tickets are announced and honoured for that long — 1 s: no resumption after 2.2 s; the default (7,200 s): resumed after the same wait', async () => {
  const short = await startTlsBroker({ ...base, sessionTimeout: 1 });
  const dflt = await startTlsBroker(base);
  try {
    const a = sess();
    const b = sess();
    assert.match(await sClient(short.port, ['-sess_out', a]), /New, TLSv1\.3/);
    const first = await sClient(dflt.port, ['-sess_out', b]);
    assert.match(first, /New, TLSv1\.3/);
    assert.match(await sClient(short.port, ['-sess_in', a]), /Reused, TLSv1\.3/, 'within its lifetime');
    assert.match(await readFile(b, 'utf8'), /BEGIN SSL SESSION PARAMETERS/);
    await new Promise((r) => setTimeout(r, 2_200));
    assert.match(await sClient(short.port, ['-sess_in', a]), /New, TLSv1\.3/, 'expired after 1 s');
    assert.match(await sClient(dflt.port, ['-sess_in', b]), /Reused, TLSv1\.3/, 'the default outlives 2.2 s');
    // The lifetime clients are told (s_client prints the ticket lifetime hint).
    assert.match(first, /TLS session ticket lifetime hint: 7200 \(seconds\)/);
  } finally {
    await short.close();
    await dflt.close();
  }
});

test('sessionTimeout outside 1..604800 s (RFC 8446: a ticket lives at most 7 days) is a MOAT_ERR_CONFIG', async () => {
  for (const bad of [0, -5, 604_801, 1.5]) {
    await assert.rejects(prepareTls({ ...base, sessionTimeout: bad }, captureLog(), 'x'), (e) => isMoatError(e, 'MOAT_ERR_CONFIG'), String(bad));
  }
});

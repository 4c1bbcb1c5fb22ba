/**
 * The invariants on one quick lab run (every mode, ECDSA P-256 server key only, RTTs 0 and 200
 * ms): real sockets, real TLS, the real broker in its child process.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePacket } from '../../src/codec/index.js';
import { runLab } from '../../src/lab/runner.js';
import { LAB_MODES, type LabMode, type LabReport, type ModeResult } from '../../src/lab/report.js';
import { LAB_MQTT_VERSION, publishPacket } from '../../src/lab/setup-probe.js';

const RTT = 200;
let report: LabReport;
const progress: string[] = [];

before(async () => {
  report = await runLab({ quick: true, keys: ['ecdsa-p256'], rtts: [0, RTT], onProgress: (t) => progress.push(t) });
});

const row = (mode: LabMode): ModeResult => {
  const r = report.results.find((x) => x.mode === mode);
  assert.ok(r, `no row for ${mode}`);
  assert.equal(r.skipped, undefined, `${mode} skipped: ${r.skipped ?? ''}`);
  return r;
};
const fastestAt = (r: ModeResult, rtt: number): number => r.setup.find((s) => s.rttMs === rtt)!.connack.min;
const serverSetupBytes = (r: ModeResult): number => r.setupBytes.handshake.serverToClient + r.setupBytes.tickets;

test('every mode has a row with the environment filled from the machine, and progress was reported', () => {
  assert.deepEqual(report.results.map((r) => r.mode), [...LAB_MODES]);
  assert.equal(report.target, 'built-in');
  assert.deepEqual(report.rtts, [0, RTT]);
  const env = report.environment;
  assert.equal(env.node, process.version);
  assert.equal(env.openssl, process.versions.openssl);
  assert.ok(env.cpus >= 1 && env.totalMemBytes > 0 && env.loadAverage.length === 3);
  assert.ok(progress.some((p) => p.startsWith('tls13-full ecdsa-p256: setup at 200 ms RTT')), progress.join('\n'));
});

test('TLS 1.3 full needs one round trip fewer than TLS 1.2 full; resumption and PSK need one; plain none', () => {
  assert.equal(row('tls13-full').roundTrips, row('tls12-full').roundTrips - 1);
  assert.equal(row('tls13-full').roundTrips, 1);
  assert.equal(row('tls12-full').roundTrips, 2);
  for (const m of ['tls12-resumed', 'tls13-resumed', 'tls13-psk', 'mtls13'] as const) assert.equal(row(m).roundTrips, 1, m);
  assert.equal(row('plain').roundTrips, 0);
  for (const r of report.results) assert.equal(r.tcpRoundTrips, 1);
});

test('a resumed setup sends fewer bytes from the server than a full one (TLS 1.3 and TLS 1.2), and really resumed', () => {
  assert.ok(serverSetupBytes(row('tls13-resumed')) < serverSetupBytes(row('tls13-full')));
  assert.ok(serverSetupBytes(row('tls12-resumed')) < serverSetupBytes(row('tls12-full')));
  assert.equal(row('tls13-resumed').resumed, true);
  assert.equal(row('tls12-resumed').resumed, true);
});

/*
 * connect() → CONNACK waits one simulated RTT for TCP's handshake (the proxy holds the client's first
 * bytes until a real SYN-ACK would be back), one per TLS round trip before CONNECT, and one for
 * CONNECT → CONNACK itself: (round trips + 2) × RTT. Tolerance ±40 % of one RTT (±80 ms): wide enough
 * for timer lateness and CPU contention on this shared 2-core machine, narrow enough that a round trip
 * counted wrong or TCP's left out (a whole RTT off) fails. The fastest setup at each RTT is compared:
 * load from other processes only ever adds time, so the minimum is the least disturbed measurement.
 */
test('setup time at 200 ms RTT exceeds that at 0 ms by (TCP 1 + TLS round trips + CONNECT/CONNACK 1) × RTT, ±40 % of one RTT', () => {
  for (const r of report.results) {
    const delta = fastestAt(r, RTT) - fastestAt(r, 0);
    const expected = (r.tcpRoundTrips + r.roundTrips + 1) * RTT;
    assert.ok(Math.abs(delta - expected) <= 0.4 * RTT, `${r.mode}: +${delta.toFixed(1)} ms, expected ${expected} ms`);
    const s = r.setup.find((x) => x.rttMs === RTT)!;
    assert.ok(s.firstPuback.median > s.connack.median, `${r.mode}: PUBACK after CONNACK`);
  }
});

test('plain has no TLS overhead: no handshake or ticket bytes, and a message costs exactly its MQTT packet', () => {
  const p = row('plain');
  assert.deepEqual(p.setupBytes.handshake, { clientToServer: 0, serverToClient: 0 });
  assert.equal(p.setupBytes.tickets, 0);
  assert.equal(p.protocol, undefined);
  // Nobody subscribes to the lab's topic: the broker acknowledges with 0x10 No matching subscribers.
  const puback = encodePacket({ type: 'puback', packetId: 1, reasonCode: 0x10 }, LAB_MQTT_VERSION).length;
  for (const o of p.overhead) {
    const mqtt = publishPacket(o.payloadBytes, o.qos).length + (o.qos === 1 ? puback : 0);
    assert.equal(o.wireBytes, mqtt, `plain ${o.payloadBytes} B QoS ${o.qos}`);
    assert.equal(o.overheadBytes, mqtt - o.payloadBytes);
  }
  // 16 B at QoS 0 on topic "t" (MQTT 5): fixed header 2, topic 3, property length 1.
  assert.equal(p.overhead.find((o) => o.payloadBytes === 16 && o.qos === 0)!.wireBytes, 22);
});

test('over TLS a QoS 0 message costs its MQTT packet plus one record: 22 B on TLS 1.3, 29 B on TLS 1.2 GCM', () => {
  // RFC 8446 §5.2: 5-byte header, 1-byte inner content type, 16-byte AEAD tag. RFC 5288: 5-byte header,
  // 8-byte explicit nonce, 16-byte tag.
  for (const [mode, record] of [['tls13-full', 22], ['tls12-full', 29], ['tls12-psk', 29], ['mtls13', 22]] as const) {
    for (const o of row(mode).overhead.filter((x) => x.qos === 0)) {
      assert.equal(o.wireBytes, publishPacket(o.payloadBytes, 0).length + record, `${mode} ${o.payloadBytes} B`);
    }
  }
});

test('the negotiated protocol, cipher and group are what each mode asks for', () => {
  const tls13 = /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/;
  for (const m of ['tls13-full', 'tls13-resumed', 'tls13-psk', 'mtls13'] as const) {
    assert.equal(row(m).protocol, 'TLSv1.3', m);
    assert.match(row(m).cipher ?? '', tls13, m);
  }
  for (const m of ['tls12-full', 'tls12-resumed'] as const) {
    assert.equal(row(m).protocol, 'TLSv1.2', m);
    // An ECDSA server key: ECDHE with ECDSA signatures, AEAD only (the compatible profile).
    assert.match(row(m).cipher ?? '', /^TLS_ECDHE_ECDSA_WITH_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/, m);
  }
  assert.equal(row('tls12-psk').cipher, 'TLS_PSK_WITH_AES_128_GCM_SHA256');
  // Full handshakes exchange an ephemeral key; a TLS 1.2 resumption and plain PSK do not.
  for (const m of ['tls13-full', 'tls12-full', 'tls13-psk', 'mtls13'] as const) assert.match(row(m).group ?? '', /^(X25519|prime256v1|P-256|secp384r1)$/, m);
  assert.equal(row('tls12-resumed').group, undefined);
  assert.equal(row('tls12-psk').group, undefined);
  // PSK rows have no server key type, so no certificate bytes: far fewer handshake bytes than with one.
  assert.equal(row('tls13-psk').key, undefined);
  assert.ok(row('tls13-psk').setupBytes.handshake.serverToClient < row('tls13-full').setupBytes.handshake.serverToClient);
});

/*
 * Memory is the broker child's RSS difference: RSS moves in steps of 128 KiB or more, so with the quick
 * run's 40 connections its resolution is about 3 KiB per connection, and a step the GC gives back can
 * make one plain measurement (a few KiB per connection) zero or negative. TLS connections (tens of KiB
 * each: OpenSSL buffers and keys) are well above that; plain is only checked to be finite.
 */
test('CPU per setup, memory per connection and throughput are positive and finite, with their spread', () => {
  for (const r of report.results) {
    const stats = [r.cpu.clientUs, r.cpu.serverUs!, r.memoryPerConnection!, r.throughputMBps!];
    for (const s of stats) {
      assert.ok(Number.isFinite(s.median) && Number.isFinite(s.min) && Number.isFinite(s.max), `${r.mode}: ${JSON.stringify(s)}`);
      assert.ok(s.min <= s.median && s.median <= s.max && s.n >= 1, `${r.mode}: ${JSON.stringify(s)}`);
      if (s !== r.memoryPerConnection || r.mode !== 'plain') assert.ok(s.median > 0, `${r.mode}: ${JSON.stringify(s)}`);
    }
    assert.equal(r.cpu.clientUs.n, report.repeat);
  }
  // TLS keeps per-connection state (buffers, keys) that plain TCP does not.
  assert.ok(row('tls13-full').memoryPerConnection!.median > row('plain').memoryPerConnection!.median);
});

test('the ticket lifetime the lab broker announced is reported for the rows that got a ticket, one value (one listener setting); plain has none', () => {
  const withTickets = ['tls12-full', 'tls13-full', 'tls13-resumed', 'tls12-resumed', 'mtls13'] as const;
  const lifetimes = new Set(withTickets.map((m) => row(m).ticketLifetimeS));
  assert.equal(lifetimes.size, 1, [...lifetimes].join(', '));
  assert.ok(([...lifetimes][0] ?? 0) >= 300, String([...lifetimes][0]));
  assert.equal(row('plain').ticketLifetimeS, undefined);
});

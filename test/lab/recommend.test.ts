/** recommend(): daily costs computed from the report's numbers, and a choice whose reasons follow them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageBytes, recommend, renderRecommendation, setupMsAt, type DeviceProfile } from '../../src/lab/recommend.js';
import type { ModeResult } from '../../src/lab/report.js';
import { fixtureReport } from './fixture.js';

const device = (d: Partial<DeviceProfile>): DeviceProfile => ({
  ramKb: 256, cpuMHz: 240, rttMs: 50, reconnectsPerDay: 10, msgsPerDay: 100, payloadBytes: 16, qos: 1, ...d,
});
const row = (mode: string, key?: string): ModeResult =>
  fixtureReport().results.find((r) => r.mode === mode && r.key === key)!;

test('daily bytes and CPU for a hand-checked case', () => {
  const rec = recommend(fixtureReport(), device({}));
  const e = rec.estimates.find((x) => x.label === 'tls13-full ecdsa-p256')!;
  // Setup: handshake 330 + (300 + 1000) + tickets 500 + MQTT (30 + 22) + (9 + 22) = 2213 B.
  assert.equal(e.setupBytes, 2213);
  // One 16 B QoS 1 message: 9 B framing + 22 B TLS record + PUBACK 6 + 22 = 59 B over the payload.
  assert.equal(e.messageBytes, 75);
  assert.equal(e.dailyBytes, 10 * 2213 + 100 * 75);
  // 10 setups × 1400 µs client CPU × (2400 MHz / 240 MHz).
  assert.ok(Math.abs(e.dailyCpuSeconds - 0.14) < 1e-9, String(e.dailyCpuSeconds));
  // Setup time at 50 ms is the measured median.
  assert.equal(e.setupMs, row('tls13-full', 'ecdsa-p256').setup[1]!.connack.median);
});

test('interpolation: message bytes between measured payloads, setup time between and beyond measured RTTs', () => {
  const r = row('tls13-full', 'ecdsa-p256');
  // Overhead 59 B at 16 B and 60 B at 256 B (QoS 1): 59.5 B at 136 B.
  assert.equal(messageBytes(r, 136, 1), 136 + 59.5);
  assert.equal(messageBytes(r, 1, 0), 1 + 31, 'below 16 B the 16 B overhead');
  assert.equal(messageBytes(r, 8192, 0), 8192 + 32, 'beyond 4 KiB the last slope (flat here)');
  // CONNACK median: 3.4 + 3 × RTT (fixture: TCP, TLS and CONNECT/CONNACK, as the lab measures them).
  // 100 ms is between 50 and 200; 400 ms beyond: the last measurement + 3 counted round trips × 200 ms.
  assert.ok(Math.abs(setupMsAt(r, 100) - 303.4) < 1e-9);
  assert.ok(Math.abs(setupMsAt(r, 400) - 1203.4) < 1e-9);
  // Noise in the last measurement (+12 ms) is not stretched into the slope: 615.4 + 3 × 500, not 615.4 + 3.08 × 500.
  const noisy = { ...r, setup: r.setup.map((s) => (s.rttMs === 200 ? { ...s, connack: { ...s.connack, median: s.connack.median + 12 } } : s)) };
  assert.ok(Math.abs(setupMsAt(noisy, 700) - (615.4 + 1500)) < 1e-9, String(setupMsAt(noisy, 700)));
  // Below the first measured RTT the same way, never below 0.
  const from50 = { ...r, setup: r.setup.filter((s) => s.rttMs >= 50) };
  assert.ok(Math.abs(setupMsAt(from50, 10) - 33.4) < 1e-9, String(setupMsAt(from50, 10)));
  const one = { ...r, setup: [r.setup[0]!] };
  // One RTT measured: the counted round trips (TCP 1 + TLS 1 + CONNECT/CONNACK 1) × RTT.
  assert.ok(Math.abs(setupMsAt(one, 100) - (r.setup[0]!.connack.median + 300)) < 1e-9);
});

test('many reconnects on a long RTT: a resumed mode, with the saving in the reasons', () => {
  const rec = recommend(fixtureReport(), device({ rttMs: 600, reconnectsPerDay: 500, msgsPerDay: 500 }));
  assert.match(rec.recommended!.mode, /-resumed$/);
  const full = rec.estimates.find((e) => e.mode === rec.recommended!.mode.replace('resumed', 'full') && e.key === rec.recommended!.key)!;
  const saving = full.setupBytes - rec.recommended!.setupBytes;
  assert.ok(saving > 0);
  assert.ok(rec.reasons.some((r) => r.startsWith('resumption:') && r.includes(`${saving.toLocaleString('en-US')} B fewer per connect`)), rec.reasons.join('\n'));
  assert.ok(rec.notes.some((n) => n.includes('sessionTimeout ≥ 173')), 'ticket lifetime for a connect every 172.8 s');
});

test('resumption and the ticket lifetime the broker announced: a ticket not renewed on resumption serves ⌈lifetime / interval⌉ connects; a lifetime shorter than the interval rules resumption out, with what raising it would save', () => {
  // As Node's server does: tickets valid `s` seconds, no new ticket on a resumed connection (tickets 0).
  const withLife = (s: number) => fixtureReport((r) => ({ ...r, ticketLifetimeS: s, ...(r.mode.endsWith('-resumed') ? { setupBytes: { ...r.setupBytes, tickets: 0 } } : {}) }));
  const dev = device({ rttMs: 600, reconnectsPerDay: 500, msgsPerDay: 500 }); // a connect every 172.8 s
  const long = recommend(withLife(7200), dev);
  assert.match(long.recommended!.mode, /-resumed$/);
  // ⌈7200 / 172.8⌉ = 42 connects per full handshake → ⌈500 / 42⌉ = 12 full handshakes a day.
  const resumed = long.estimates.find((e) => e.mode === long.recommended!.mode && e.key === long.recommended!.key)!;
  assert.match(resumed.setupText, /^12 full handshakes × /, resumed.setupText);
  assert.ok(long.notes.some((n) => n.includes('valid for 7,200 s from the full handshake') && n.includes('12 full handshakes a day')), long.notes.join('\n'));
  const short = recommend(withLife(60), dev);
  assert.doesNotMatch(short.recommended!.mode, /-resumed$/);
  for (const e of short.estimates.filter((x) => x.mode.endsWith('-resumed'))) assert.match(e.excluded ?? '', /outlives the ticket lifetime the broker announced \(60 s\)/);
  assert.ok(short.notes.some((n) => n.includes('sessionTimeout above 173 s') && n.includes('would cost')), short.notes.join('\n'));
});

test('a broker that renews tickets on resumption (tickets > 0 on the resumed row): one full handshake per rotation while each gap is shorter than the lifetime; a gap as long as the lifetime rules resumption out', () => {
  const renewing = (s: number) => fixtureReport((r) => ({ ...r, ticketLifetimeS: s, ...(r.mode.endsWith('-resumed') ? { setupBytes: { ...r.setupBytes, tickets: 271 } } : {}) }));
  const dev = device({ rttMs: 600, reconnectsPerDay: 500, msgsPerDay: 500 }); // a connect every 172.8 s
  const resumed = recommend(renewing(7200), dev).estimates.find((e) => e.mode === 'tls13-resumed')!;
  assert.match(resumed.setupText, /^1 full handshake × /, resumed.setupText);
  assert.equal(resumed.excluded, undefined);
  // Renewal does not help a ticket that expires before the next connect (seen with Mosquitto: 7,200 s tickets, a connect every 3 h).
  const short = recommend(renewing(60), dev);
  const r60 = short.estimates.find((e) => e.mode === 'tls13-resumed')!;
  assert.match(r60.excluded ?? '', /outlives the ticket lifetime the broker announced \(60 s\)/);
  assert.match(r60.setupText, /^500 full handshakes × /, r60.setupText);
});
test('the reasons follow the numbers: when resumption costs more bytes than a full handshake, it is not chosen', () => {
  const report = fixtureReport((r) => (r.mode.endsWith('-resumed')
    ? { ...r, setupBytes: { ...r.setupBytes, handshake: { clientToServer: 5_000, serverToClient: 5_000 } } }
    : r));
  const rec = recommend(report, device({ rttMs: 600, reconnectsPerDay: 500, msgsPerDay: 500 }));
  assert.doesNotMatch(rec.recommended!.mode, /resumed/);
  assert.equal(rec.recommended!.mode, 'tls13-full');
  assert.equal(rec.recommended!.key, 'ed25519', 'the smallest certificate flight');
  assert.ok(rec.reasons.some((r) => r.startsWith('TLS 1.3: 1 round trip fewer than tls12-full ed25519')), rec.reasons.join('\n'));
});

test('tiny RAM gets TLS 1.3 PSK; certificate modes and TLS 1.2 PSK are excluded with why', () => {
  const rec = recommend(fixtureReport(), device({ ramKb: 32, cpuMHz: 64, reconnectsPerDay: 24 }));
  assert.equal(rec.recommended!.mode, 'tls13-psk');
  assert.ok(rec.reasons.some((r) => r.startsWith('RAM: 32 KiB is below the 64 KiB')));
  for (const e of rec.estimates) {
    if (e.mode === 'tls13-psk') assert.equal(e.excluded, undefined);
    else assert.ok(e.excluded, `${e.label} excluded`);
  }
  assert.match(rec.estimates.find((e) => e.mode === 'tls12-psk')!.excluded!, /no forward secrecy/);
  assert.match(rec.estimates.find((e) => e.label === 'tls13-resumed ed25519')!.excluded!, /up to 1,930 B s→c/, 'the largest full-handshake flight (mtls13 rsa-2048)');
  // Without TLS 1.3 PSK measured, TLS 1.2 PSK is what is left.
  const no13 = fixtureReport((r) => (r.mode === 'tls13-psk' ? { ...r, skipped: 'not offered' } : r));
  assert.equal(recommend(no13, device({ ramKb: 32 })).recommended!.mode, 'tls12-psk');
});

test('an always-on gateway: setup cost is noise, device identity (mTLS) is worth it; resumption cannot outlive the ticket key', () => {
  const rec = recommend(fixtureReport(), device({ ramKb: 512 * 1024, cpuMHz: 1200, reconnectsPerDay: 1, msgsPerDay: 100_000, payloadBytes: 200 }));
  assert.equal(rec.recommended!.mode, 'mtls13');
  assert.ok(rec.reasons.some((r) => r.startsWith('device identity:')));
  assert.match(rec.estimates.find((e) => e.mode === 'tls13-resumed')!.excluded!, /outlives the broker's ticket key/);
  assert.match(rec.estimates.find((e) => e.mode === 'tls13-psk')!.excluded!, /secret key/);
});

test('plain is never recommended, though cheapest, and the reasons say what it would save', () => {
  const rec = recommend(fixtureReport(), device({}));
  assert.equal(rec.estimates[0]!.mode, 'plain', 'cheapest by bytes');
  assert.notEqual(rec.recommended!.mode, 'plain');
  assert.ok(rec.reasons.some((r) => r.startsWith('plain TCP would save')));
  // A resumed mode whose setups were not resumed is not a candidate.
  const unresumed = fixtureReport((r) => (r.mode.endsWith('-resumed') ? { ...r, resumed: false } : r));
  const r2 = recommend(unresumed, device({ rttMs: 600, reconnectsPerDay: 500 }));
  assert.doesNotMatch(r2.recommended!.mode, /resumed/);
  // Only plain measured: no recommendation at all.
  const onlyPlain = fixtureReport((r) => (r.mode === 'plain' ? r : { ...r, skipped: 'x' }));
  assert.equal(recommend(onlyPlain, device({})).recommended, undefined);
});

test('the text form: a row per measured mode, the choice, reasons and notes', () => {
  const report = fixtureReport();
  const text = renderRecommendation(recommend(report, device({})));
  for (const r of report.results) assert.ok(text.includes(r.key ? `${r.mode} ${r.key}` : r.mode));
  assert.match(text, /^Recommended: \S+/m);
  assert.match(text, /RECOMMENDED/);
  assert.match(text, /\nNot chosen:\n/);
  assert.match(text, /\nNotes:\n/);
});

test('TLS 1.3 is preferred over a TLS 1.2 mode that is at most 10% cheaper, not over one far cheaper', () => {
  const d = device({ rttMs: 600, reconnectsPerDay: 500, msgsPerDay: 500 });
  // Fixture: TLS 1.2 resumed 653 B per connect, TLS 1.3 resumed 1,533 B — far apart: TLS 1.2 stays.
  const far = recommend(fixtureReport(), d);
  assert.equal(far.recommended!.mode, 'tls12-resumed');
  assert.ok(far.reasons.some((x) => x.startsWith('TLS 1.2 over tls13-resumed') && x.includes('beyond the 10%')), far.reasons.join('\n'));
  // TLS 1.3 resumption made 5% dearer than TLS 1.2's: TLS 1.3, with the price in the reasons.
  const close = fixtureReport((r) => (r.mode === 'tls13-resumed'
    ? { ...r, setupBytes: { ...r.setupBytes, tickets: 0, handshake: { clientToServer: 450, serverToClient: 152 } } }
    : r));
  const rec = recommend(close, d);
  assert.equal(rec.recommended!.mode, 'tls13-resumed');
  assert.ok(rec.reasons.some((x) => x.startsWith('TLS 1.3 over tls12-resumed') && x.includes('fresh ECDHE')), rec.reasons.join('\n'));
});

test('a resumed mode\'s day holds the full handshake its ticket needs once per ticket key rotation', () => {
  const rec = recommend(fixtureReport(), device({ reconnectsPerDay: 24, msgsPerDay: 0 }));
  const resumed = rec.estimates.find((e) => e.label === 'tls13-resumed ed25519')!;
  const full = rec.estimates.find((e) => e.label === 'tls13-full ed25519')!;
  assert.equal(resumed.dailySetupBytes, full.setupBytes + 23 * resumed.setupBytes);
  assert.equal(resumed.setupText, `1 full handshake × ${full.setupBytes.toLocaleString('en-US')} B + 23 resumed × ${resumed.setupBytes.toLocaleString('en-US')} B`);
});

test('the key within the chosen mode is the one with fewer bytes (then less CPU), never a few ms of this machine\'s noise in waiting time', () => {
  // Ed25519's certificate is the smallest; make its CONNACK times 2 ms slower than the others' (noise).
  const report = fixtureReport((r) => (r.key === 'ed25519' ? { ...r, setup: r.setup.map((s) => ({ ...s, connack: { ...s.connack, median: s.connack.median + 2 } })) } : r));
  const rec = recommend(report, device({ ramKb: 1_048_576, cpuMHz: 1200, rttMs: 40, reconnectsPerDay: 1, msgsPerDay: 172_800, payloadBytes: 256 }));
  const same = rec.estimates.filter((e) => e.mode === rec.recommended!.mode);
  const fewest = Math.min(...same.map((e) => e.dailyBytes));
  assert.equal(rec.recommended!.dailyBytes, fewest, `${rec.recommended!.label}: ${same.map((e) => `${e.label} ${e.dailyBytes}`).join(', ')}`);
});

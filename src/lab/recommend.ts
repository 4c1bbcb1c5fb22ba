/**
 * `moat lab recommend`: a measured LabReport and one kind of device → what each mode would cost that
 * device per day, and a recommended mode with the reasons in the report's own numbers. The policy is
 * stated where it decides (certificate RAM threshold, ticket validity, preference for device identity);
 * every cost is computed from the measurements, never taken from a table.
 */
import { grouped, ms, rowLabel, setupTotal } from './format.js';
import type { LabKey, LabMode, LabReport, ModeResult } from './report.js';

export interface DeviceProfile {
  /** RAM the device can give its TLS stack and application, KiB. */
  ramKb: number;
  cpuMHz: number;
  /** Round-trip time of the device's link, ms. */
  rttMs: number;
  reconnectsPerDay: number;
  msgsPerDay: number;
  payloadBytes: number;
  /** QoS of the device's messages (default 1: telemetry that must arrive). */
  qos?: 0 | 1;
}

export interface RecommendPolicy {
  /**
   * Below this RAM (KiB) a device is taken not to fit X.509 parsing and public-key signature
   * verification beside its application, and gets a PSK mode. Default 64: a policy, printed in the reasons.
   */
  certRamKb: number;
  /** Moat's ticket key rotation (ticketRotationSeconds, default 86400): a ticket older than this fails. */
  ticketKeyRotationS: number;
  /** mTLS is preferred when its daily bytes and waiting time are at most this fraction above the choice's (default 0.05). */
  identityPremium: number;
  /**
   * A TLS 1.3 mode is preferred over a cheaper TLS 1.2 one when it costs at most this fraction more
   * (default 0.10): its resumption runs a fresh ECDHE, its certificates travel encrypted.
   */
  tls13Premium: number;
}

export const DEFAULT_POLICY: RecommendPolicy = { certRamKb: 64, ticketKeyRotationS: 86_400, identityPremium: 0.05, tls13Premium: 0.1 };

export interface ModeEstimate {
  mode: LabMode;
  key?: LabKey;
  label: string;
  /** Bytes of one connection setup up to CONNACK, both ways, tickets included. */
  setupBytes: number;
  /** How the day's setup bytes add up, for the reasons ("24 connects × 819 B", or full + resumed). */
  setupText: string;
  /** Bytes on the wire for one message of the device's payload and QoS (interpolated), both ways. */
  messageBytes: number;
  dailySetupBytes: number;
  dailyMessageBytes: number;
  dailyBytes: number;
  /** Client CPU for the day's connection setups, scaled to the device's clock; per-message CPU is not measured. */
  dailyCpuSeconds: number;
  /** connect() → CONNACK at the device's RTT, ms (interpolated from the measured RTTs). */
  setupMs: number;
  /** Seconds per day spent waiting for CONNACK (radio on, nothing useful sent yet). */
  dailyWaitSeconds: number;
  /** TLS round trips before the first MQTT byte, as measured. */
  roundTrips: number;
  /** Why this mode cannot be the recommendation for this device (undefined: it can). */
  excluded?: string;
}

export interface Recommendation {
  device: DeviceProfile;
  policy: RecommendPolicy;
  /** Every measured mode, cheapest daily bytes first. */
  estimates: ModeEstimate[];
  recommended?: ModeEstimate;
  /** Why the recommended mode, each with the numbers that decide it. */
  reasons: string[];
  /** What the estimates do not cover, and settings the recommendation needs. */
  notes: string[];
}

/** Linear interpolation through sorted points; beyond the ends, the slope of the nearest two (or flat). */
export function interpolate(points: Array<[number, number]>, x: number): number {
  const p = [...points].sort((a, b) => a[0] - b[0]);
  if (p.length === 0) return NaN;
  if (p.length === 1) return p[0]![1];
  let i = p.findIndex(([px]) => px >= x);
  if (i === -1) i = p.length - 1;
  if (i === 0) i = 1;
  const [x0, y0] = p[i - 1]!;
  const [x1, y1] = p[i]!;
  return x1 === x0 ? y1 : y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
}

/** Wire bytes of one message: the payload plus the overhead measured at the nearest payload sizes. */
export function messageBytes(r: ModeResult, payloadBytes: number, qos: 0 | 1): number {
  let points = r.overhead.filter((o) => o.qos === qos);
  if (points.length === 0) points = r.overhead;
  if (points.length === 0) return payloadBytes;
  const min = Math.min(...points.map((o) => o.payloadBytes));
  // Below the smallest measured payload the overhead is that one's (framing does not shrink).
  const overhead = payloadBytes <= min
    ? points.find((o) => o.payloadBytes === min)!.overheadBytes
    : interpolate(points.map((o) => [o.payloadBytes, o.overheadBytes]), payloadBytes);
  return payloadBytes + Math.max(0, overhead);
}

/**
 * connect() → CONNACK on the device's link at `rttMs`: between measured RTTs, linear; beyond them, the
 * nearest measurement plus the counted round trips (TCP + TLS + CONNECT/CONNACK — the lab's delay proxy
 * holds a connection's first bytes for TCP's round trip) × the difference. Not the measured slope: a
 * few milliseconds of noise in it, stretched over a long RTT, would rank modes with the same round
 * trips apart (seen: 700 ms extrapolated from 50 and 200 ms put RSA ahead of Ed25519 by 16 ms).
 */
export function setupMsAt(r: ModeResult, rttMs: number): number {
  const points = r.setup.map((s): [number, number] => [s.rttMs, s.connack.median]).sort((a, b) => a[0] - b[0]);
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last) return NaN;
  const perRtt = r.tcpRoundTrips + r.roundTrips + 1;
  if (rttMs <= first[0]) return Math.max(0, first[1] + (rttMs - first[0]) * perRtt);
  if (rttMs >= last[0]) return last[1] + (rttMs - last[0]) * perRtt;
  return interpolate(points, rttMs);
}

const isPsk = (m: LabMode): boolean => m.endsWith('-psk');
/** A CPU saving (positive) or cost (negative) in µs, as words. */
const cpuDiff = (savedUs: number): string => `${grouped(Math.round(Math.abs(savedUs)))} µs ${savedUs >= 0 ? 'less' : 'more'}`;
const isResumed = (m: LabMode): boolean => m.endsWith('-resumed');
const pct = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'}%`;
const b = (n: number): string => `${grouped(Math.round(n))} B`;

/**
 * How long the resumptions one full handshake starts can go on, in seconds; 0 when not even the next
 * connect can resume. Every ticket key rotation ends all tickets, and the broker refuses a ticket older
 * than the lifetime it announced — so a ticket must outlive the gap between two connects, renewed or
 * not. When resumptions bring no new ticket (measured: the resumed row's tickets are 0, as Node's server
 * does) the lifetime counts from the full handshake: a device resuming every 15 minutes from a 2-hour
 * ticket needs a full handshake every 2 hours, not once a day. A broker that renews (Mosquitto: tickets
 * on resumed rows) keeps the chain going until the rotation.
 */
export function ticketSpanS(r: ModeResult, d: DeviceProfile, p: RecommendPolicy): number {
  const interval = d.reconnectsPerDay > 0 ? 86_400 / d.reconnectsPerDay : Infinity;
  const lifetime = r.ticketLifetimeS ?? Infinity;
  if (interval >= lifetime || interval >= p.ticketKeyRotationS) return 0;
  return r.setupBytes.tickets > 0 ? p.ticketKeyRotationS : Math.min(p.ticketKeyRotationS, lifetime);
}

/**
 * Full handshakes per day of a resumed mode: connects at 0, I, 2I, … resume while younger than the
 * span, so a full handshake serves ⌈span / I⌉ connects — and at least one per rotation. (A rotation in
 * the middle of a chain costs one more, not counted: at most one a day.)
 */
export function fullHandshakesPerDay(r: ModeResult, d: DeviceProfile, p: RecommendPolicy): number {
  if (d.reconnectsPerDay <= 0) return 0;
  const interval = 86_400 / d.reconnectsPerDay;
  const perFull = Math.max(1, Math.ceil(ticketSpanS(r, d, p) / interval));
  return Math.min(d.reconnectsPerDay, Math.max(Math.ceil(86_400 / p.ticketKeyRotationS), Math.ceil(d.reconnectsPerDay / perFull)));
}

/**
 * A day of this mode on the device. A resumed mode still needs a full handshake whenever its ticket
 * stops working (fullHandshakesPerDay), so its day is that many full setups (the same key's full mode,
 * measured) and the rest resumed.
 */
function estimate(report: LabReport, r: ModeResult, d: DeviceProfile, full: ModeResult | undefined, p: RecommendPolicy): ModeEstimate {
  const qos = d.qos ?? 1;
  const setupBytes = setupTotal(r);
  const message = messageBytes(r, d.payloadBytes, qos);
  const scale = report.environment.cpuMHz > 0 && d.cpuMHz > 0 ? report.environment.cpuMHz / d.cpuMHz : 1;
  const fulls = full ? fullHandshakesPerDay(r, d, p) : 0;
  const rest = d.reconnectsPerDay - fulls;
  const setupMs = setupMsAt(r, d.rttMs);
  const sum = (f: (x: ModeResult) => number): number => rest * f(r) + (full ? fulls * f(full) : 0);
  const dailySetupBytes = sum(setupTotal);
  return {
    mode: r.mode, ...(r.key ? { key: r.key } : {}), label: rowLabel(r),
    setupBytes, messageBytes: message,
    setupText: full && fulls > 0
      ? `${grouped(fulls)} full handshake${fulls === 1 ? '' : 's'} × ${b(setupTotal(full))} + ${grouped(rest)} resumed × ${b(setupBytes)}`
      : `${grouped(d.reconnectsPerDay)} connect${d.reconnectsPerDay === 1 ? '' : 's'} × ${b(setupBytes)}`,
    dailySetupBytes,
    dailyMessageBytes: d.msgsPerDay * message,
    dailyBytes: dailySetupBytes + d.msgsPerDay * message,
    dailyCpuSeconds: (sum((x) => x.cpu.clientUs.median) * scale) / 1e6,
    setupMs,
    dailyWaitSeconds: sum((x) => setupMsAt(x, d.rttMs)) / 1000,
    roundTrips: r.roundTrips,
  };
}

/** Why a mode cannot be this device's recommendation, or undefined. */
function exclusion(r: ModeResult, d: DeviceProfile, p: RecommendPolicy, all: ModeResult[]): string | undefined {
  if (r.mode === 'plain') {
    return 'never recommended: no encryption and no broker authentication — credentials and every message can be read and changed on the path';
  }
  const tiny = d.ramKb < p.certRamKb;
  if (isResumed(r.mode)) {
    if (r.resumed === false) return "the lab's setups in this mode were not resumed: its numbers are a full handshake's";
    const interval = d.reconnectsPerDay > 0 ? 86_400 / d.reconnectsPerDay : Infinity;
    if (interval >= p.ticketKeyRotationS) {
      return `a connect every ${grouped(Math.round(interval))} s outlives the broker's ticket key (rotated every ${grouped(p.ticketKeyRotationS)} s): it would be a full handshake`;
    }
    if (r.ticketLifetimeS !== undefined && interval >= r.ticketLifetimeS) {
      return `a connect every ${grouped(Math.round(interval))} s outlives the ticket lifetime the broker announced (${grouped(r.ticketLifetimeS)} s): every connect would be a full handshake — unless the listener's sessionTimeout is raised to more than ${grouped(Math.round(interval))}`;
    }
  }
  if (isPsk(r.mode)) {
    if (!tiny) {
      return `the broker must hold every device's secret key (a leaked key impersonates the device); with ${grouped(d.ramKb)} KiB of RAM (≥ ${p.certRamKb}) certificates fit and need no secret on the broker`;
    }
    const tls13Psk = all.some((x) => x.mode === 'tls13-psk' && x.skipped === undefined);
    if (r.mode === 'tls12-psk' && tls13Psk) return 'TLS 1.2 PSK has no forward secrecy; TLS 1.3 PSK (with ECDHE) was measured — use TLS 1.2 PSK only for stacks without TLS 1.3';
    return undefined;
  }
  if (tiny) {
    // The certificate flight is in the full handshakes (a resumed one starts from one): the largest measured.
    const flight = Math.max(0, ...all.filter((x) => x.mode.endsWith('-full') || x.mode === 'mtls13').map((x) => x.setupBytes.handshake.serverToClient));
    return `certificates need an X.509 parser, a public-key signature check and the server's certificate flight in RAM (full handshakes here: up to ${b(flight)} s→c): below the ${p.certRamKb} KiB policy threshold (device: ${grouped(d.ramKb)} KiB)`;
  }
  return undefined;
}

export function recommend(report: LabReport, device: DeviceProfile, policy: Partial<RecommendPolicy> = {}): Recommendation {
  const p = { ...DEFAULT_POLICY, ...policy };
  const measured = report.results.filter((r) => r.skipped === undefined);
  const rows = new Map<ModeEstimate, ModeResult>();
  const estimates = measured.map((r) => {
    const full = isResumed(r.mode) ? measured.find((x) => x.mode === r.mode.replace('-resumed', '-full') && x.key === r.key) : undefined;
    const e = estimate(report, r, device, full, p);
    const why = exclusion(r, device, p, measured);
    if (why !== undefined) e.excluded = why;
    rows.set(e, r);
    return e;
  }).sort((a, b) => a.dailyBytes - b.dailyBytes || a.setupMs - b.setupMs);
  const notes: string[] = [];
  const reasons: string[] = [];
  const eligible = estimates.filter((e) => e.excluded === undefined);
  const scaled = report.environment.cpuMHz > 0 && device.cpuMHz > 0;
  notes.push(scaled
    ? `CPU seconds are this machine's client CPU per setup scaled by clock (${report.environment.cpuMHz} → ${device.cpuMHz} MHz): they include Node's own per-connection work (plain TCP's row shows how much), and a microcontroller without crypto acceleration does less cryptography per MHz — compare modes by them rather than trusting the absolute values; per-message CPU is not measured`
    : 'CPU seconds are this machine\'s client CPU per setup, unscaled (a clock was unknown); per-message CPU is not measured');
  if (eligible.length === 0) {
    reasons.push('no measured mode fits this device: see why each was excluded');
    return { device, policy: p, estimates, reasons, notes };
  }

  // Two costs a device pays for its security, weighed equally, each relative to the best eligible mode:
  // bytes per day (airtime, tariff) and time per day waiting for CONNACK (radio on, round trips × RTT).
  // Least CPU breaks a tie. A policy, not a measurement: the reasons print both ratios.
  const minBytes = Math.min(...eligible.map((e) => e.dailyBytes));
  const minWait = Math.min(...eligible.map((e) => e.dailyWaitSeconds));
  const ratio = (v: number, min: number): number => (min > 0 ? v / min : 1);
  const score = (e: ModeEstimate): number => ratio(e.dailyBytes, minBytes) + ratio(e.dailyWaitSeconds, minWait);
  const ranked = [...eligible].sort((a, b) => score(a) - score(b) || a.dailyCpuSeconds - b.dailyCpuSeconds);
  // The server key within a mode: its rows have the same round trips, so their waiting times differ
  // only by this machine's noise; the key's real costs are the certificate's bytes, then CPU.
  const keyed = (e: ModeEstimate): ModeEstimate => eligible.filter((x) => x.mode === e.mode)
    .sort((x, y) => x.dailyBytes - y.dailyBytes || x.dailyCpuSeconds - y.dailyCpuSeconds)[0] ?? e;
  let best = keyed(ranked[0]!);
  const above = (e: ModeEstimate): string => `bytes ${pct(e.dailyBytes - minBytes, minBytes)} and waiting ${pct(e.dailyWaitSeconds - minWait, minWait)} above the best`;
  const within = (e: ModeEstimate, of: ModeEstimate, f: number): boolean =>
    e.dailyBytes <= of.dailyBytes * (1 + f) && e.dailyWaitSeconds <= of.dailyWaitSeconds * (1 + f);
  const tls13Found = best.mode.startsWith('tls12') ? ranked.find((e) => !e.mode.startsWith('tls12') && within(e, best, p.tls13Premium)) : undefined;
  const tls13 = tls13Found && keyed(tls13Found);
  if (tls13) {
    reasons.push(`TLS 1.3 over ${best.label}: ${b(tls13.dailyBytes - best.dailyBytes)}/day more (${pct(tls13.dailyBytes - best.dailyBytes, best.dailyBytes)}, within the ${(p.tls13Premium * 100).toFixed(0)}% this recommendation pays for it) buys a fresh ECDHE on every resumption (TLS 1.2 resumption reuses the master secret: a stolen ticket key decrypts every resumed session), encrypted certificates and no renegotiation`);
    best = tls13;
  } else if (best.mode.startsWith('tls12')) {
    // Say why the preference for TLS 1.3 did not decide: the nearest TLS 1.3 mode costs more than it pays.
    const t13Found = ranked.find((e) => !e.mode.startsWith('tls12'));
    const t13 = t13Found && keyed(t13Found);
    if (t13) {
      const wait = t13.dailyWaitSeconds - best.dailyWaitSeconds;
      reasons.push(`TLS 1.2 over ${t13.label}: TLS 1.3 would cost ${b(t13.dailyBytes - best.dailyBytes)}/day more (${pct(t13.dailyBytes - best.dailyBytes, best.dailyBytes)}) and wait ${Math.abs(wait).toFixed(1)} s/day ${wait >= 0 ? 'more' : 'less'}, beyond the ${(p.tls13Premium * 100).toFixed(0)}% this recommendation pays for it${isResumed(best.mode) ? ' (TLS 1.2 resumption reuses the master secret: keep ticketRotationSeconds short)' : ''}`);
    }
  }
  const mtlsFound = ranked.find((e) => e.mode === 'mtls13');
  const mtls = mtlsFound && keyed(mtlsFound);
  if (mtls && mtls !== best && mtls.dailyBytes <= best.dailyBytes * (1 + p.identityPremium)
    && mtls.dailyWaitSeconds <= best.dailyWaitSeconds * (1 + p.identityPremium)) {
    reasons.push(`device identity: mutual TLS (a certificate per device, revocable one by one, no secret on the broker) costs ${b(mtls.dailyBytes - best.dailyBytes)}/day and ${ms((mtls.dailyWaitSeconds - best.dailyWaitSeconds) * 1000)} ms/day of waiting more than ${best.label} — within the ${(p.identityPremium * 100).toFixed(0)}% this recommendation pays for identity`);
    best = mtls;
  }
  // The next other mode (its other keys are the same mode: the key reasons below compare those).
  const runnerUp = ranked.find((e) => e.mode !== best.mode);
  reasons.push(`ranked by daily bytes and daily time waiting for CONNACK, each relative to the best eligible mode, weighed equally: ${best.label} is ${above(best)}${runnerUp ? `; next: ${runnerUp.label}, ${above(runnerUp)}` : ''}`);

  reasons.unshift(`${best.label}: ${b(best.dailyBytes)}/day = ${best.setupText} + ${grouped(device.msgsPerDay)} messages × ${b(best.messageBytes)}; setup ≈ ${ms(best.setupMs)} ms at ${grouped(device.rttMs)} ms RTT (${best.roundTrips} TLS round trip${best.roundTrips === 1 ? '' : 's'}), ${best.dailyWaitSeconds.toFixed(1)} s/day waiting; client CPU ≈ ${best.dailyCpuSeconds.toFixed(3)} s/day`);
  reasons.push(`connection setup is ${pct(best.dailySetupBytes, best.dailyBytes)} of this device's daily bytes${best.dailySetupBytes > best.dailyMessageBytes ? ': the handshake, not the messages, decides the cost' : ': the messages, not the handshake, decide the cost'}`);

  const row = rows.get(best)!;
  if (isPsk(best.mode)) reasons.push(`RAM: ${exclusionOfCertificates(device, p)}; PSK needs only symmetric crypto and a hash — its setup is ${b(best.setupBytes)} per connect`);
  if (isResumed(best.mode)) {
    const full = estimates.find((e) => e.mode === best.mode.replace('-resumed', '-full') && e.key === best.key);
    if (full) {
      reasons.push(`resumption: ${b(full.setupBytes - best.setupBytes)} fewer per connect than ${full.label} (${b(full.dailyBytes - best.dailyBytes)}/day, ${pct(full.dailyBytes - best.dailyBytes, full.dailyBytes)}), ${full.setupMs >= best.setupMs ? `${ms(full.setupMs - best.setupMs)} ms faster` : `${ms(best.setupMs - full.setupMs)} ms slower`} at ${grouped(device.rttMs)} ms RTT and ${cpuDiff(rows.get(full)!.cpu.clientUs.median - row.cpu.clientUs.median)} client CPU per connect on this machine`);
    }
    const interval = Math.round(86_400 / device.reconnectsPerDay);
    // The lifetime the measured broker announced (its sessionTimeout): a ticket older than that is refused.
    const life = row.ticketLifetimeS;
    const fulls = fullHandshakesPerDay(row, device, p);
    if (life === undefined) {
      notes.push(`resumption needs a ticket still valid after ${grouped(interval)} s between connects: set the broker listener's sessionTimeout ≥ ${grouped(interval)} and keep ticketRotationSeconds above it`);
    } else if (row.setupBytes.tickets > 0) {
      notes.push(`the measured broker's tickets are valid for ${grouped(life)} s and each resumption brings a new one: while connects stay less than ${grouped(life)} s apart, a full handshake only once per ticket key rotation (${grouped(fulls)}/day)`);
    } else {
      notes.push(`the measured broker's tickets are valid for ${grouped(life)} s from the full handshake that issued them (a resumption brings no new ticket): with a connect every ${grouped(interval)} s that is ${grouped(fulls)} full handshake${fulls === 1 ? '' : 's'} a day, counted in the figures; a longer sessionTimeout (at most ticketRotationSeconds) means fewer`);
    }
    notes.push('a resumed session keeps the identity of the full handshake that made its ticket: with client certificates, connect once with mtls13 and resume after that (the lab measured resumption without a client certificate)');
  }
  if (best.mode.startsWith('tls13') || best.mode === 'mtls13') {
    const t12 = estimates.filter((e) => e.mode === 'tls12-full' && (best.key === undefined || e.key === best.key))[0];
    if (t12 && t12.roundTrips > best.roundTrips) {
      reasons.push(`TLS 1.3: ${t12.roundTrips - best.roundTrips} round trip${t12.roundTrips - best.roundTrips === 1 ? '' : 's'} fewer than ${t12.label} (${t12.roundTrips}): ${ms(t12.setupMs - best.setupMs)} ms less per connect at ${grouped(device.rttMs)} ms RTT, ${ms(((t12.setupMs - best.setupMs) * device.reconnectsPerDay) / 1000)} s/day`);
    }
  }
  if (best.key) {
    // A resumed setup sends no certificate: the key shows in the full handshake that makes the ticket.
    const keyMode = isResumed(best.mode) ? best.mode.replace('-resumed', '-full') : best.mode;
    const mine = estimates.find((e) => e.mode === keyMode && e.key === best.key);
    const srv = (x: ModeEstimate) => rows.get(x)!.cpu.serverUs?.median;
    for (const o of estimates.filter((e) => e.mode === keyMode && e.key !== best.key)) {
      if (!mine) break;
      const diff = o.setupBytes - mine.setupBytes;
      const s0 = srv(mine);
      const s1 = srv(o);
      reasons.push(`key ${best.key} over ${o.key}${keyMode !== best.mode ? ` (in the ${keyMode} handshake that makes the ticket)` : ''}: ${diff >= 0 ? `${b(diff)} fewer` : `${b(-diff)} more`} per full handshake${s0 !== undefined && s1 !== undefined ? `, ${grouped(Math.round(Math.abs(s1 - s0)))} µs ${s1 >= s0 ? 'less' : 'more'} broker CPU per setup` : ''}`);
    }
  }
  // Resumption ruled out only by the broker's ticket lifetime: what raising it would be worth.
  for (const e of estimates.filter((x) => x.excluded?.includes('ticket lifetime') && x.key === (best.key ?? x.key))) {
    const r = rows.get(e)!;
    const full = measured.find((x) => x.mode === r.mode.replace('-resumed', '-full') && x.key === r.key);
    const raised = estimate(report, { ...r, ticketLifetimeS: undefined }, device, full, p);
    if (raised.dailyBytes < best.dailyBytes) {
      notes.push(`with the listener's sessionTimeout above ${grouped(Math.round(86_400 / device.reconnectsPerDay))} s, ${e.label} would cost ${b(raised.dailyBytes)}/day (${pct(best.dailyBytes - raised.dailyBytes, best.dailyBytes)} less than ${best.label}): as the broker was measured, its tickets expire between this device's connects`);
    }
  }
  const plain = estimates.find((e) => e.mode === 'plain');
  if (plain) {
    reasons.push(`plain TCP would save ${b(best.dailyBytes - plain.dailyBytes)}/day (${pct(best.dailyBytes - plain.dailyBytes, best.dailyBytes)}) and is still not an option: ${plain.excluded ?? ''}`);
  }
  return { device, policy: p, estimates, recommended: best, reasons, notes };
}

function exclusionOfCertificates(d: DeviceProfile, p: RecommendPolicy): string {
  return `${grouped(d.ramKb)} KiB is below the ${p.certRamKb} KiB policy threshold for an X.509 parser and signature verification`;
}

/** The recommendation as text: a per-mode table of daily costs, the choice and its reasons. */
export function renderRecommendation(rec: Recommendation): string {
  const d = rec.device;
  const head = `Device: ${grouped(d.ramKb)} KiB RAM, ${grouped(d.cpuMHz)} MHz, ${grouped(d.rttMs)} ms RTT, ${grouped(d.reconnectsPerDay)} connect${d.reconnectsPerDay === 1 ? '' : 's'}/day, `
    + `${grouped(d.msgsPerDay)} messages/day of ${grouped(d.payloadBytes)} B at QoS ${d.qos ?? 1}\n\n`;
  const headers = ['mode', 'bytes/day', 'setup share', 'CPU s/day', `setup ms @${d.rttMs}`, 'waiting s/day', 'fits'];
  const rows = rec.estimates.map((e) => [e.label, grouped(Math.round(e.dailyBytes)), pct(e.dailySetupBytes, e.dailyBytes),
    e.dailyCpuSeconds.toFixed(3), ms(e.setupMs), e.dailyWaitSeconds.toFixed(1), e === rec.recommended ? 'RECOMMENDED' : e.excluded === undefined ? 'yes' : 'no']);
  const widths = headers.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]!].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  let out = head + [line(headers), ...rows.map(line)].join('\n') + '\n\n';
  out += rec.recommended ? `Recommended: ${rec.recommended.label}\n` : 'No recommendation.\n';
  out += rec.reasons.map((r) => `  - ${r}\n`).join('');
  // One line per reason: the keys of a mode excluded for the same reason share it.
  const excluded = new Map<string, string[]>();
  for (const e of rec.estimates) if (e.excluded !== undefined) excluded.set(e.excluded, [...(excluded.get(e.excluded) ?? []), e.label]);
  if (excluded.size) out += `\nNot chosen:\n${[...excluded].map(([why, labels]) => `  - ${labels.join(', ')}: ${why}\n`).join('')}`;
  if (rec.notes.length) out += `\nNotes:\n${rec.notes.map((n) => `  - ${n}\n`).join('')}`;
  return out;
}

/**
 * A hand-made LabReport for the renderer and recommend tests: they test what is done with the numbers,
 * not the measuring (test/lab's runner tests do that on real runs). Shapes follow what TLS does —
 * TLS 1.2 full 2 round trips, 1.3 and resumption 1, tickets only where the server sends them — so the
 * recommendations come out as on a real report; `patch` changes one row for a case.
 */
import { LAB_KEYS, type LabKey, type LabMode, type LabReport, type ModeResult, type Stat } from '../../src/lab/report.js';

export const stat = (median: number, spread = 0.1, n = 5): Stat => ({ min: median * (1 - spread), median, max: median * (1 + spread), n });

const CERT_BYTES: Record<LabKey, number> = { 'ecdsa-p256': 1_000, ed25519: 900, 'rsa-2048': 1_600 };
const SERVER_CPU: Record<LabKey, number> = { 'ecdsa-p256': 900, ed25519: 800, 'rsa-2048': 2_400 };

interface Shape { rt: number; c2s: number; s2c: number; tickets: number; cpu: number; cert: boolean; proto?: string; cipher?: string }
const SHAPES: Record<LabMode, Shape> = {
  plain: { rt: 0, c2s: 0, s2c: 0, tickets: 0, cpu: 60, cert: false },
  'tls12-full': { rt: 2, c2s: 330, s2c: 200, tickets: 250, cpu: 1_500, cert: true, proto: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
  'tls12-resumed': { rt: 1, c2s: 420, s2c: 150, tickets: 0, cpu: 300, cert: false, proto: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
  'tls13-full': { rt: 1, c2s: 330, s2c: 300, tickets: 500, cpu: 1_400, cert: true, proto: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
  'tls13-resumed': { rt: 1, c2s: 700, s2c: 250, tickets: 500, cpu: 500, cert: false, proto: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
  'tls13-psk': { rt: 1, c2s: 400, s2c: 200, tickets: 0, cpu: 450, cert: false, proto: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
  'tls12-psk': { rt: 2, c2s: 150, s2c: 120, tickets: 0, cpu: 150, cert: false, proto: 'TLSv1.2', cipher: 'PSK-AES128-GCM-SHA256' },
  mtls13: { rt: 1, c2s: 1_400, s2c: 330, tickets: 500, cpu: 2_600, cert: true, proto: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
};

function row(mode: LabMode, key: LabKey | undefined, rtts: number[]): ModeResult {
  const s = SHAPES[mode];
  const tls = mode !== 'plain';
  const s2c = s.s2c + (s.cert && key ? CERT_BYTES[key] : 0);
  const record = tls ? 22 : 0;
  // connect → CONNACK waits TCP (1) + TLS + CONNECT/CONNACK (1) round trips; the first PUBACK one more.
  const setup = rtts.map((rttMs) => ({
    rttMs,
    connack: stat(2 + s.cpu / 1000 + (s.rt + 2) * rttMs),
    firstPuback: stat(2.5 + s.cpu / 1000 + (s.rt + 3) * rttMs),
  }));
  const overhead = [16, 256, 4096].flatMap((payloadBytes) => ([0, 1] as const).map((qos) => {
    const overheadBytes = 9 + (payloadBytes > 127 ? 1 : 0) + record + (qos === 1 ? 6 + record : 0);
    return { payloadBytes, qos, wireBytes: payloadBytes + overheadBytes, overheadBytes, overheadPercent: (100 * overheadBytes) / payloadBytes };
  }));
  return {
    mode, ...(key ? { key } : {}),
    ...(s.proto ? { protocol: s.proto, cipher: s.cipher!, group: mode.endsWith('psk') && mode.startsWith('tls12') ? undefined : 'X25519' } : {}),
    ...(mode.endsWith('-resumed') ? { resumed: true } : {}),
    roundTrips: s.rt, tcpRoundTrips: 1,
    setupBytes: {
      handshake: { clientToServer: s.c2s, serverToClient: s2c },
      tickets: s.tickets,
      mqtt: { clientToServer: 30 + record, serverToClient: 9 + record },
    },
    setup,
    cpu: { clientUs: stat(s.cpu), serverUs: stat(s.cert && key ? SERVER_CPU[key] : s.cpu * 0.8) },
    memoryPerConnection: stat(tls ? 40_000 + (mode === 'mtls13' ? 6_000 : 0) : 12_000, 0.2),
    overhead,
    throughputMBps: stat(tls ? 180 : 400),
  };
}

export function fixtureReport(patch?: (r: ModeResult) => ModeResult): LabReport {
  const rtts = [0, 50, 200];
  const keyed = (m: LabMode): boolean => !['plain', 'tls13-psk', 'tls12-psk'].includes(m);
  const modes: LabMode[] = ['plain', 'tls12-full', 'tls12-resumed', 'tls13-full', 'tls13-resumed', 'tls13-psk', 'tls12-psk', 'mtls13'];
  const results = modes.flatMap((m) => (keyed(m) ? LAB_KEYS.map((k) => row(m, k, rtts)) : [row(m, undefined, rtts)]));
  return {
    version: 1,
    startedAt: '2026-11-26T16:00:00.000Z',
    durationMs: 21_500,
    target: 'built-in',
    environment: {
      node: 'v20.18.0', openssl: '3.0.15+quic', os: 'linux 6.1.0 x64', cpuModel: 'Test CPU @ 2.40GHz', cpus: 2, cpuMHz: 2400,
      totalMemBytes: 4 * 2 ** 30, loadAverage: [0.52, 0.61, 0.7],
    },
    repeat: 5, rtts, quick: false,
    method: { cpuBatch: 20, delayedSetups: 5, throughputMs: 1000, throughputRepeat: 3, memConnections: 200, memRepeat: 3 },
    results: patch ? results.map(patch) : results,
  };
}

/**
 * The report's numbers as the tables show them, shared by the Markdown and the HTML renderers so that
 * both print the same figures: medians in the main table, min–max in the spread table, the per-message
 * overhead table and the environment line. Pure functions over a LabReport.
 */
import type { LabReport, ModeResult, Stat } from './report.js';

/** A table: headers, rows of cell text, and which columns are numbers (right-aligned). */
export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  numeric: boolean[];
  /** One line under the table saying how to read it. */
  note?: string;
}

/** Thousands separated by commas (locale-independent, so reports compare across machines). */
export function grouped(n: number, decimals = 0): string {
  const [int, frac] = Math.abs(n).toFixed(decimals).split('.');
  const withCommas = (int ?? '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${n < 0 ? '-' : ''}${withCommas}${frac ? `.${frac}` : ''}`;
}

/** Milliseconds: one decimal below 10 ms (loopback setups), whole above. */
export const ms = (v: number): string => (v < 10 ? v.toFixed(1) : grouped(v));
export const us = (v: number): string => grouped(v);
export const bytes = (v: number): string => grouped(v);
export const kib = (v: number): string => `${(v / 1024).toFixed(1)} KiB`;
export const percent = (v: number): string => `${v < 100 ? v.toFixed(1) : grouped(v)}%`;
export const mbps = (v: number): string => v.toFixed(1);

/** "min–max" of a stat in the given format, or the single value when they agree. */
export function range(s: Stat | undefined, f: (v: number) => string): string {
  if (!s) return '—';
  const lo = f(s.min);
  const hi = f(s.max);
  return lo === hi ? lo : `${lo}–${hi}`;
}

export const med = (s: Stat | undefined, f: (v: number) => string): string => (s ? f(s.median) : '—');

/** "tls13-full ecdsa-p256" — how every renderer names a row. */
export const rowLabel = (r: ModeResult): string => (r.key ? `${r.mode} ${r.key}` : r.mode);

/** Resumed modes whose setups were not actually resumed are flagged: their numbers are full handshakes. */
export function protocolCell(r: ModeResult): string {
  if (r.skipped !== undefined) return `skipped: ${r.skipped}`;
  const proto = r.protocol ?? 'none (plain TCP)';
  if (r.mode.endsWith('-resumed') && r.resumed === false) return `${proto} (NOT resumed)`;
  return proto;
}

export const setupTotal = (r: ModeResult): number => {
  const s = r.setupBytes;
  return s.handshake.clientToServer + s.handshake.serverToClient + s.tickets + s.mqtt.clientToServer + s.mqtt.serverToClient;
};

export function overheadAt(r: ModeResult, payloadBytes: number, qos: 0 | 1) {
  return r.overhead.find((o) => o.payloadBytes === payloadBytes && o.qos === qos);
}

/** The main table: one row per mode and key, median values (memo: "the terminal table"). */
export function mainTable(report: LabReport): Table {
  const headers = ['mode', 'key', 'protocol', 'cipher / group', 'round trips', 'handshake B c→s / s→c', 'tickets B',
    'MQTT B c→s / s→c', ...report.rtts.map((r) => `CONNACK ms @${r}`), 'CPU µs client / server', 'broker mem/conn',
    'overhead 16 B QoS 0', 'MB/s'];
  const rows = report.results.map((r) => {
    if (r.skipped !== undefined) return [r.mode, r.key ?? '—', protocolCell(r), ...headers.slice(3).map(() => '')];
    const s = r.setupBytes;
    const o16 = overheadAt(r, 16, 0);
    return [
      r.mode, r.key ?? '—', protocolCell(r),
      r.cipher ? `${r.cipher}${r.group ? ` / ${r.group}` : ''}` : '—',
      `${r.tcpRoundTrips}+${r.roundTrips}`,
      `${bytes(s.handshake.clientToServer)} / ${bytes(s.handshake.serverToClient)}`,
      bytes(s.tickets),
      `${bytes(s.mqtt.clientToServer)} / ${bytes(s.mqtt.serverToClient)}`,
      ...report.rtts.map((rtt) => med(r.setup.find((x) => x.rttMs === rtt)?.connack, ms)),
      `${med(r.cpu.clientUs, us)} / ${med(r.cpu.serverUs, us)}`,
      med(r.memoryPerConnection, kib),
      o16 ? `${bytes(o16.overheadBytes)} B (${percent(o16.overheadPercent)})` : '—',
      med(r.throughputMBps, mbps),
    ];
  });
  const numeric = headers.map((_, i) => i >= 4);
  return {
    title: 'Connection setup and cost (medians)', headers, rows, numeric,
    note: 'round trips: TCP + TLS before the first MQTT byte (TCP\'s 1 is the handshake the delay proxy simulates; TLS\'s are counted from the flights through it); bytes are TCP payload on the socket (TLS records included); '
      + 'CONNACK ms from connect() at each simulated round-trip time, the TCP handshake included; CPU per connection setup; broker memory per idle connection (RSS).'
      + ticketLifetimes(report),
  };
}

/**
 * The ticket lifetimes the broker announced: a device reconnecting less often than this cannot resume.
 * One figure when every row agrees (one listener setting), else per row.
 */
function ticketLifetimes(report: LabReport): string {
  const byValue = new Map<number, ModeResult[]>();
  for (const r of report.results) if (r.ticketLifetimeS !== undefined) byValue.set(r.ticketLifetimeS, [...(byValue.get(r.ticketLifetimeS) ?? []), r]);
  if (byValue.size === 0) return '';
  // The value most rows share, then the rows that differ (a PSK handshake's tickets, say).
  const [common, ...others] = [...byValue].sort((a, b) => b[1].length - a[1].length);
  const text = `${grouped(common![0])} s${others.map(([v, rows]) => `; ${rows.map(rowLabel).join(', ')}: ${grouped(v)} s`).join('')}`;
  return ` Session tickets announced valid for ${text} (the broker's sessionTimeout): no resumption past it, counted from the full handshake when a resumption brings no new ticket.`;
}

/** The spread of every repeated measurement: min–max, and n. */
export function spreadTable(report: LabReport): Table {
  const headers = ['mode', 'key', ...report.rtts.map((r) => `CONNACK ms @${r}`), ...report.rtts.map((r) => `1st PUBACK ms @${r}`),
    'CPU µs client', 'CPU µs server', 'broker mem/conn', 'MB/s', 'n'];
  const rows = report.results.filter((r) => r.skipped === undefined).map((r) => {
    const at = (rtt: number) => r.setup.find((x) => x.rttMs === rtt);
    const ns = [r.cpu.clientUs.n, ...r.setup.map((x) => x.connack.n)];
    return [
      r.mode, r.key ?? '—',
      ...report.rtts.map((rtt) => range(at(rtt)?.connack, ms)),
      ...report.rtts.map((rtt) => { const p = at(rtt)?.firstPuback; return p ? `${ms(p.median)} (${range(p, ms)})` : '—'; }),
      range(r.cpu.clientUs, us), range(r.cpu.serverUs, us), range(r.memoryPerConnection, kib), range(r.throughputMBps, mbps),
      Math.min(...ns) === Math.max(...ns) ? String(ns[0]) : `${Math.min(...ns)}–${Math.max(...ns)}`,
    ];
  });
  return {
    title: 'Spread (min–max over the repetitions)', headers, rows, numeric: headers.map((_, i) => i >= 2),
    note: '1st PUBACK: connect() → PUBACK of a QoS 1 publish sent right after CONNACK, median (min–max).',
  };
}

/** Bytes on the wire per message (both ways) and the overhead over the payload, for each measured size and QoS. */
export function overheadTable(report: LabReport): Table {
  const keys = new Map<string, { payloadBytes: number; qos: 0 | 1 }>();
  for (const r of report.results) for (const o of r.overhead) keys.set(`${o.payloadBytes}/${o.qos}`, o);
  const cols = [...keys.values()].sort((a, b) => a.payloadBytes - b.payloadBytes || a.qos - b.qos);
  const headers = ['mode', 'key', ...cols.map((c) => `${c.payloadBytes} B QoS ${c.qos}`)];
  const rows = report.results.filter((r) => r.skipped === undefined).map((r) => [
    r.mode, r.key ?? '—',
    ...cols.map((c) => { const o = overheadAt(r, c.payloadBytes, c.qos); return o ? `${bytes(o.wireBytes)} (+${percent(o.overheadPercent)})` : '—'; }),
  ]);
  return {
    title: 'Per-message bytes on the wire (overhead over the payload)', headers, rows, numeric: headers.map((_, i) => i >= 2),
    note: 'PUBLISH (and PUBACK for QoS 1) with MQTT framing and TLS records, both directions summed.',
  };
}

/** One line naming what the numbers were measured on — a reader judges them by it. */
export function environmentLine(report: LabReport): string {
  const e = report.environment;
  const load = e.loadAverage.map((l) => l.toFixed(2)).join(' ');
  return [
    `${e.cpuModel} (${e.cpus} CPUs, ${e.cpuMHz} MHz), ${(e.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${e.os}`,
    `Node ${e.node}, OpenSSL ${e.openssl}`,
    `broker: ${report.target}`,
    `repeat ${report.repeat}${report.quick ? ' (--quick)' : ''}, RTTs ${report.rtts.join('/')} ms`,
    `load average ${load}`,
    `started ${report.startedAt}, took ${(report.durationMs / 1000).toFixed(1)} s`,
  ].join(' · ');
}

/** What stands behind each figure, so that a reader can weigh it (reports from before it was recorded: empty). */
export function methodLine(report: LabReport): string {
  const m = report.method;
  if (!m) return '';
  const parts = [
    `setups: ${report.repeat} per row at the first RTT, ${m.delayedSetups} at each other`,
    `CPU: ${report.repeat} batches of ${m.cpuBatch} setups`,
  ];
  if (m.memConnections !== undefined) {
    // RSS moves in whole pages and allocator chunks: the fewer connections, the coarser the figure.
    parts.push(`memory: broker RSS growth over ${m.memConnections} idle connections, ${m.memRepeat ?? 1}× (after a full GC)${m.memKey ? `, for ${m.memKey} and keyless rows only` : ''}`);
  }
  parts.push(`throughput: ${m.throughputRepeat}× ${m.throughputMs} ms`);
  return parts.join(' · ');
}

/** The main table always (it says why rows were skipped); the others when some row was measured. */
export const allTables = (report: LabReport): Table[] =>
  [mainTable(report), ...[spreadTable(report), overheadTable(report)].filter((t) => t.rows.length > 0)];

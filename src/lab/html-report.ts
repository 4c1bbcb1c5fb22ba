/**
 * report.html: one self-contained file (inline CSS, inline SVG, no script, no external URL) with the
 * environment, the charts the issue names — setup time vs RTT, setup bytes per mode, CPU per mode,
 * broker memory per connection — and the same tables as the Markdown. Every text is escaped.
 */
import { allTables, environmentLine, grouped, methodLine, ms, rowLabel, type Table } from './format.js';
import type { LabMode, LabReport, ModeResult } from './report.js';
import { barChart, escapeXml as esc, lineChart } from './svg-chart.js';

/** One colour per mode, colour-blind-safe (Okabe–Ito) and readable on white. */
export const MODE_COLORS: Record<LabMode, string> = {
  plain: '#7f7f7f',
  'tls12-full': '#D55E00',
  'tls12-resumed': '#E69F00',
  'tls13-full': '#0072B2',
  'tls13-resumed': '#56B4E9',
  'tls13-psk': '#009E73',
  'tls12-psk': '#8C6D1F',
  mtls13: '#CC79A7',
};

/** Line style per kind of setup: lines of modes with the same round trips lie on top of each other. */
const dashOf = (m: LabMode): string | undefined =>
  (m.endsWith('-resumed') ? '7 4' : m.endsWith('-psk') ? '2 3' : m === 'mtls13' ? '12 3 2 3' : undefined);

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1f24;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.env{color:#444;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;font-size:12.5px;margin:4px 0}
th,td{border:1px solid #d0d7de;padding:3px 7px;white-space:nowrap}
th{background:#f0f3f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafbfc}
.note{color:#555;font-size:12px;margin:4px 0 0}
.scroll{overflow-x:auto}
figure{margin:16px 0}figcaption{color:#555;font-size:12px}
svg{max-width:100%;height:auto}
.skipped{color:#8a4b00}
`;

function htmlTable(t: Table): string {
  const head = `<tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => {
    const skipped = r[2]?.startsWith('skipped:') ? ' class="skipped"' : '';
    return `<tr${skipped}>${t.headers.map((_, i) => `<td${t.numeric[i] ? ' class="num"' : ''}>${esc(r[i] ?? '')}</td>`).join('')}</tr>`;
  }).join('\n');
  return `<h2>${esc(t.title)}</h2>\n<div class="scroll"><table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table></div>${t.note ? `\n<p class="note">${esc(t.note)}</p>` : ''}`;
}

/** One row per mode for the RTT chart: the ECDSA P-256 row where a mode has keys (the lines of one mode's keys lie on top of each other). */
function onePerMode(results: ModeResult[]): ModeResult[] {
  const out = new Map<LabMode, ModeResult>();
  for (const r of results) {
    const had = out.get(r.mode);
    if (!had || (had.key !== 'ecdsa-p256' && r.key === 'ecdsa-p256')) out.set(r.mode, r);
  }
  return [...out.values()];
}

const figure = (svg: string, caption: string): string => `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>`;

export function charts(report: LabReport): string[] {
  const rows = report.results.filter((r) => r.skipped === undefined);
  const labels = rows.map(rowLabel);
  const out: string[] = [];
  const rttRows = onePerMode(rows);
  out.push(figure(lineChart({
    title: 'Time to CONNACK vs round-trip time',
    xLabel: 'simulated round-trip time (ms)', yLabel: 'connect() → CONNACK, median (ms)', format: ms,
    series: rttRows.map((r) => ({ name: rowLabel(r), color: MODE_COLORS[r.mode], dash: dashOf(r.mode), points: r.setup.map((s) => [s.rttMs, s.connack.median] as [number, number]) })),
  }), 'One line per mode (the ECDSA P-256 server key where the mode has keys). The slope is the number of round trips the setup waits for through the delay proxy: TCP\'s handshake, TLS\'s and CONNECT → CONNACK.'));
  out.push(figure(barChart({
    title: 'Bytes per connection setup', unit: 'bytes (TCP payload, both ways, up to CONNACK)', categories: labels, stacked: true,
    format: (v) => grouped(Math.round(v)),
    series: [
      { name: 'handshake c→s', color: '#0072B2', values: rows.map((r) => r.setupBytes.handshake.clientToServer) },
      { name: 'handshake s→c', color: '#56B4E9', values: rows.map((r) => r.setupBytes.handshake.serverToClient) },
      { name: 'session tickets', color: '#E69F00', values: rows.map((r) => r.setupBytes.tickets) },
      { name: 'MQTT CONNECT + CONNACK', color: '#009E73', values: rows.map((r) => r.setupBytes.mqtt.clientToServer + r.setupBytes.mqtt.serverToClient) },
    ],
  }), 'Stacked: TLS handshake each way, session tickets sent after it, then CONNECT/CONNACK in their TLS records.'));
  const hasServer = rows.some((r) => r.cpu.serverUs !== undefined);
  out.push(figure(barChart({
    title: 'CPU time per connection setup', unit: 'µs per setup (median; whisker: min–max)', categories: labels, stacked: false,
    format: (v) => grouped(Math.round(v)),
    series: [
      { name: 'client', color: '#0072B2', values: rows.map((r) => r.cpu.clientUs.median), spread: rows.map((r) => [r.cpu.clientUs.min, r.cpu.clientUs.max]) },
      ...(hasServer ? [{ name: 'broker', color: '#D55E00', values: rows.map((r) => r.cpu.serverUs?.median), spread: rows.map((r) => (r.cpu.serverUs ? [r.cpu.serverUs.min, r.cpu.serverUs.max] as [number, number] : undefined)) }] : []),
    ],
  }), 'Process CPU (user + system) per TLS handshake plus CONNECT/CONNACK, over batches of sequential setups.'));
  const mem = rows.filter((r) => r.memoryPerConnection !== undefined);
  out.push(mem.length
    ? figure(barChart({
      title: 'Broker memory per idle connection', unit: 'KiB of broker RSS per connection (median; whisker: min–max)', categories: mem.map(rowLabel), stacked: false,
      format: (v) => v.toFixed(1),
      // In KiB, so that the axis ticks are round KiB values.
      series: [{ name: 'RSS per connection', color: '#009E73', values: mem.map((r) => r.memoryPerConnection!.median / 1024), spread: mem.map((r) => [r.memoryPerConnection!.min / 1024, r.memoryPerConnection!.max / 1024]) }],
    }), '(RSS after − before) / N idle connections, after a GC in the broker process.')
    : `<p class="note">Broker memory per connection: not measured (${esc(report.target === 'built-in' ? 'no measurement in this run' : 'the broker is not ours (--url)')}).</p>`);
  return out;
}

export function renderHtml(report: LabReport): string {
  const skipped = report.results.filter((r) => r.skipped !== undefined);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>moat lab — security cost report</title>
<style>${CSS}</style>
</head>
<body>
<h1>moat lab — what each security mode costs</h1>
<p class="env">${esc(environmentLine(report))}</p>
${methodLine(report) ? `<p class="env">${esc(methodLine(report))}</p>` : ''}
${skipped.length ? `<p class="skipped">Skipped: ${esc(skipped.map((r) => `${rowLabel(r)} (${r.skipped})`).join('; '))}</p>\n` : ''}${charts(report).join('\n')}
${allTables(report).map(htmlTable).join('\n')}
</body>
</html>
`;
}

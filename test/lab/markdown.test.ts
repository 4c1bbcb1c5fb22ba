/** The Markdown renderer over a hand-made report: every row, the medians and spreads, escaping, the environment. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownTable, renderMarkdown } from '../../src/lab/markdown.js';
import { rowLabel } from '../../src/lab/format.js';
import { fixtureReport } from './fixture.js';

/** The cells of a Markdown table row (escaped pipes stay inside their cell). */
const cells = (line: string): string[] => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim());

function tables(md: string): string[][][] {
  const out: string[][][] = [];
  let cur: string[][] | undefined;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      if (!cur) out.push((cur = []));
      cur.push(cells(line));
    } else cur = undefined;
  }
  return out;
}

test('the main table has a row per mode and key with the medians, every table row has the header\'s columns', () => {
  const report = fixtureReport();
  const md = renderMarkdown(report);
  const ts = tables(md);
  assert.equal(ts.length, 3, 'main, spread, overhead');
  for (const t of ts) {
    const width = t[0]!.length;
    for (const r of t) assert.equal(r.length, width, `row ${r.join(' ')} has ${r.length} cells, header ${width}`);
    assert.match(t[1]!.join(''), /^[-:]+$/, 'second line is the rule');
  }
  const main = ts[0]!;
  const header = main[0]!;
  assert.equal(main.length - 2, report.results.length);
  for (const r of report.results) {
    const row = main.find((c) => c[0] === r.mode && c[1] === (r.key ?? '—'));
    assert.ok(row, `row for ${rowLabel(r)}`);
    const at200 = r.setup.find((s) => s.rttMs === 200)!.connack.median;
    assert.equal(row[header.indexOf('CONNACK ms @200')], String(Math.round(at200)));
    assert.equal(row[header.indexOf('round trips')], `1+${r.roundTrips}`);
    assert.equal(row[header.indexOf('handshake B c→s / s→c')],
      `${r.setupBytes.handshake.clientToServer.toLocaleString('en-US')} / ${r.setupBytes.handshake.serverToClient.toLocaleString('en-US')}`);
  }
  const tls12 = main.find((c) => c[0] === 'tls12-full' && c[1] === 'rsa-2048')!;
  assert.equal(tls12[header.indexOf('CPU µs client / server')], '1,500 / 2,400');
  assert.equal(tls12[header.indexOf('broker mem/conn')], '39.1 KiB');
  assert.equal(tls12[header.indexOf('overhead 16 B QoS 0')], '31 B (194%)');
  // The spread table: min–max.
  const spread = ts[1]!;
  const s = spread.find((c) => c[0] === 'tls12-full' && c[1] === 'rsa-2048')!;
  assert.equal(s[spread[0]!.indexOf('CPU µs client')], '1,350–1,650');
});

test('the environment line names machine, Node, OpenSSL, repetitions, RTTs and load', () => {
  const md = renderMarkdown(fixtureReport());
  const env = md.split('\n')[2]!;
  for (const part of ['Test CPU @ 2.40GHz (2 CPUs, 2400 MHz)', 'Node v20.18.0', 'OpenSSL 3.0.15+quic', 'repeat 5', 'RTTs 0/50/200 ms', 'load average 0.52 0.61 0.70', 'broker: built-in']) {
    assert.ok(env.includes(part), `${part} in ${env}`);
  }
});

test('the method line says how much work stands behind CPU, memory and throughput; a report without it (older) prints none', () => {
  const method = renderMarkdown(fixtureReport()).split('\n')[4]!;
  for (const part of ['5 batches of 20 setups', 'RSS growth over 200 idle connections, 3×', 'throughput: 3× 1000 ms']) assert.ok(method.includes(part), `${part} in ${method}`);
  const { method: _, ...older } = fixtureReport();
  assert.doesNotMatch(renderMarkdown(older), /idle connections/);
});

test('skipped modes say why, unresumed resumed modes are flagged, pipes in values cannot break a row', () => {
  const report = fixtureReport((r) => {
    if (r.mode === 'tls12-psk') return { ...r, skipped: 'the broker at --url offers no PSK' };
    if (r.mode === 'tls13-resumed' && r.key === 'ed25519') return { ...r, resumed: false };
    if (r.mode === 'tls13-full' && r.key === 'ed25519') return { ...r, cipher: 'A|B' };
    return r;
  });
  const main = tables(renderMarkdown(report))[0]!;
  assert.equal(main.find((c) => c[0] === 'tls12-psk')![2], 'skipped: the broker at --url offers no PSK');
  assert.equal(main.find((c) => c[0] === 'tls13-resumed' && c[1] === 'ed25519')![2], 'TLSv1.3 (NOT resumed)');
  const row = main.find((c) => c[0] === 'tls13-full' && c[1] === 'ed25519')!;
  assert.equal(row.length, main[0]!.length);
  assert.equal(row[3], 'A\\|B / X25519');
});

test('numeric columns are right-aligned and padded to one width', () => {
  const text = markdownTable({ title: 't', headers: ['name', 'n'], rows: [['a', '1'], ['bbbb', '1,000']], numeric: [false, true] });
  assert.equal(text, '| name |     n |\n|------|------:|\n| a    |     1 |\n| bbbb | 1,000 |\n');
});

test('the ticket lifetime the broker announced: one figure for most rows, the rows that differ named', () => {
  const md = renderMarkdown(fixtureReport((r) => (r.mode === 'plain' ? r : { ...r, ticketLifetimeS: r.mode === 'tls13-psk' ? 304 : 7200 })));
  assert.match(md, /Session tickets announced valid for 7,200 s; tls13-psk: 304 s \(the broker's sessionTimeout\)/);
  assert.doesNotMatch(renderMarkdown(fixtureReport()), /Session tickets announced/, 'none measured: no sentence');
});

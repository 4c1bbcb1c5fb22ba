/** report.html over a hand-made report: well-formed, self-contained, escaped, and what Chromium renders of it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtml } from '../../src/lab/html-report.js';
import { rowLabel } from '../../src/lab/format.js';
import { assertSelfContained, assertWellFormed, inChromium } from './html-check.js';
import { fixtureReport } from './fixture.js';

test('the HTML is well-formed and self-contained', () => {
  const html = renderHtml(fixtureReport());
  assertWellFormed(html);
  assertSelfContained(html);
  assert.throws(() => assertWellFormed('<html><body><p>a</b></body></html>'), /closes the wrong element/);
  assert.throws(() => assertWellFormed('<p>a & b</p>'), /unescaped &/);
});

test('text from the report is escaped, never markup', () => {
  const html = renderHtml(fixtureReport((r) => (r.mode === 'tls12-psk'
    ? { ...r, skipped: '<script>alert("x")</script> & <img src=x>' }
    : r.mode === 'tls13-full' ? { ...r, cipher: '"><svg onload=1>' } : r)));
  assertWellFormed(html);
  assertSelfContained(html);
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x&gt;'));
  assert.ok(!html.includes('<svg onload'));
});

test('in Chromium: a row per mode and key, four charts each with marks, no request, no error', async () => {
  const report = fixtureReport();
  const seen = await inChromium(renderHtml(report));
  assert.deepEqual(seen.mainRows, report.results.map(rowLabel));
  assert.deepEqual(seen.charts.map((c) => c.title), ['Time to CONNACK vs round-trip time', 'Bytes per connection setup',
    'CPU time per connection setup', 'Broker memory per idle connection']);
  // Lines: 8 modes × (polyline + 3 points); bars: at least one segment per row.
  assert.equal(seen.charts[0]!.marks, 8 * 4);
  for (const c of seen.charts.slice(1)) assert.ok(c.marks >= report.results.length, `${c.title}: ${c.marks} marks`);
  assert.deepEqual(seen.requests, []);
  assert.deepEqual(seen.errors, []);
});

test('without broker measurements (--url) the memory chart is replaced by a note, the others stay', async () => {
  const report = { ...fixtureReport((r) => { const { memoryPerConnection: _m, ...rest } = r; return { ...rest, cpu: { clientUs: r.cpu.clientUs } }; }), target: 'mqtts://example:8883' };
  const html = renderHtml(report);
  assertWellFormed(html);
  assert.match(html, /Broker memory per connection: not measured \(the broker is not ours \(--url\)\)/);
  const seen = await inChromium(html);
  assert.equal(seen.charts.length, 3);
  for (const c of seen.charts) assert.ok(c.marks > 0);
});

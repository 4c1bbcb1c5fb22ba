/**
 * Small inline SVG charts for report.html: horizontal bars (stacked or grouped, optional min–max
 * whiskers) and lines over a numeric x axis. Static markup only — no scripts, no external references —
 * and every piece of text escaped, so the report opens anywhere and cannot carry markup from a label.
 */

export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const n = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** Tick labels: whole ticks without decimals ("0", "20", not "0.0"), else the value format. */
const tickText = (t: number[], format: (v: number) => string) => (v: number): string =>
  (t.every(Number.isInteger) ? v.toLocaleString('en-US') : format(v));
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"';

/** About `count` round tick values from 0 to at least `max` (1, 2, 2.5, 5 × 10^k steps). */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export interface BarSeries {
  name: string;
  color: string;
  /** One value per category; undefined draws nothing. */
  values: Array<number | undefined>;
  /** Optional [min, max] per category, drawn as a whisker (grouped bars only). */
  spread?: Array<[number, number] | undefined>;
}

export interface BarChart {
  title: string;
  /** Axis label, e.g. "bytes" or "µs per setup". */
  unit: string;
  categories: string[];
  series: BarSeries[];
  stacked: boolean;
  /** Formats a value for the end-of-bar label and the ticks. */
  format: (v: number) => string;
}

const WIDTH = 820;
const LABEL_W = 190;
const RIGHT_PAD = 80;

function legend(items: Array<{ name: string; color: string }>, y: number): string {
  let x = LABEL_W;
  return items.map((it) => {
    const g = `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${escapeXml(it.color)}"/><text x="${x + 16}" y="${y + 1}" ${FONT}>${escapeXml(it.name)}</text>`;
    x += 28 + it.name.length * 7;
    return g;
  }).join('');
}

/** Horizontal bars, one row per category, labels left, value at the bar's end. */
export function barChart(c: BarChart): string {
  const groupH = c.stacked ? 22 : 8 + 12 * c.series.length;
  const top = 56;
  const height = top + c.categories.length * groupH + 34;
  const plotW = WIDTH - LABEL_W - RIGHT_PAD;
  const totals = c.categories.map((_, i) => (c.stacked
    ? c.series.reduce((s, se) => s + (se.values[i] ?? 0), 0)
    : Math.max(0, ...c.series.map((se) => Math.max(se.values[i] ?? 0, se.spread?.[i]?.[1] ?? 0)))));
  const t = ticks(Math.max(0, ...totals));
  const max = t[t.length - 1]!;
  const x = (v: number): number => LABEL_W + (plotW * v) / max;
  const tick = tickText(t, c.format);
  const parts: string[] = [];
  parts.push(`<text x="0" y="18" ${FONT} font-size="15" font-weight="600">${escapeXml(c.title)}</text>`);
  parts.push(legend(c.series, 40));
  for (const v of t) {
    parts.push(`<line x1="${n(x(v))}" y1="${top - 4}" x2="${n(x(v))}" y2="${top + c.categories.length * groupH}" stroke="#ddd"/>`);
    parts.push(`<text x="${n(x(v))}" y="${top + c.categories.length * groupH + 16}" ${FONT} fill="#555" text-anchor="middle">${escapeXml(tick(v))}</text>`);
  }
  parts.push(`<text x="${WIDTH - RIGHT_PAD}" y="${height - 2}" ${FONT} fill="#555" text-anchor="end">${escapeXml(c.unit)}</text>`);
  c.categories.forEach((cat, i) => {
    const y0 = top + i * groupH;
    if (i % 2 === 1) parts.push(`<rect x="0" y="${y0}" width="${WIDTH}" height="${groupH}" fill="#f6f7f9"/>`);
    parts.push(`<text class="cat" x="${LABEL_W - 8}" y="${y0 + groupH / 2 + 4}" ${FONT} text-anchor="end">${escapeXml(cat)}</text>`);
    if (c.stacked) {
      let acc = 0;
      for (const s of c.series) {
        const v = s.values[i];
        if (v === undefined || v <= 0) continue;
        parts.push(`<rect class="mark" x="${n(x(acc))}" y="${y0 + 4}" width="${n(x(acc + v) - x(acc))}" height="${groupH - 8}" fill="${escapeXml(s.color)}"><title>${escapeXml(`${cat} — ${s.name}: ${c.format(v)}`)}</title></rect>`);
        acc += v;
      }
      if (acc > 0) parts.push(`<text x="${n(x(acc) + 5)}" y="${y0 + groupH / 2 + 4}" ${FONT}>${escapeXml(c.format(acc))}</text>`);
      return;
    }
    c.series.forEach((s, j) => {
      const v = s.values[i];
      if (v === undefined) return;
      const y = y0 + 4 + j * 12;
      parts.push(`<rect class="mark" x="${LABEL_W}" y="${y}" width="${n(Math.max(1, x(v) - LABEL_W))}" height="10" fill="${escapeXml(s.color)}"><title>${escapeXml(`${cat} — ${s.name}: ${c.format(v)}`)}</title></rect>`);
      const sp = s.spread?.[i];
      let end = x(v);
      if (sp) {
        parts.push(`<line x1="${n(x(sp[0]))}" y1="${y + 5}" x2="${n(x(sp[1]))}" y2="${y + 5}" stroke="#222"/><line x1="${n(x(sp[1]))}" y1="${y + 1}" x2="${n(x(sp[1]))}" y2="${y + 9}" stroke="#222"/>`);
        end = Math.max(end, x(sp[1]));
      }
      parts.push(`<text x="${n(end + 5)}" y="${y + 9}" ${FONT} font-size="10">${escapeXml(c.format(v))}</text>`);
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${escapeXml(c.title)}">${parts.join('')}</svg>`;
}

export interface LineSeries {
  name: string;
  color: string;
  /** SVG stroke-dasharray, so that lines lying on top of each other stay apart to the eye. */
  dash?: string;
  points: Array<[number, number]>;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  format: (v: number) => string;
}

/** Lines with markers; the legend is a column on the right (names never overlap the lines' ends). */
export function lineChart(c: LineChart): string {
  const left = 60;
  const top = 34;
  const plotW = 520;
  const plotH = 300;
  const legendX = left + plotW + 30;
  const height = Math.max(top + plotH + 44, top + 20 * c.series.length + 10);
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const tx = ticks(Math.max(0, ...xs));
  const ty = ticks(Math.max(0, ...ys));
  const xMax = tx[tx.length - 1]!;
  const yMax = ty[ty.length - 1]!;
  const X = (v: number): number => left + (plotW * v) / xMax;
  const Y = (v: number): number => top + plotH - (plotH * v) / yMax;
  const xTick = tickText(tx, c.format);
  const yTick = tickText(ty, c.format);
  const parts: string[] = [`<text x="0" y="18" ${FONT} font-size="15" font-weight="600">${escapeXml(c.title)}</text>`];
  for (const v of ty) {
    parts.push(`<line x1="${left}" y1="${n(Y(v))}" x2="${left + plotW}" y2="${n(Y(v))}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${n(Y(v) + 4)}" ${FONT} fill="#555" text-anchor="end">${escapeXml(yTick(v))}</text>`);
  }
  for (const v of tx) {
    parts.push(`<line x1="${n(X(v))}" y1="${top}" x2="${n(X(v))}" y2="${top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${n(X(v))}" y="${top + plotH + 16}" ${FONT} fill="#555" text-anchor="middle">${escapeXml(xTick(v))}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#888"/><line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#888"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 36}" ${FONT} text-anchor="middle">${escapeXml(c.xLabel)}</text>`);
  parts.push(`<text x="14" y="${top + plotH / 2}" ${FONT} text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">${escapeXml(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const color = escapeXml(s.color);
    const dash = s.dash ? ` stroke-dasharray="${escapeXml(s.dash)}"` : '';
    parts.push(`<g class="series"><title>${escapeXml(s.name)}</title>`);
    if (pts.length > 1) parts.push(`<polyline class="mark" fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.map(([px, py]) => `${n(X(px))},${n(Y(py))}`).join(' ')}"/>`);
    for (const [px, py] of pts) parts.push(`<circle class="mark" cx="${n(X(px))}" cy="${n(Y(py))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${c.format(py)} at ${c.format(px)}`)}</title></circle>`);
    parts.push('</g>');
    const ly = top + 4 + i * 20;
    const last = pts[pts.length - 1];
    parts.push(`<line x1="${legendX}" y1="${ly}" x2="${legendX + 18}" y2="${ly}" stroke="${color}" stroke-width="3"${dash}/><text x="${legendX + 24}" y="${ly + 4}" ${FONT}>${escapeXml(s.name)}${last ? ` <tspan fill="#555">${escapeXml(c.format(last[1]))}</tspan>` : ''}</text>`);
  });
  const width = legendX + 230;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(c.title)}">${parts.join('')}</svg>`;
}

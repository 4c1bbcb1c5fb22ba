/** Plain-text output for people: aligned columns and key/value blocks. `--json` bypasses all of it. */

export type Cell = string | number | boolean | undefined | null;

function text(c: Cell): string {
  if (c === undefined || c === null || c === '') return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return String(c).replace(/[\r\n\t]/g, ' ');
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => text(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n') + '\n';
}

/** `key  value` lines with the keys aligned. */
export function formatPairs(pairs: Array<[string, Cell]>): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join('\n') + '\n';
}

/** Glob on client ids and topics: `*` any run of characters, `?` one. */
export function globMatcher(pattern: string | undefined): (s: string) => boolean {
  if (pattern === undefined) return () => true;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return (s) => re.test(s);
}

/**
 * A LabReport as Markdown: what `moat lab` prints on the terminal and writes to report.md. Columns are
 * padded so that the table reads in a terminal as it is, and stays a valid Markdown table.
 */
import { allTables, environmentLine, methodLine, type Table } from './format.js';
import type { LabReport } from './report.js';

/** A cell may not break the row: pipes escaped, line breaks flattened. */
const cell = (s: string): string => (s === '' ? ' ' : s.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' '));

/** Display width: the characters, not UTF-16 units (µ, →, – are one column each). */
const width = (s: string): number => [...s].length;

export function markdownTable(t: Table): string {
  const cells = [t.headers, ...t.rows].map((r) => t.headers.map((_, i) => cell(r[i] ?? '')));
  const widths = t.headers.map((_, i) => Math.max(3, ...cells.map((r) => width(r[i]!))));
  const pad = (s: string, i: number): string => {
    const fill = ' '.repeat(widths[i]! - width(s));
    return t.numeric[i] ? fill + s : s + fill;
  };
  const line = (r: string[]): string => `| ${r.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (t.numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n') + '\n';
}

export function renderMarkdown(report: LabReport): string {
  const method = methodLine(report);
  const parts = [`# moat lab\n\n${environmentLine(report)}\n${method ? `\n${method}\n` : ''}`];
  for (const t of allTables(report)) {
    parts.push(`## ${t.title}\n\n${markdownTable(t)}${t.note ? `\n${t.note}\n` : ''}`);
  }
  return parts.join('\n');
}

/**
 * Checks on a report.html shared by the renderer and CLI tests: a strict well-formedness check (every
 * element closed in order, attributes quoted, no raw '<' or '&' in text) and what headless Chromium sees
 * when it loads the page (rows of the main table, marks in every chart, no request leaving the page).
 */
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);

/** Throws on the first structural error; the HTML renderer writes XML-clean markup so this can be strict. */
export function assertWellFormed(html: string): void {
  const body = html.replace(/^<!DOCTYPE html>\s*/i, '');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < body.length) {
    const lt = body.indexOf('<', i);
    const text = body.slice(i, lt === -1 ? body.length : lt);
    assert.doesNotMatch(text, /&(?!(amp|lt|gt|quot|#39);)/, `unescaped & in text near ${JSON.stringify(text.slice(0, 60))}`);
    assert.doesNotMatch(text, />/, `raw > in text near ${JSON.stringify(text.slice(0, 60))}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(body);
    assert.ok(m, `malformed tag at ${lt}: ${JSON.stringify(body.slice(lt, lt + 80))}`);
    const [, close, name, , self] = m;
    const lower = name!.toLowerCase();
    if (close) {
      assert.equal(stack.pop(), lower, `</${lower}> closes the wrong element at ${lt}`);
    } else if (!self && !VOID.has(lower)) {
      stack.push(lower);
    }
    i = tag.lastIndex;
    // Raw-text elements: skip to their end tag (CSS may hold '>' selectors).
    if (!close && (lower === 'style' || lower === 'title') && !self) {
      const end = body.indexOf(`</${lower}>`, i);
      assert.ok(end !== -1, `<${lower}> never closed`);
      i = end;
    }
  }
  assert.deepEqual(stack, [], 'elements left open');
}

/** Self-contained: no script, no resource fetched from anywhere (the SVG namespace is a name, not a fetch). */
export function assertSelfContained(html: string): void {
  assert.doesNotMatch(html, /<script/i);
  // Only real tags: text has its '<' escaped, so an escaped "<img src=…>" in a cell is not a fetch.
  assert.doesNotMatch(html, /<[^>]*\s(src|href|xlink:href)=/i);
  assert.doesNotMatch(html, /<style>[^<]*(url\(|@import)/i);
  const urls = html.match(/https?:\/\/[^\s"'<)]+/g) ?? [];
  assert.deepEqual(urls.filter((u) => u !== 'http://www.w3.org/2000/svg'), []);
}

export interface Seen {
  /** "mode key" of each row of the first table, as rendered. */
  mainRows: string[];
  /** Per chart <svg>: its title (aria-label) and how many marks (bars, lines, points) it draws. */
  charts: Array<{ title: string; marks: number }>;
  requests: string[];
  errors: string[];
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** Loads the HTML in headless Chromium; `screenshot` also writes a full-page PNG there. */
export async function inChromium(html: string, screenshot?: string): Promise<Seen> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith('data:') && r.url() !== 'about:blank') requests.push(r.url()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.setContent(html, { waitUntil: 'load' });
    // A string, run in the page (this file is compiled without DOM types).
    const seen = await page.evaluate(`(() => {
      const first = document.querySelector('table');
      const mainRows = [...(first ? first.querySelectorAll('tbody tr') : [])].map((tr) => {
        const td = [...tr.querySelectorAll('td')].map((c) => c.textContent || '');
        return td[1] && td[1] !== '—' ? td[0] + ' ' + td[1] : (td[0] || '');
      });
      const charts = [...document.querySelectorAll('figure svg')].map((svg) => ({
        title: svg.getAttribute('aria-label') || '',
        marks: [...svg.querySelectorAll('.mark')].filter((m) => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length,
      }));
      return { mainRows, charts };
    })()`) as Pick<Seen, 'mainRows' | 'charts'>;
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    return { ...seen, requests, errors };
  } finally {
    await browser.close();
  }
}

/**
 * The browser link's close path when the peer never answers the WebSocket Close frame (a half-open
 * link after a keep-alive timeout): the browser itself would wait for its own timeout, so the link
 * must not keep polling, and end() must settle. The real browser is exercised in browser.test.ts;
 * here a stand-in for `globalThis.WebSocket` plays a peer that never closes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBrowserLink } from '../../src/client/browser-link.js';
import { TlsSessionCache, type Link } from '../../src/client/link.js';

class SilentPeerWebSocket {
  static last: SilentPeerWebSocket | undefined;
  binaryType = 'blob';
  bufferedAmount = 1 << 20; // over any high-water mark: writes start the drain poll
  closeCalls = 0;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string, readonly protocols: string[]) {
    SilentPeerWebSocket.last = this;
    queueMicrotask(() => this.onopen?.());
  }
  send(): void {}
  close(): void { this.closeCalls++; } // the peer never answers: no close event
}

test('browser link: end() on a peer that never answers the Close frame stops the drain poll and settles within the grace time', async (t) => {
  const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = SilentPeerWebSocket;
  t.after(() => { (globalThis as { WebSocket?: unknown }).WebSocket = saved; });
  let closes = 0;
  let drains = 0;
  const link = await new Promise<Link>((resolve) => {
    openBrowserLink({ scheme: 'wss', host: 'example.test', port: 443, path: '/mqtt' }, {}, new TlsSessionCache(),
      { data() {}, drain: () => { drains++; }, close: () => { closes++; } }, resolve, 1024);
  });
  assert.equal(link.write(Buffer.from([0xc0, 0])), false, 'over the high-water mark');
  const started = Date.now();
  link.end();
  assert.equal(link.write(Buffer.from([0xc0, 0])), true, 'nothing is written once ending');
  SilentPeerWebSocket.last!.bufferedAmount = 0; // the poll, had it kept running, would now report a drain
  await link.closed;
  const took = Date.now() - started;
  assert.ok(took >= 1900 && took < 5000, `settled after ${took} ms`);
  assert.equal(closes, 1, 'the engine hears of the close once');
  assert.equal(drains, 0, 'the drain poll stopped at end()');
  assert.equal(SilentPeerWebSocket.last!.closeCalls, 1);
});

/**
 * MQTT over the browser's own WebSocket (subprotocol `mqtt` [MQTT-6.0.0-3], binary frames
 * [MQTT-6.0.0-1]). The browser does the TLS of wss: and always verifies the broker's certificate
 * against its trust store: no TLS option applies here, and it never says why a connection failed.
 */
import type { MoatError } from '../codec/index.js';
import { ClientErr, clientError } from './errors.js';
import type { LinkOpener } from './link.js';

/** The part of the WHATWG WebSocket this link uses (the project compiles without the DOM types). */
interface BrowserWebSocket {
  binaryType: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number): void;
  onopen: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: (() => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}
type WebSocketClass = new (url: string, protocols: string[]) => BrowserWebSocket;

/** How often a link held back by the high-water mark looks whether the browser sent its bytes. */
const DRAIN_POLL_MS = 10;
/** After end()/destroy(), how long the browser may take to report the close (a half-open peer never answers it). */
const CLOSE_GRACE_MS = 2000;

export const openBrowserLink: LinkOpener = (target, _tls, _cache, events, onUp, highWaterMark) => {
  const where = `${target.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}${target.path}`;
  const WS = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  let ws: BrowserWebSocket;
  try {
    if (!WS) throw new Error('no global WebSocket');
    ws = new WS(where, ['mqtt']);
  } catch (cause) {
    // The engine expects `close` after the opener returned, never during it.
    queueMicrotask(() => events.close(clientError(ClientErr.connectFailed, `cannot connect to ${where}: ${String(cause)}`, undefined, cause)));
    return () => undefined;
  }
  ws.binaryType = 'arraybuffer';
  let opened = false;
  let closed = false;
  /** end() or destroy() was called: nothing more is written, and the close comes by CLOSE_GRACE_MS at the latest. */
  let finishing = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  let failure: MoatError | undefined;
  let resolveGone!: () => void;
  const gone = new Promise<void>((resolve) => { resolveGone = resolve; });
  // `send` reports nothing: bufferedAmount (bytes queued, not yet sent) is the gauge; no event says it
  // fell, so a link over the mark polls it until it did.
  let poll: ReturnType<typeof setInterval> | undefined;
  const stopPoll = (): void => {
    if (poll !== undefined) clearInterval(poll);
    poll = undefined;
  };
  const watchDrain = (): void => {
    poll ??= setInterval(() => {
      if (closed) return stopPoll();
      if (ws.bufferedAmount < highWaterMark) {
        stopPoll();
        events.drain();
      }
    }, DRAIN_POLL_MS);
  };
  ws.onopen = () => {
    opened = true;
    onUp({
      isResumed: false,
      closed: gone,
      get buffered() { return ws.bufferedAmount; },
      write: (b) => {
        if (closed || finishing) return true;
        ws.send(b);
        if (ws.bufferedAmount < highWaterMark) return true;
        watchDrain();
        return false;
      },
      // The browser sends what is queued before its Close frame.
      end: () => finish(1000),
      destroy: () => finish(),
    });
  };
  ws.onmessage = (ev) => {
    if (closed) return;
    if (!(ev.data instanceof ArrayBuffer)) {
      // [MQTT-6.0.0-1] MQTT travels in binary frames: a text frame closes the connection.
      failure ??= clientError(ClientErr.protocolError, 'the broker sent a WebSocket text frame [MQTT-6.0.0-1]', 0x82);
      ws.close();
      return;
    }
    events.data(Buffer.from(ev.data));
  };
  ws.onerror = () => {
    // The browser hides the cause on purpose (refused, TLS verification, HTTP status): say what we know.
    failure ??= opened ? clientError(ClientErr.connectionLost, `the WebSocket to ${where} failed`)
      : clientError(ClientErr.connectFailed, `cannot connect to ${where} (refused, TLS verification or WebSocket handshake; the browser does not say which)`);
  };
  const onClosed = (code: number): void => {
    stopPoll();
    if (grace !== undefined) clearTimeout(grace);
    resolveGone();
    if (closed) return;
    closed = true;
    if (!failure && !opened) failure = clientError(ClientErr.connectFailed, `cannot connect to ${where} (WebSocket close ${code})`);
    events.close(failure);
  };
  ws.onclose = (ev) => onClosed(ev.code);
  const finish = (code?: number): void => {
    if (finishing || closed) return;
    finishing = true;
    stopPoll();
    ws.close(code);
    // A peer that never answers the Close frame would keep the link (and end()) waiting on the browser.
    grace = setTimeout(() => onClosed(1006), CLOSE_GRACE_MS);
  };
  return () => {
    closed = true;
    stopPoll();
    ws.close();
  };
};

/**
 * The client for browsers (dist/browser/moat-client.min.js, built by scripts/build-browser.mjs):
 * the same MqttClient over the browser's WebSocket, so ws: and wss: only. The browser verifies the
 * broker's certificate itself (its trust store, always): the TLS options of Node do not apply here.
 */
import type { MoatError } from '../codec/index.js';
import { openBrowserLink } from './browser-link.js';
import { ClientCore } from './client-core.js';
import { ClientErr, clientError } from './errors.js';
import { parseTarget } from './link.js';
import type { ClientOptions } from './options.js';

/** Node-only options: a browser cannot take a CA, a client certificate, a PSK or a session ticket. */
const NODE_ONLY = ['ca', 'cert', 'key', 'passphrase', 'servername', 'minVersion', 'psk', 'pskIdentity', 'tlsSessionStore'] as const;

function browserOptions(url: string, options: ClientOptions): ClientOptions {
  const { scheme } = parseTarget(url);
  if (scheme !== 'ws' && scheme !== 'wss') {
    throw clientError(ClientErr.config, `broker URL "${url}": a browser connects over ws: or wss: only`);
  }
  const given: string[] = NODE_ONLY.filter((k) => options[k] !== undefined);
  // Turning verification off is not possible in a browser: refuse rather than pretend.
  if (options.rejectUnauthorized === false) given.push('rejectUnauthorized: false');
  if (given.length) {
    throw clientError(ClientErr.config, `${given.join(', ')}: not available in a browser, which does the TLS of wss: and verifies the broker itself`);
  }
  return options;
}

export class MqttClient extends ClientCore {
  constructor(url: string, options: ClientOptions = {}) {
    super(url, browserOptions(url, options), openBrowserLink);
  }
}

/** Connects to `url` (ws: or wss:) and resolves once the broker accepted (CONNACK 0). */
export function connect(url: string, options: ClientOptions = {}): Promise<MqttClient> {
  let client: MqttClient;
  try {
    client = new MqttClient(url, options);
  } catch (err) {
    return Promise.reject(err as MoatError);
  }
  return client.start();
}

export { Subscription } from './subscription.js';
export { MemoryInflightStore, type InflightStore } from './inflight-store.js';
export { exponentialBackoff, type Backoff } from './backoff.js';
export { ClientErr } from './errors.js';
export type { EnhancedAuth } from './auth.js';
export type { ClientOptions, RequestOptions } from './options.js';
export type {
  ConnectInfo, Message, OfflineQueueOptions, OverflowPolicy, PublishOptions, PublishResult, ReconnectOptions,
  SubscribeOptions, WillOptions,
} from './types.js';
export { MoatError, isMoatError } from '../codec/index.js';

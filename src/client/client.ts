/**
 * The public client for Node: `connect(url, options)` → `MqttClient` over TCP, TLS (mqtt:, mqtts:) or
 * WebSocket (ws:, wss: through `ws`). The client itself is client-core.ts; the browser's is browser.ts.
 */
import { ClientCore } from './client-core.js';
import type { ClientOptions } from './options.js';
import type { LinkOpener } from './link.js';
import { openSocketLink } from './transport.js';
import { openWebSocketLink } from './ws-transport.js';

/** TCP/TLS for mqtt:/mqtts:, `ws` for ws:/wss:. */
export const openNodeLink: LinkOpener = (target, tls, cache, events, onUp, mark) =>
  (target.scheme === 'ws' || target.scheme === 'wss' ? openWebSocketLink : openSocketLink)(target, tls, cache, events, onUp, mark);

export class MqttClient extends ClientCore {
  constructor(url: string, options: ClientOptions = {}) {
    super(url, options, openNodeLink);
  }
}

/** Connects to `url` (mqtt:, mqtts:, ws:, wss:) and resolves once the broker accepted (CONNACK 0). */
export function connect(url: string, options: ClientOptions = {}): Promise<MqttClient> {
  let client: MqttClient;
  try {
    client = new MqttClient(url, options);
  } catch (err) {
    return Promise.reject(err);
  }
  return client.start();
}

export type { ClientOptions, QoS, RequestOptions } from './client-core.js';

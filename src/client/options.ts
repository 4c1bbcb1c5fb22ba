/** The client's options and how they become the engine's: defaults live here, in one place. */
import { randomBytes } from 'node:crypto';
import type { UserProperties } from '../codec/index.js';
import type { EnhancedAuth } from './auth.js';
import { exponentialBackoff } from './backoff.js';
import type { EngineOptions } from './engine.js';
import type { InflightStore } from './inflight-store.js';
import type { TlsOptions, TlsSessionStore } from './transport.js';
import type { Clock, OfflineQueueOptions, PublishOptions, ReconnectOptions, WillOptions } from './types.js';

export interface ClientOptions extends TlsOptions {
  /** 5 (default) or 4 (MQTT 3.1.1). */
  protocolVersion?: 4 | 5;
  /** Default: `moat-` + 12 random hex digits. */
  clientId?: string;
  /** Clean Start / Clean Session on the first connection. Default true. */
  clean?: boolean;
  /** Seconds; 0 turns it off. Default 60. */
  keepAlive?: number;
  username?: string;
  password?: string | Buffer;
  will?: WillOptions;
  /** v5 Session Expiry Interval, seconds. With it, reconnects resume the session. */
  sessionExpiry?: number;
  /** v5: QoS 1/2 messages the broker may have in flight to us. */
  receiveMaximum?: number;
  /** Largest packet we accept (announced in v5). Default 1 MiB. */
  maximumPacketSize?: number;
  /** v5: topic aliases the broker may use towards us. Default 16. */
  topicAliasMaximum?: number;
  userProperties?: UserProperties;
  /** ms to wait for the link and CONNACK. Default 10,000. */
  connectTimeout?: number;
  /** Reconnect with exponential backoff and jitter (default on); false turns it off. */
  reconnect?: ReconnectOptions | false;
  queue?: OfflineQueueOptions;
  /** Where QoS 1/2 in-flight state lives. Default: memory. */
  store?: InflightStore;
  /**
   * Payload + topic bytes of QoS 1/2 messages sent and not yet acknowledged; publishes beyond wait in
   * the queue (a single larger message goes alone). Default 8 MiB.
   */
  maxInflightBytes?: number;
  /**
   * Bytes written to the socket and not yet flushed to the operating system at which publishes stop
   * and wait for it to drain (back-pressure). Default 64 KiB.
   */
  highWaterMark?: number;
  /** v5 enhanced authentication: method, first data, and the answer to each challenge. */
  auth?: EnhancedAuth;
  /** Keeps the TLS session ticket beyond the process, so a restarted client resumes too. */
  tlsSessionStore?: TlsSessionStore;
  /** Injected time, for tests. */
  clock?: Clock;
  /** Injected randomness for the backoff jitter, for tests. */
  random?: () => number;
}

export interface RequestOptions extends PublishOptions {
  /** ms to wait for the response. Default 10,000. */
  timeout?: number;
}

export type Payload = string | Buffer | Uint8Array;
export const toBuffer = (p: Payload): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8')
  : Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));

/** Options that are credentials: kept, but never enumerated, serialised or inspected. */
const SECRETS = ['password', 'psk', 'key', 'passphrase'] as const;

/**
 * Makes `key` of `o` non-enumerable (same value): `Object.keys`, `JSON.stringify`, spreading and
 * `util.inspect` no longer show it, so logging a client or its options cannot leak a credential.
 */
export function hideProperty<T extends object>(o: T, key: PropertyKey): T {
  if (Object.prototype.hasOwnProperty.call(o, key)) {
    Object.defineProperty(o, key, { value: (o as Record<PropertyKey, unknown>)[key], enumerable: false, writable: false, configurable: true });
  }
  return o;
}

/** A shallow copy of the caller's options with the credentials hidden (the caller's object is left alone). */
export function hideSecrets(options: ClientOptions): ClientOptions {
  const copy: ClientOptions = { ...options };
  for (const k of SECRETS) hideProperty(copy, k);
  return copy;
}

export function engineOptions(options: ClientOptions): EngineOptions {
  const version = options.protocolVersion ?? 5;
  const rc = options.reconnect === false ? { enabled: false } : options.reconnect ?? {};
  const will = options.will;
  return hideProperty({
    version,
    clientId: options.clientId ?? `moat-${randomBytes(6).toString('hex')}`,
    clean: options.clean ?? true,
    keepAlive: options.keepAlive ?? 60,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: toBuffer(options.password) } : {}),
    ...(will ? {
      will: {
        topic: will.topic, payload: toBuffer(will.payload), qos: will.qos ?? 0, retain: will.retain ?? false,
        ...(version === 5 && (will.delay !== undefined || will.properties)
          ? { properties: { ...will.properties, ...(will.delay !== undefined ? { willDelayInterval: will.delay } : {}) } } : {}),
      },
    } : {}),
    ...(options.sessionExpiry !== undefined ? { sessionExpiry: options.sessionExpiry } : {}),
    ...(options.receiveMaximum !== undefined ? { receiveMaximum: options.receiveMaximum } : {}),
    maximumPacketSize: options.maximumPacketSize ?? 1_048_576,
    topicAliasMaximum: options.topicAliasMaximum ?? 16,
    ...(options.userProperties ? { userProperties: options.userProperties } : {}),
    connectTimeoutMs: options.connectTimeout ?? 10_000,
    reconnect: rc.enabled ?? true,
    backoff: exponentialBackoff(rc.initialDelay ?? 500, rc.maxDelay ?? 30_000, options.random),
    ...(options.queue ? { queue: options.queue } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.maxInflightBytes !== undefined ? { maxInflightBytes: options.maxInflightBytes } : {}),
    ...(options.auth ? { auth: options.auth } : {}),
  } satisfies EngineOptions as EngineOptions, 'password');
}

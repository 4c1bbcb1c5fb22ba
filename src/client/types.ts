/** Types shared by the client's engine, transports and public API. */
import type { ConnackProperties, PublishProperties, QoS, UserProperties, WillProperties } from '../codec/index.js';

/** Injected time: the engine never reads the system clock or sets timers itself. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Timers must not keep a process alive on their own; the socket does while connected.
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** An application message as the client hands it out. The payload is a copy the caller may keep. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  properties?: PublishProperties;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** v5 properties (user properties, content type, expiry, response topic, correlation data …). */
  properties?: PublishProperties;
}

/** What a QoS 1/2 flow ended with: the reason code of PUBACK / PUBREC (0 or 0x10 on success). */
export interface PublishResult {
  reasonCode: number;
  packetId?: number;
}

export interface WillOptions {
  topic: string;
  payload: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  /** v5 Will Delay Interval, seconds [3.1.3.2.2]. */
  delay?: number;
  properties?: Omit<WillProperties, 'willDelayInterval'>;
}

export type OverflowPolicy = 'reject' | 'drop-oldest';

export interface OfflineQueueOptions {
  /** Messages waiting to be sent (offline, or beyond the broker's Receive Maximum). Default 1000. */
  maxMessages?: number;
  /** Payload + topic bytes waiting. Default 16 MiB. */
  maxBytes?: number;
  /** 'reject' (default): the new publish rejects. 'drop-oldest': the oldest waiting one (QoS 0 first) rejects. */
  overflow?: OverflowPolicy;
}

export interface ReconnectOptions {
  /** First delay, ms. Default 500. */
  initialDelay?: number;
  /** Largest delay, ms. Default 30,000. */
  maxDelay?: number;
  /** false turns reconnecting off. */
  enabled?: boolean;
}

/** What one successful CONNACK told us. */
export interface ConnectInfo {
  sessionPresent: boolean;
  /** The TLS session was resumed from the ticket of an earlier connection. */
  isResumed: boolean;
  properties?: ConnackProperties;
  /** Client identifier in force (the broker's Assigned Client Identifier when it gave one). */
  clientId: string;
}

export interface SubscribeOptions {
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  subscriptionIdentifier?: number;
  userProperties?: UserProperties;
  /** Messages held for the async iterator until read; beyond it the oldest is dropped. Default 1000. */
  bufferSize?: number;
}

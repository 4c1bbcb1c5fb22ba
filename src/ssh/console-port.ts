/**
 * The narrow view of a running broker the console commands get. Commands never see the Broker: what
 * they may read and do is listed here, and `broker-adapter.ts` implements it over the Broker.
 */
import type { QoS } from '../codec/index.js';

export interface ClientRow {
  clientId: string;
  address: string;
  protocolVersion: number;
  transport: string;
  tlsVersion?: string;
  tlsCipher?: string;
  tlsResumed?: boolean;
  /** The authenticated identity: user name, certificate identity or PSK identity. */
  identity?: string;
  subscriptions: number;
  queued: number;
  inflight: number;
}

export interface ClientDetail extends ClientRow {
  username?: string;
  keepAlive: number;
  sessionExpiry: number;
  subscriptionList: Array<{ filter: string; qos: QoS }>;
  queuedBytes: number;
}

export interface SubscriptionRow {
  clientId: string;
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  online: boolean;
}

export interface RetainedRow {
  topic: string;
  qos: QoS;
  bytes: number;
  /** The payload as text when it is printable UTF-8, else `<n bytes>`, cut at 60 characters. */
  preview: string;
}

export interface StatusInfo {
  startedAt: string;
  uptimeSeconds: number;
  listeners: string[];
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Messages per second over the last minute (or since start when younger). */
  rateIn: number;
  rateOut: number;
  dropped: number;
  store: string;
  /** TLS handshake counters summed over listeners: full, resumed, failed… */
  tls: Record<string, number>;
}

export interface TailMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

export type PublishResult = 'delivered' | 'no subscribers' | 'refused: queues full';

export interface ConsolePort {
  status(): StatusInfo;
  listClients(): ClientRow[];
  client(clientId: string): ClientDetail | undefined;
  /** Disconnects with v5 DISCONNECT 0x98 (Administrative action); false when not connected. */
  kick(clientId: string): boolean;
  subscriptions(): SubscriptionRow[];
  retained(filter: string): RetainedRow[];
  /** False when nothing was retained on `topic`. */
  clearRetained(topic: string): boolean;
  publish(topic: string, payload: Buffer, qos: QoS, retain: boolean): PublishResult;
  /** Calls `fn` for every message published from now on whose topic matches `filter`. */
  onMessage(filter: string, fn: (m: TailMessage) => void): () => void;
  /** Reloads TLS material and authentication files; returns what was reloaded. */
  reload(): Promise<string[]>;
}

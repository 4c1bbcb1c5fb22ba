/** The narrow interfaces between a connection's engine and what surrounds it. */
import type { ProtocolVersion, QoS } from '../codec/index.js';
import type { ResolvedBrokerOptions } from './config.js';
import type { BrokerHooks, ClientInfo, TlsInfo } from './hooks.js';
import type { Logger } from './logger.js';
import type { Session } from './session.js';
import type { Clock, Message, SubscriptionOptions } from './types.js';

/** What the engine may ask of its transport: bytes out, flow control, close. No socket inside. */
export interface TransportPort {
  readonly remoteAddress: string;
  readonly kind: ClientInfo['transport'];
  /** The listener that accepted it is bound to a loopback address (anonymous policy `loopback`). */
  readonly loopbackListener: boolean;
  readonly tls: TlsInfo | undefined;
  write(chunks: Buffer[]): void;
  /** Bytes written and not yet flushed to the socket. */
  bufferedBytes(): number;
  pause(): void;
  resume(): void;
  /** Flushes what was written, then closes. */
  close(): void;
}

export const enum PublishOutcome { Delivered, NoSubscribers, QuotaExceeded }

export interface Will {
  message: Message;
  /** Seconds [3.1.3.2.2]. */
  delay: number;
}

export type CounterName = 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'droppedTooLarge' | 'slowConsumers' | 'throttleTimeouts';

/** What a connection may ask of the broker core. */
export interface BrokerPort {
  readonly options: ResolvedBrokerOptions;
  readonly hooks: BrokerHooks;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Finds or creates the session; takes it over from a live connection [MQTT-3.1.4-3]. A session with
   * `expiryInterval` > 0 is persistent: it and its will are kept in the store.
   */
  openSession(conn: SessionOwner, clientId: string, clean: boolean, expiryInterval: number, will: Will | undefined): { session: Session; present: boolean };
  /** A reading of the store's write count, taken before handling a packet. */
  writeMark(): number;
  /** When something was written since `mark`: resolves once it is durable. Undefined otherwise. */
  pendingWrites(since: number): Promise<void> | undefined;
  /**
   * Routes a message to its subscribers; QuotaExceeded when a subscriber has no room (nothing routed).
   * A `publisher` is paused while a session it fed is congested.
   */
  publish(message: Message, publisher?: Publisher): PublishOutcome;
  /** Stores, replaces or (empty payload) deletes the retained message [MQTT-3.3.1-5..7]. */
  retain(message: Message): void;
  /** Returns true when the session already had this subscription. */
  subscribe(session: Session, filter: string, options: SubscriptionOptions): boolean;
  unsubscribe(session: Session, filter: string): boolean;
  sendRetained(session: Session, filter: string, options: SubscriptionOptions): void;
  /** The connection ended; `will` is published now or after its delay unless the session resumes. */
  connectionClosed(conn: SessionOwner, session: Session | undefined, will: Will | undefined): void;
  count(event: CounterName, n?: number): void;
  emitConnected(client: ClientInfo): void;
}

/** A connection that can be held back while subscribers catch up. */
export interface Publisher {
  throttle(session: Session): void;
}

/** A connection as the broker sees it: enough to take over or kick it. */
export interface SessionOwner {
  readonly clientId: string;
  readonly version: ProtocolVersion;
  /** Server-initiated close with a v5 DISCONNECT reason code (0x8E takeover, 0x8B shutdown, 0x98 kick). */
  disconnect(reasonCode: number, reason?: string): void;
  info(): ClientInfo;
}


export type { QoS };

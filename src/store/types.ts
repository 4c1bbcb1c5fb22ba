/** What the broker keeps and the store interfaces it keeps it through. */
import type { PublishFanout, PublishProperties, QoS, RetainHandling } from '../codec/index.js';

/** An application message inside the broker. Immutable once routed: many sessions share it. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** The message's own properties; never a topic alias or subscription identifiers (per hop). */
  properties?: PublishProperties;
  /** Clock time (ms) when the Message Expiry Interval runs out [MQTT-3.3.2-5]. */
  expiresAt?: number;
  /** Client id of the publisher, for No Local [MQTT-3.8.3-3]. */
  publisherId?: string;
  /** Set by the first delivery and shared by every later one: encode once. */
  fanout?: PublishFanout;
  /** Set when stored for delivery to persistent sessions: its id, and how many stored entries refer to it. */
  storeId?: number;
  storeRefs?: number;
}

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  subscriptionIdentifier?: number;
}

/** A session that may outlive its connection (Session Expiry Interval > 0), as stored. */
export interface StoredSession {
  clientId: string;
  /** Seconds; 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /** Clock time (ms) it expires unless its client returns; absent while connected (or never). */
  expiresAt?: number;
  /** Filled by `loadSessions`; ignored by `putSession` (subscriptions are written one by one). */
  subscriptions: Array<[filter: string, options: SubscriptionOptions]>;
}

/** Where a message to a session stands: queued, sent awaiting PUBACK/PUBREC, or awaiting PUBCOMP. */
export const enum EntryState { Queued = 0, AwaitAck = 1, AwaitPubcomp = 2 }

/** One message in one session's queue or in-flight window; `seq` orders a session's entries. */
export interface StoredEntry {
  seq: number;
  messageId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIdentifiers: number[];
  /** 0 while queued. */
  packetId: number;
  state: EntryState;
  /** `$share/group/filter` when it came through a shared subscription (it may move to another member). */
  share?: string;
}

export interface StoredWill {
  message: Message;
  /** Will Delay Interval, seconds. */
  delay: number;
  /** Clock time (ms) it is due; absent while its connection is live (a crash closes it: due on restart). */
  publishAt?: number;
}

/*
 * Every write resolves once it is durable. Implementations may group the writes of one tick into one
 * commit and hand every caller of that tick the same promise (group commit). Writes take effect in call
 * order; a failed commit rejects the promise of every write in it.
 */

/** Sessions with their subscriptions and expiry. Deleting a session deletes its entries and QoS 2 state too. */
export interface SessionStore {
  putSession(session: StoredSession): Promise<void>;
  deleteSession(clientId: string): Promise<void>;
  putSubscription(clientId: string, filter: string, options: SubscriptionOptions): Promise<void>;
  deleteSubscription(clientId: string, filter: string): Promise<void>;
  loadSessions(): Promise<StoredSession[]>;
}

/** Queued and in-flight messages per session. A message is stored once, however many entries refer to it. */
export interface QueueStore {
  putMessage(id: number, message: Message): Promise<void>;
  deleteMessage(id: number): Promise<void>;
  /**
   * Inserts or replaces the entry with this `seq`. `first` marks a new entry: a store may then drop
   * it together with a `deleteEntry` that follows before it is committed.
   */
  putEntry(clientId: string, entry: StoredEntry, first?: boolean): Promise<void>;
  deleteEntry(clientId: string, seq: number): Promise<void>;
  /** Every message, and every session's entries in `seq` order. */
  loadQueues(): Promise<{ messages: Map<number, Message>; entries: Map<string, StoredEntry[]> }>;
}

/** QoS 2 packet ids received and PUBREC'd, awaiting PUBREL [MQTT-4.3.3-9]. */
export interface Qos2Store {
  putIncoming(clientId: string, packetId: number): Promise<void>;
  deleteIncoming(clientId: string, packetId: number): Promise<void>;
  loadIncoming(): Promise<Map<string, number[]>>;
}

/** Retained messages, one per topic [MQTT-3.3.1-5]. */
export interface RetainedStore {
  putRetained(message: Message): Promise<void>;
  deleteRetained(topic: string): Promise<void>;
  loadRetained(): Promise<Message[]>;
}

/** Will messages of live connections and pending (delayed) wills, one per client id. */
export interface WillStore {
  putWill(clientId: string, will: StoredWill): Promise<void>;
  deleteWill(clientId: string): Promise<void>;
  loadWills(): Promise<Map<string, StoredWill>>;
}

/** A store: the five concerns plus commit tracking. */
export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** False when nothing survives the process: the broker then acknowledges without waiting. */
  readonly durable: boolean;
  readonly sessions: SessionStore;
  readonly queues: QueueStore;
  readonly qos2: Qos2Store;
  readonly retained: RetainedStore;
  readonly wills: WillStore;
  /** Resolves when every write made so far is durable; undefined when nothing is pending. */
  barrier(): Promise<void> | undefined;
  /** How many writes were made so far: a caller compares two readings to learn whether it wrote. */
  readonly writes: number;
  /**
   * Called for every commit that failed. After one, the store no longer holds what the broker's
   * memory holds: the broker stops rather than acknowledge on top of it.
   */
  onFailure(listener: (err: unknown) => void): void;
  /** Commits what is pending and releases the store. */
  close(): Promise<void>;
}

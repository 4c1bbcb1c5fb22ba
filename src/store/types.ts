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
}

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  subscriptionIdentifier?: number;
}

/** Retained messages, one per topic [MQTT-3.3.1-5]. */
export interface RetainedStore {
  readonly size: number;
  /** Stores or replaces the retained message of `message.topic`. The payload must be the message's own (copied). */
  set(message: Message): void;
  /** Returns true when there was one. */
  delete(topic: string): boolean;
  /** Retained messages whose topic matches `filter` (not shared), expired ones left out and removed. */
  match(filter: string, now: number): Message[];
}

/**
 * Publishes waiting to go out: while offline, or while the broker's Receive Maximum leaves no send
 * quota [MQTT-4.9.0-2]. Bounded by count and bytes so a long outage cannot exhaust memory; what does
 * not fit is refused (or evicts the oldest, QoS 0 first) with MOAT_ERR_QUEUE_FULL — never dropped
 * silently.
 */
import type { MoatError, PublishProperties, QoS } from '../codec/index.js';
import { ClientErr, clientError } from './errors.js';
import type { OfflineQueueOptions, OverflowPolicy, PublishResult } from './types.js';

export interface PendingPublish {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: PublishProperties;
  resolve(result: PublishResult): void;
  reject(err: MoatError): void;
}

/** What a message costs in the queue and in flight: payload + topic bytes. */
export const sizeOf = (p: { payload: Buffer; topic: string }): number => p.payload.length + Buffer.byteLength(p.topic);

export class OfflineQueue {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly overflow: OverflowPolicy;
  private items: PendingPublish[] = [];
  private bytesHeld = 0;

  constructor(o: OfflineQueueOptions = {}) {
    this.maxMessages = o.maxMessages ?? 1000;
    this.maxBytes = o.maxBytes ?? 16 * 1024 * 1024;
    // A publish that cannot go out at once (offline, window full, link over its mark) waits here: it
    // must hold at least one.
    if (!Number.isInteger(this.maxMessages) || this.maxMessages < 1) {
      throw clientError(ClientErr.config, `queue.maxMessages must be an integer ≥ 1, not ${String(o.maxMessages)}`);
    }
    if (!(this.maxBytes >= 1)) {
      throw clientError(ClientErr.config, `queue.maxBytes must be ≥ 1, not ${String(o.maxBytes)}`);
    }
    this.overflow = o.overflow ?? 'reject';
  }

  get length(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** Adds at the tail; false (and `p` rejected) when it cannot fit. */
  push(p: PendingPublish): boolean {
    const size = sizeOf(p);
    if (size > this.maxBytes) return this.refuse(p, 'message is larger than the whole queue');
    while (this.items.length >= this.maxMessages || this.bytesHeld + size > this.maxBytes) {
      if (this.overflow === 'reject' || this.items.length === 0) return this.refuse(p, 'offline queue is full');
      this.evictOldest();
    }
    this.items.push(p);
    this.bytesHeld += size;
    return true;
  }

  /** Puts messages back at the head (re-publish after the broker lost the session), over the limits. */
  unshift(list: PendingPublish[]): void {
    for (const p of list) this.bytesHeld += sizeOf(p);
    this.items.unshift(...list);
  }

  peek(): PendingPublish | undefined {
    return this.items[0];
  }

  shift(): PendingPublish | undefined {
    const p = this.items.shift();
    if (p) this.bytesHeld -= sizeOf(p);
    return p;
  }

  /** Empties the queue, rejecting every waiting publish with `err`. */
  rejectAll(err: MoatError): void {
    const items = this.items;
    this.items = [];
    this.bytesHeld = 0;
    for (const p of items) p.reject(err);
  }

  private refuse(p: PendingPublish, why: string): false {
    p.reject(clientError(ClientErr.queueFull,
      `${why} (${this.items.length}/${this.maxMessages} messages, ${this.bytesHeld}/${this.maxBytes} bytes); publish to ${p.topic} refused`));
    return false;
  }

  private evictOldest(): void {
    let i = this.items.findIndex((x) => x.qos === 0);
    if (i < 0) i = 0;
    const [old] = this.items.splice(i, 1);
    if (!old) return;
    this.bytesHeld -= sizeOf(old);
    old.reject(clientError(ClientErr.queueFull, `offline queue is full: oldest waiting publish to ${old.topic} dropped`));
  }
}

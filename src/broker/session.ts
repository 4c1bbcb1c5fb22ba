/**
 * A session's outbound side (spec 4.3, 4.4, 4.9): the in-flight window of QoS 1/2 messages with their
 * per-packet-id states, the queue behind it, and resending on resumption. It outlives connections; while
 * its client is online it writes through a `SessionLink`.
 */
import type { ProtocolVersion, QoS } from '../codec/index.js';
import type { SharedGroup } from './topic-tree.js';
import type { Message, SubscriptionOptions } from './types.js';
import type { Journal } from './journal.js';
import { OutQueue } from './out-queue.js';

/** A publisher held back while a session it feeds is congested (its socket is paused). */
export interface Throttled {
  unthrottle(): void;
}

/** The live connection as the session sees it. */
export interface SessionLink {
  readonly version: ProtocolVersion;
  /** Client's Receive Maximum (v5) bounded by the broker's in-flight limit. */
  readonly sendWindow: number;
  /** False while the socket holds more than the write-buffer limit. */
  writable(): boolean;
  /** Returns false when the packet was discarded (larger than the client's Maximum Packet Size); counts it. */
  sendPublish(message: Message, out: Outgoing, dup: boolean): boolean;
  sendPubrel(packetId: number): void;
}

/** Outbound state per packet identifier: awaiting PUBACK/PUBREC, then (QoS 2) awaiting PUBCOMP. */
export const enum OutState { AwaitAck = 1, AwaitPubcomp = 2 }

export interface Outgoing {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIdentifiers: number[];
  packetId: number;
  state: OutState;
  /** Its stored entry's sequence number; 0 when not stored (QoS 0, or the session is not persistent). */
  seq: number;
  /** A stored QoS 2 PUBLISH waits for its packet id to be durable before it is sent. */
  unsent?: boolean;
  /** Its PUBREL waits for the "awaiting PUBCOMP" state to be durable before it is sent. */
  releasing?: boolean;
  /** Set when it reached this session through a shared subscription: it may move to another member. */
  group?: SharedGroup;
}

export interface SessionLimits {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

/** Payload bytes held in all session queues, against the broker's memory cap. */
export interface MemoryGauge {
  used: number;
  readonly max: number;
}

export interface SessionCounters {
  droppedQos0: number;
  droppedExpired: number;
}

export class Session {
  readonly subscriptions = new Map<string, SubscriptionOptions>();
  /** QoS 2 packet ids received and PUBREC'd, awaiting PUBREL: duplicates are not re-routed [4.3.3]. */
  readonly incomingQos2 = new Set<number>();
  readonly inflight = new Map<number, Outgoing>();
  private readonly queue = new OutQueue();
  private lastPacketId = 0;
  /** Stored QoS 2 messages waiting for their packet id to be durable: later ones wait behind them (order). */
  private unsent = 0;
  /** Publishers paused until this session's queue drains (push back instead of dropping). */
  private waiters: Set<Throttled> | undefined;
  link: SessionLink | undefined;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  expiryInterval = 0;
  expiryTimer: unknown;
  /** Set while the session is persistent (it may outlive its connection): its changes are stored. */
  journal: Journal | undefined;

  constructor(
    readonly clientId: string,
    private readonly limits: SessionLimits,
    private readonly counters: SessionCounters,
    private readonly now: () => number,
    private readonly memory: MemoryGauge,
  ) {}

  private full(bytes: number): boolean {
    return this.queue.size >= this.limits.maxQueuedMessages || this.queue.bytes + bytes > this.limits.maxQueuedBytes
      || this.memory.used + bytes > this.memory.max;
  }

  get queued(): number {
    return this.queue.size;
  }

  get bytesQueued(): number {
    return this.queue.bytes;
  }

  /**
   * An online session whose queue is past half its limits: publishers feeding it should pause. Offline
   * sessions never count: pausing would not make them drain, and the limits refuse for them.
   */
  get congested(): boolean {
    return this.link !== undefined && (this.queue.size * 2 > this.limits.maxQueuedMessages
      || this.queue.bytes * 2 > this.limits.maxQueuedBytes);
  }

  /** Registers a publisher to resume once the queue drains to a quarter; false if already waiting. */
  addWaiter(w: Throttled): boolean {
    this.waiters ??= new Set();
    if (this.waiters.has(w)) return false;
    this.waiters.add(w);
    return true;
  }

  /** Lets every waiting publisher go (queue drained, or the client left: pausing no longer helps). */
  releaseWaiters(): void {
    const waiters = this.waiters;
    if (!waiters) return;
    this.waiters = undefined;
    for (const w of waiters) w.unthrottle();
  }

  /** Whether a message of effective QoS `qos` and `bytes` payload fits, counting QoS 0 it may evict. */
  hasRoom(qos: QoS, bytes: number): boolean {
    if (qos === 0) return true; // QoS 0 never blocks a publisher: it is dropped first.
    if (this.link && this.queued === 0 && this.unsent === 0 && this.inflight.size < this.link.sendWindow) return true;
    return !this.full(bytes) || this.queue.hasQos0;
  }

  /** Hands a message to the session; the caller checked `hasRoom` for QoS 1/2. */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIdentifiers: number[], group?: SharedGroup): void {
    const out: Outgoing = { message, qos, retain, subscriptionIdentifiers, packetId: 0, state: OutState.AwaitAck, seq: 0 };
    if (group) out.group = group;
    const link = this.link;
    if (qos === 0) {
      if (!link) return; // QoS 0 is not queued for offline clients (spec 4.1 allows; Mosquitto's default).
      if (this.queued === 0 && link.writable()) {
        link.sendPublish(message, out, false); // an over-size discard is counted by the link
        return;
      }
    } else if (link && this.queued === 0 && this.unsent === 0 && this.inflight.size < link.sendWindow && link.writable()) {
      this.send(out);
      return;
    }
    this.enqueue(out);
  }

  private enqueue(out: Outgoing): void {
    const bytes = out.message.payload.length;
    while (this.full(bytes)) {
      // QoS 0 goes first: the oldest queued one makes room.
      const evicted = this.queue.evictOldestQos0();
      if (evicted) {
        this.memory.used -= evicted.message.payload.length;
        this.counters.droppedQos0++;
      } else if (out.qos === 0) {
        this.counters.droppedQos0++;
        return;
      } else {
        break; // QoS 1/2 was admitted by hasRoom: it may exceed the soft limit rather than be lost.
      }
    }
    this.queue.push(out);
    this.memory.used += bytes;
    if (out.qos > 0) this.journal?.added(this.clientId, out);
  }

  private shift(): Outgoing | undefined {
    const o = this.queue.shift();
    if (o) this.memory.used -= o.message.payload.length;
    return o;
  }

  private send(out: Outgoing): void {
    if (out.qos === 0) {
      this.link!.sendPublish(out.message, out, false);
      return;
    }
    out.packetId = this.nextPacketId();
    out.state = OutState.AwaitAck;
    this.inflight.set(out.packetId, out);
    const journal = this.journal;
    if (journal) {
      if (out.seq === 0) journal.added(this.clientId, out);
      else journal.updated(this.clientId, out);
      if (out.qos === 2 && journal.durable) {
        // Exactly once across a crash: the packet id must be on disk before the client can hold it,
        // or a restart would resend the message under another id as a new message.
        out.unsent = true;
        this.unsent++;
        // A failed commit stops the broker (the store no longer matches): the message is not sent.
        journal.afterCommit(() => this.sendStored(out), () => undefined);
        return;
      }
    }
    if (!this.link!.sendPublish(out.message, out, false)) this.discard(out);
  }

  private sendStored(out: Outgoing): void {
    if (!out.unsent) return;
    out.unsent = false;
    this.unsent--;
    if (this.inflight.get(out.packetId) !== out || !this.link) return; // resume() sends it then
    if (!this.link.sendPublish(out.message, out, false)) this.discard(out);
    this.drain();
  }

  /** [MQTT-3.1.2-25] too large for the client: discarded, as if delivery completed. */
  private discard(out: Outgoing): void {
    this.inflight.delete(out.packetId);
    if (out.seq !== 0) this.journal?.removed(this.clientId, out);
  }

  private nextPacketId(): number {
    for (;;) {
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
      if (!this.inflight.has(this.lastPacketId)) return this.lastPacketId;
    }
  }

  /** Sends queued messages while the window and the socket allow, in order [MQTT-4.6.0-5]. */
  drain(): void {
    const link = this.link;
    if (!link) return;
    while (this.queue.size > 0 && this.unsent === 0 && link.writable()) {
      const next = this.queue.peek()!;
      if (next.qos > 0 && this.inflight.size >= link.sendWindow) break;
      this.shift();
      if (this.expired(next.message)) {
        if (next.seq !== 0) this.journal?.removed(this.clientId, next);
        continue;
      }
      this.send(next);
    }
    if (this.waiters && this.queue.size * 4 <= this.limits.maxQueuedMessages && this.queue.bytes * 4 <= this.limits.maxQueuedBytes) {
      this.releaseWaiters();
    }
  }

  private expired(m: Message): boolean {
    if (m.expiresAt !== undefined && m.expiresAt <= this.now()) {
      this.counters.droppedExpired++;
      return true;
    }
    return false;
  }

  /** PUBACK, or PUBREC with a failure code: the flow for that id is complete. */
  complete(packetId: number): boolean {
    const out = this.inflight.get(packetId);
    if (!out || out.unsent) return false;
    this.inflight.delete(packetId);
    if (out.seq !== 0) this.journal?.removed(this.clientId, out);
    this.drain();
    return true;
  }

  /** PUBREC with success: release the message, await PUBCOMP [MQTT-4.3.3-5]. */
  received(packetId: number): boolean {
    const out = this.inflight.get(packetId);
    if (!out || out.qos !== 2 || out.unsent) return false;
    if (out.state === OutState.AwaitPubcomp) {
      if (!out.releasing) this.link?.sendPubrel(packetId); // else it goes once the state is durable
      return true;
    }
    out.state = OutState.AwaitPubcomp;
    const journal = this.journal;
    if (!journal) {
      this.link?.sendPubrel(packetId);
      return true;
    }
    // Once PUBREL is out the message may never be resent [MQTT-4.3.3-5]: store the state first.
    journal.updated(this.clientId, out);
    out.releasing = true;
    journal.afterCommit(() => {
      out.releasing = false;
      if (this.inflight.get(packetId) === out) this.link?.sendPubrel(packetId);
    }, () => undefined);
    return true;
  }

  /**
   * A (re)connected client: resend unacknowledged PUBLISH with DUP and PUBREL in their original order
   * [MQTT-4.4.0-1], then the queue.
   */
  resume(): void {
    const link = this.link;
    if (!link) return;
    for (const out of this.inflight.values()) {
      if (out.unsent || out.releasing) continue; // goes out once its state is stored
      if (out.state === OutState.AwaitPubcomp) link.sendPubrel(out.packetId);
      else if (!link.sendPublish(out.message, out, true)) this.discard(out);
    }
    this.drain();
  }

  /**
   * Offers what reached this session through shared subscriptions and is not yet acknowledged to
   * another member: `move` returns true when one took it. What nobody can take stays here, to be resent
   * on resumption [MQTT-4.4.0-1]. A QoS 2 message already sent stays with this member, to be completed
   * when it reconnects [MQTT-4.8.2-4], and goes to nobody else even if its session ends [MQTT-4.8.2-5].
   */
  moveShared(move: (out: Outgoing) => boolean): void {
    for (const [id, out] of this.inflight) {
      if (out.group && out.qos === 1 && move(out)) {
        this.inflight.delete(id);
        if (out.seq !== 0) this.journal?.removed(this.clientId, out);
      }
    }
    this.queue.removeWhere((o) => {
      if (!o.group || !move(o)) return false;
      this.memory.used -= o.message.payload.length;
      if (o.seq !== 0) this.journal?.removed(this.clientId, o);
      return true;
    });
  }

  /** An entry read back from the store, in stored order: one in flight keeps its packet id and state. */
  restore(out: Outgoing): void {
    if (out.packetId === 0) {
      this.queue.push(out);
      this.memory.used += out.message.payload.length;
    } else {
      this.inflight.set(out.packetId, out);
      this.lastPacketId = out.packetId;
    }
  }

  /** Drops every queued and in-flight message (clean start, session end). */
  clear(): void {
    this.releaseWaiters();
    const journal = this.journal;
    if (journal) {
      for (const out of this.inflight.values()) if (out.seq !== 0) journal.forgotten(out);
      this.queue.removeWhere((o) => {
        if (o.seq !== 0) journal.forgotten(o);
        return false;
      });
    }
    this.inflight.clear();
    this.memory.used -= this.queue.bytes;
    this.queue.clear();
    this.incomingQos2.clear();
    this.subscriptions.clear();
  }
}

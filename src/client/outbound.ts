/**
 * The outgoing message flows: QoS 0 fire-and-forget, QoS 1 (PUBLISH → PUBACK) and QoS 2 (PUBLISH →
 * PUBREC → PUBREL → PUBCOMP), with the broker's limits applied at send time: Receive Maximum as the
 * send quota [MQTT-3.3.4-7] [MQTT-4.9.0-2], Maximum Packet Size [MQTT-3.2.2-15], Maximum QoS
 * [MQTT-3.2.2-11], Retain Available [MQTT-3.2.2-14] and topic aliases. The state per packet identifier
 * lives in the InflightStore; the promises to settle live here.
 */
import {
  encodePacket, type MoatError, type AckPacket, type ProtocolVersion, type PublishPacket,
} from '../codec/index.js';
import { ClientErr, clientError, hex } from './errors.js';
import { OutState, type InflightStore, type OutgoingRecord } from './inflight-store.js';
import { sizeOf, type OfflineQueue, type PendingPublish } from './offline-queue.js';
import type { PacketIds } from './packet-ids.js';
import type { OutgoingAliases } from './topic-aliases.js';
import type { PublishResult } from './types.js';

/** What the broker allows us, from CONNACK (defaults when absent). */
export interface ServerLimits {
  receiveMaximum: number;
  maximumPacketSize: number;
  maximumQoS: 0 | 1 | 2;
  retainAvailable: boolean;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  receiveMaximum: 65_535, maximumPacketSize: Number.POSITIVE_INFINITY, maximumQoS: 2, retainAvailable: true,
};

/** The narrow port the outbound flow writes through. */
export interface OutboundLink {
  readonly version: ProtocolVersion;
  readonly limits: ServerLimits;
  /** True while a CONNACK-accepted connection is up. */
  readonly online: boolean;
  /** False while the link's unflushed bytes are at its high-water mark (back-pressure). */
  readonly writable: boolean;
  write(bytes: Buffer): void;
}

/** Default bound on the payload + topic bytes of unacknowledged QoS 1/2 messages. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 8 * 1024 * 1024;

interface Settle { resolve(r: PublishResult): void; reject(e: MoatError): void }

export class Outbound {
  private readonly settle = new Map<number, Settle>();
  /** Records in the store, counted here: `store.outgoing()` copies, and the window is checked per send. */
  private inflightCount: number;
  /** Their payload + topic bytes. */
  private bytesInflight: number;
  /**
   * Records of a resumed session not resent yet on this connection: the new CONNACK's Receive Maximum
   * may be smaller than the number kept, so they go out as acknowledgements make room [MQTT-4.9.0-2].
   */
  private held: number[] = [];
  /**
   * QoS 2 records whose PUBREL went out again on a resumed session. The broker may have released the
   * message and lost only our PUBCOMP (it died or the link dropped in between): its PUBCOMP 0x92 is
   * then "not an error during recovery" (MQTT 5.0 §3.7.2.1) and the publish is complete.
   */
  private readonly recovering = new Set<number>();

  constructor(
    private readonly link: OutboundLink,
    readonly queue: OfflineQueue,
    readonly store: InflightStore,
    private readonly ids: PacketIds,
    private readonly aliases: OutgoingAliases,
    readonly maxInflightBytes = DEFAULT_MAX_INFLIGHT_BYTES,
  ) {
    if (!(maxInflightBytes >= 1)) throw clientError(ClientErr.config, `maxInflightBytes must be ≥ 1, not ${String(maxInflightBytes)}`);
    // Records from a durable store survive a restart: their identifiers stay taken.
    const restored = store.outgoing();
    for (const r of restored) ids.claim(r.packetId);
    this.inflightCount = restored.length;
    this.bytesInflight = restored.reduce((n, r) => n + sizeOf(r), 0);
  }

  /** QoS 1/2 messages sent and not yet completed. */
  get inflight(): number {
    return this.inflightCount;
  }

  /** Payload + topic bytes of the QoS 1/2 messages sent and not yet completed. */
  get inflightBytes(): number {
    return this.bytesInflight;
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.inflight === 0;
  }

  publish(p: PendingPublish): void {
    // The common case, nothing waiting and room to send: straight out, without a trip through the
    // queue. The same checks as pump(); a message larger than the whole queue still goes to push()
    // so that it is refused the same way online and offline.
    const size = sizeOf(p);
    if (this.queue.length === 0 && this.held.length === 0 && size <= this.queue.maxBytes
      && this.link.online && this.link.writable && (p.qos === 0 || (this.inflight < this.link.limits.receiveMaximum
        && (this.inflight === 0 || this.bytesInflight + size <= this.maxInflightBytes)))) {
      this.send(p, size);
      return;
    }
    if (this.queue.push(p)) this.pump();
  }

  /**
   * Sends what the send quota allows, in order: first the resumed session's records still held, then
   * the queue. Everything waits while the link is over its high-water mark; QoS 1/2 also for the
   * Receive Maximum and `maxInflightBytes` (one message larger than the bound goes alone). QoS 0
   * behind a blocked QoS 1/2 waits too (ordering).
   */
  pump(): void {
    while (this.link.online && this.link.writable && this.held.length > 0
      && this.inflight - this.held.length < this.link.limits.receiveMaximum) {
      const rec = this.store.getOutgoing(this.held.shift()!);
      if (rec) this.resend(rec);
    }
    if (this.held.length > 0) return;
    while (this.link.online && this.link.writable) {
      const head = this.queue.peek();
      if (!head) return;
      if (head.qos > 0) {
        if (this.inflight >= this.link.limits.receiveMaximum) return; // [MQTT-4.9.0-2]
        if (this.inflight > 0 && this.bytesInflight + sizeOf(head) > this.maxInflightBytes) return;
      }
      this.queue.shift();
      // No packet identifier free: wait for an ack (or a SUBACK/UNSUBACK) to release one.
      if (!this.send(head)) return;
    }
  }

  /** False when the message went back to the head of the queue (no packet identifier free). */
  private send(p: PendingPublish, size = sizeOf(p)): boolean {
    const { limits, version } = this.link;
    if (p.qos > limits.maximumQoS) {
      p.reject(clientError(ClientErr.qosNotSupported, `the broker's Maximum QoS is ${limits.maximumQoS}; QoS ${p.qos} publish to ${p.topic} refused [MQTT-3.2.2-11]`, 0x9b));
      return true;
    }
    if (p.retain && !limits.retainAvailable) {
      p.reject(clientError(ClientErr.retainNotSupported, `the broker does not support retained messages [MQTT-3.2.2-14]`, 0x9a));
      return true;
    }
    let packetId: number | undefined;
    if (p.qos > 0) {
      packetId = this.ids.allocate();
      if (packetId === undefined) {
        // 65,535 in flight: cannot happen below a Receive Maximum of 65,535; wait rather than fail.
        this.queue.unshift([p]);
        return false;
      }
    }
    // Built without spreads of optional parts: this runs once per publish.
    const packet: PublishPacket = { type: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: false };
    if (packetId !== undefined) packet.packetId = packetId;
    const alias = version === 5 ? this.aliases.lookup(p.topic) : undefined;
    if (alias) {
      packet.properties = p.properties ? { ...p.properties, topicAlias: alias.alias } : { topicAlias: alias.alias };
      if (alias.known) packet.topic = '';
    } else if (p.properties) {
      packet.properties = p.properties;
    }
    let bytes: Buffer;
    try {
      bytes = encodePacket(packet, version);
    } catch (err) {
      if (packetId !== undefined) this.ids.release(packetId);
      p.reject(err as MoatError);
      return true;
    }
    if (bytes.length > limits.maximumPacketSize) {
      if (packetId !== undefined) this.ids.release(packetId);
      p.reject(clientError(ClientErr.packetTooLarge,
        `PUBLISH to ${p.topic} is ${bytes.length} bytes, over the broker's Maximum Packet Size of ${limits.maximumPacketSize} [MQTT-3.2.2-15]`, 0x95));
      return true;
    }
    if (alias && !alias.known) this.aliases.commit(p.topic, alias.alias);
    if (packetId !== undefined) {
      const record: OutgoingRecord = {
        packetId, state: p.qos === 1 ? OutState.AwaitPuback : OutState.AwaitPubrec,
        topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain,
      };
      if (p.properties) record.properties = p.properties;
      this.store.putOutgoing(record);
      this.inflightCount++;
      this.bytesInflight += size;
      this.settle.set(packetId, { resolve: p.resolve, reject: p.reject });
    }
    this.link.write(bytes);
    if (packetId === undefined) p.resolve({ reasonCode: 0 });
    return true;
  }

  /** PUBACK, PUBREC or PUBCOMP from the broker: advance the flow, settle the publish when it ends. */
  ack(packet: AckPacket): void {
    const rec = this.store.getOutgoing(packet.packetId);
    if (!rec) return; // unknown identifier: a late duplicate ack; nothing to settle
    const code = packet.reasonCode ?? 0;
    if (packet.type === 'puback' && rec.state === OutState.AwaitPuback) {
      this.finish(rec, code);
    } else if (packet.type === 'pubrec' && rec.state === OutState.AwaitPubrec) {
      // [MQTT-4.4.0-2] a PUBREC ≥ 0x80 ends the flow: no PUBREL.
      if (code >= 0x80) return this.finish(rec, code);
      this.store.putOutgoing({ ...rec, state: OutState.AwaitPubcomp });
      this.sendPubrel(rec.packetId); // [MQTT-4.3.3-4] same packet identifier
    } else if (packet.type === 'pubrec' && rec.state === OutState.AwaitPubcomp) {
      this.sendPubrel(rec.packetId); // our PUBREL crossed a resent PUBREC: answer again
    } else if (packet.type === 'pubcomp' && rec.state === OutState.AwaitPubcomp) {
      this.finish(rec, code, code === 0x92 && this.recovering.has(rec.packetId));
    }
  }

  /**
   * `recovered`: a PUBCOMP 0x92 that completes the flow (see `recovering`). It resolves with 0 — the
   * broker's PUBREC had accepted the message — so callers reading `reasonCode >= 0x80` as a refusal
   * are not misled.
   */
  private finish(rec: OutgoingRecord, code: number, recovered = false): void {
    this.forget(rec);
    this.ids.release(rec.packetId);
    const s = this.settle.get(rec.packetId);
    this.settle.delete(rec.packetId);
    if (code >= 0x80 && !recovered) {
      s?.reject(clientError(ClientErr.publishRefused, `publish to ${rec.topic} refused by the broker: reason ${hex(code)}`, code));
    } else {
      s?.resolve({ reasonCode: recovered ? 0 : code, packetId: rec.packetId });
    }
    this.pump();
  }

  /** The record leaves the store and the counts; its packet identifier is free again. */
  private forget(rec: OutgoingRecord): void {
    this.store.deleteOutgoing(rec.packetId);
    this.recovering.delete(rec.packetId);
    this.inflightCount--;
    this.bytesInflight -= sizeOf(rec);
    const h = this.held.indexOf(rec.packetId);
    if (h >= 0) this.held.splice(h, 1);
  }

  /** A record of the resumed session on the new connection: PUBREL, or PUBLISH with DUP set. */
  private resend(rec: OutgoingRecord): void {
    if (rec.state === OutState.AwaitPubcomp) {
      this.recovering.add(rec.packetId);
      return this.sendPubrel(rec.packetId);
    }
    const packet: PublishPacket = {
      type: 'publish', topic: rec.topic, payload: rec.payload, qos: rec.qos, retain: rec.retain, dup: true,
      packetId: rec.packetId, ...(rec.properties ? { properties: rec.properties } : {}),
    };
    this.link.write(encodePacket(packet, this.link.version));
  }

  private sendPubrel(packetId: number): void {
    this.link.write(encodePacket({ type: 'pubrel', packetId, reasonCode: 0 }, this.link.version));
  }

  /**
   * A new connection is up. With the session present, resend what is unacknowledged in the original
   * order, PUBLISH with DUP set or PUBREL [MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-3.3.1-1]. Without it,
   * the broker has no record [MQTT-3.2.2-4]: a message it PUBREC'd was delivered (complete it); the
   * others go back to the head of the queue as new messages, so no QoS 1/2 message is lost.
   */
  resume(sessionPresent: boolean): void {
    const records = this.store.outgoing();
    this.held = [];
    if (sessionPresent) {
      // Resent through pump(): at most the new Receive Maximum on the wire; the rest as acks arrive.
      this.held = records.map((r) => r.packetId);
    } else {
      const again: PendingPublish[] = [];
      for (const rec of records) {
        this.forget(rec);
        this.ids.release(rec.packetId);
        const s = this.settle.get(rec.packetId);
        this.settle.delete(rec.packetId);
        if (rec.state === OutState.AwaitPubcomp) {
          s?.resolve({ reasonCode: 0, packetId: rec.packetId });
          continue;
        }
        again.push({
          topic: rec.topic, payload: rec.payload, qos: rec.qos, retain: rec.retain,
          ...(rec.properties ? { properties: rec.properties } : {}),
          resolve: s?.resolve ?? (() => {}), reject: s?.reject ?? (() => {}),
        });
      }
      this.queue.unshift(again);
    }
    this.pump();
  }

  /** The client is closing for good: every waiting publish rejects with `err`. */
  rejectAll(err: MoatError): void {
    this.held = [];
    this.recovering.clear();
    this.queue.rejectAll(err);
    for (const [id, s] of this.settle) {
      s.reject(err);
      this.ids.release(id);
    }
    this.settle.clear();
  }
}

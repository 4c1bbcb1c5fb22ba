/**
 * Where QoS 1/2 in-flight state lives, behind a small interface so that a durable store (file-store.ts,
 * sqlite-store.ts) can replace memory and a restarted process neither loses nor duplicates. Synchronous
 * on purpose: a change must be durable before the packet it records is written.
 *
 * Outgoing: one record per packet identifier, in send order; its state says which ack we wait for.
 * Incoming: QoS 2 packet identifiers received and not yet released (PUBREL), so a redelivered
 * PUBLISH with the same identifier is not handed to the application twice [MQTT-4.3.3-?] (Method B).
 */
import type { PublishProperties, QoS } from '../codec/index.js';

export const enum OutState { AwaitPuback = 1, AwaitPubrec = 2, AwaitPubcomp = 3 }

export interface OutgoingRecord {
  packetId: number;
  state: OutState;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: PublishProperties;
}

export interface InflightStore {
  /** Adds or replaces the record for `record.packetId`; iteration order stays the first-put order. */
  putOutgoing(record: OutgoingRecord): void;
  getOutgoing(packetId: number): OutgoingRecord | undefined;
  deleteOutgoing(packetId: number): void;
  outgoing(): OutgoingRecord[];
  addIncoming(packetId: number): void;
  hasIncoming(packetId: number): boolean;
  deleteIncoming(packetId: number): void;
  /** The session is gone (broker answered Session Present 0): forget everything [MQTT-3.2.2-4]. */
  clearIncoming(): void;
}

export class MemoryInflightStore implements InflightStore {
  private readonly out = new Map<number, OutgoingRecord>();
  private readonly inc = new Set<number>();

  putOutgoing(record: OutgoingRecord): void {
    this.out.set(record.packetId, record);
  }
  getOutgoing(packetId: number): OutgoingRecord | undefined {
    return this.out.get(packetId);
  }
  deleteOutgoing(packetId: number): void {
    this.out.delete(packetId);
  }
  outgoing(): OutgoingRecord[] {
    return [...this.out.values()];
  }
  addIncoming(packetId: number): void {
    this.inc.add(packetId);
  }
  hasIncoming(packetId: number): boolean {
    return this.inc.has(packetId);
  }
  deleteIncoming(packetId: number): void {
    this.inc.delete(packetId);
  }
  clearIncoming(): void {
    this.inc.clear();
  }
}

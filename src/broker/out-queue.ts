/**
 * A session's queue of messages waiting to be sent: FIFO, with the oldest QoS 0 message evictable in
 * amortized O(1) (QoS 0 is dropped first under pressure). Evicted entries become holes that `shift`
 * skips; a scan pointer remembers where the oldest live QoS 0 can be, so eviction never rescans.
 */
import type { Outgoing } from './session.js';

export class OutQueue {
  private items: Array<Outgoing | undefined> = [];
  private head = 0;
  /** No live QoS 0 entry sits before this index. */
  private qos0Scan = 0;
  private live = 0;
  private qos0 = 0;
  private byteCount = 0;

  get size(): number {
    return this.live;
  }

  get bytes(): number {
    return this.byteCount;
  }

  get hasQos0(): boolean {
    return this.qos0 > 0;
  }

  push(o: Outgoing): void {
    // Holes left by evictions are squeezed out once they outnumber live entries: memory stays O(size).
    if (this.items.length - this.head > 2 * this.live + 1024) this.removeWhere(() => false);
    this.items.push(o);
    this.live++;
    this.byteCount += o.message.payload.length;
    if (o.qos === 0) this.qos0++;
  }

  peek(): Outgoing | undefined {
    this.skipHoles();
    return this.items[this.head];
  }

  shift(): Outgoing | undefined {
    this.skipHoles();
    if (this.head >= this.items.length) return undefined;
    const o = this.items[this.head]!;
    this.items[this.head++] = undefined;
    this.forget(o);
    this.compact();
    return o;
  }

  /** Removes and returns the oldest queued QoS 0 message. */
  evictOldestQos0(): Outgoing | undefined {
    if (this.qos0 === 0) return undefined;
    for (let i = Math.max(this.qos0Scan, this.head); i < this.items.length; i++) {
      const o = this.items[i];
      if (o !== undefined && o.qos === 0) {
        this.items[i] = undefined;
        this.qos0Scan = i + 1;
        this.forget(o);
        return o;
      }
    }
    return undefined;
  }

  /** Removes every entry for which `take` returns true, keeping the order of the rest. */
  removeWhere(take: (o: Outgoing) => boolean): void {
    const kept: Outgoing[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const o = this.items[i];
      if (o === undefined) continue;
      if (take(o)) this.forget(o);
      else kept.push(o);
    }
    this.items = kept;
    this.head = 0;
    this.qos0Scan = 0;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.qos0Scan = 0;
    this.live = 0;
    this.qos0 = 0;
    this.byteCount = 0;
  }

  private forget(o: Outgoing): void {
    this.live--;
    this.byteCount -= o.message.payload.length;
    if (o.qos === 0) this.qos0--;
  }

  private skipHoles(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.qos0Scan = Math.max(0, this.qos0Scan - this.head);
      this.head = 0;
    }
  }
}

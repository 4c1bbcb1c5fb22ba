/**
 * What the broker writes to its store as persistent sessions change: messages (stored once, counted by
 * the entries that refer to them), queue and in-flight entries, QoS 2 receive state. The writes of one
 * turn commit together (group commit); `afterCommit` runs what must wait for them (acknowledgements).
 */
import { EntryState, type Message, type Store, type StoredEntry } from '../store/types.js';
import type { Outgoing } from './session.js';

export class Journal {
  private nextMessageId = 1;
  private nextSeq = 1;

  constructor(readonly store: Store) {}

  /** False for the memory store: nothing to wait for, so nothing is held back. */
  get durable(): boolean {
    return this.store.durable;
  }

  /** After a restore: ids and sequence numbers continue after the stored ones. */
  continueAfter(maxMessageId: number, maxSeq: number): void {
    this.nextMessageId = Math.max(this.nextMessageId, maxMessageId + 1);
    this.nextSeq = Math.max(this.nextSeq, maxSeq + 1);
  }

  /** Writes made so far (compare two readings to learn whether something was written in between). */
  get writes(): number {
    return this.store.writes;
  }

  /** Resolves when everything written so far is durable; undefined when nothing is pending. */
  pending(): Promise<void> | undefined {
    return this.store.durable ? this.store.barrier() : undefined;
  }

  /** Runs `fn` once everything written so far is durable: at once when nothing is pending. */
  afterCommit(fn: () => void, onError: (err: unknown) => void): void {
    const pending = this.store.durable ? this.store.barrier() : undefined;
    if (pending === undefined) fn();
    else pending.then(fn, onError);
  }

  /** A QoS 1/2 message entered a persistent session (queued, or straight into flight). */
  added(clientId: string, out: Outgoing): void {
    const m = out.message;
    if (m.storeId === undefined) {
      m.storeId = this.nextMessageId++;
      m.storeRefs = 0;
      void this.store.queues.putMessage(m.storeId, m);
    }
    m.storeRefs!++;
    out.seq = this.nextSeq++;
    void this.store.queues.putEntry(clientId, entry(out), true);
  }

  /** Its packet id or state changed. */
  updated(clientId: string, out: Outgoing): void {
    void this.store.queues.putEntry(clientId, entry(out));
  }

  /** Delivered, expired, discarded or moved away. */
  removed(clientId: string, out: Outgoing): void {
    void this.store.queues.deleteEntry(clientId, out.seq);
    this.release(out.message);
    out.seq = 0;
  }

  /** The session's entries went with its stored session (deleteSession): only the messages are released. */
  forgotten(out: Outgoing): void {
    this.release(out.message);
    out.seq = 0;
  }

  private release(m: Message): void {
    if (m.storeId === undefined || --m.storeRefs! > 0) return;
    void this.store.queues.deleteMessage(m.storeId);
    m.storeId = undefined;
    m.storeRefs = undefined;
  }

  incoming(clientId: string, packetId: number, present: boolean): void {
    void (present ? this.store.qos2.putIncoming(clientId, packetId) : this.store.qos2.deleteIncoming(clientId, packetId));
  }
}

function entry(out: Outgoing): StoredEntry {
  const e: StoredEntry = {
    seq: out.seq, messageId: out.message.storeId!, qos: out.qos, retain: out.retain,
    subscriptionIdentifiers: out.subscriptionIdentifiers, packetId: out.packetId,
    state: out.packetId === 0 ? EntryState.Queued : (out.state as number as EntryState),
  };
  if (out.group) e.share = `$share/${out.group.name}/${out.group.filter}`;
  return e;
}

/**
 * Start-up: reads back what the store kept and rebuilds the broker's working state. Expired sessions,
 * expired messages and entries nobody refers to are removed from the store as they are found. A session
 * that was connected when the broker stopped counts as disconnected now; a will whose connection the
 * stop closed is due now (after its Will Delay Interval).
 */
import type { Store, StoredEntry } from '../store/types.js';
import type { Broker } from './broker.js';
import { OutState, type Outgoing } from './session.js';

const NEVER = 0xffff_ffff;

export async function restoreState(broker: Broker, store: Store): Promise<void> {
  const now = broker.clock.now();
  const [stored, queues, incoming, retained, wills] = await Promise.all([
    store.sessions.loadSessions(), store.queues.loadQueues(), store.qos2.loadIncoming(),
    store.retained.loadRetained(), store.wills.loadWills(),
  ]);

  for (const m of retained) {
    if (m.expiresAt !== undefined && m.expiresAt <= now) void store.retained.deleteRetained(m.topic);
    else broker.retained.set(m);
  }

  let maxSeq = 0;
  let maxMessageId = 0;
  for (const [id, m] of queues.messages) {
    maxMessageId = Math.max(maxMessageId, id);
    // Counted afresh below (a memory store hands back the objects an earlier broker counted).
    m.storeId = undefined;
    m.storeRefs = undefined;
  }
  const maxExpiry = broker.options.limits.maxSessionExpiry;
  for (const s of stored) {
    const entries = queues.entries.get(s.clientId) ?? [];
    queues.entries.delete(s.clientId);
    for (const e of entries) maxSeq = Math.max(maxSeq, e.seq);
    if (s.expiryInterval === 0 || (s.expiresAt !== undefined && s.expiresAt <= now)) {
      void store.sessions.deleteSession(s.clientId); // ended or expired while the broker was down
      continue;
    }
    const session = broker.newSession(s.clientId);
    // A lowered maxSessionExpiry applies to sessions stored before it, as it would at their next CONNECT.
    const interval = maxExpiry === NEVER ? s.expiryInterval : Math.min(s.expiryInterval, maxExpiry);
    session.expiryInterval = interval;
    session.journal = broker.journal;
    for (const [filter, options] of s.subscriptions) session.subscriptions.set(filter, options);
    for (const id of incoming.get(s.clientId) ?? []) session.incomingQos2.add(id);
    incoming.delete(s.clientId);
    broker.adoptSession(session); // first: its shared subscriptions' groups exist for its entries
    for (const e of entries) restoreEntry(broker, store, s.clientId, e, queues.messages, now, session.restore.bind(session));
    let expiresAt = s.expiresAt ?? (interval === NEVER ? undefined : now + interval * 1000);
    if (expiresAt !== undefined && interval !== NEVER) expiresAt = Math.min(expiresAt, now + interval * 1000);
    if (expiresAt !== s.expiresAt || interval !== s.expiryInterval) {
      void store.sessions.putSession({ clientId: s.clientId, expiryInterval: interval, expiresAt, subscriptions: [] });
    }
    if (expiresAt !== undefined) broker.expireAt(session, expiresAt);
  }
  // What belongs to sessions that are gone (entries, QoS 2 ids), and messages no entry refers to.
  for (const clientId of new Set([...queues.entries.keys(), ...incoming.keys()])) void store.sessions.deleteSession(clientId);
  for (const [id, m] of queues.messages) if (!m.storeRefs) void store.queues.deleteMessage(id);
  broker.journal.continueAfter(maxMessageId, maxSeq);

  for (const [clientId, w] of wills) {
    const session = broker.sessions.get(clientId);
    const will = { message: w.message, delay: w.delay };
    // A will whose connection the stop closed: due after its delay, capped by the session's expiry.
    const publishAt = w.publishAt ?? now + Math.min(w.delay, session?.expiryInterval ?? 0) * 1000;
    if (publishAt > now && session) broker.delayWill(clientId, will, publishAt);
    else {
      void store.wills.deleteWill(clientId);
      broker.publishWill(will);
    }
  }
}

function restoreEntry(
  broker: Broker, store: Store, clientId: string, e: StoredEntry, messages: Map<number, Outgoing['message']>, now: number,
  restore: (out: Outgoing) => void,
): void {
  const message = messages.get(e.messageId);
  if (!message || (message.expiresAt !== undefined && message.expiresAt <= now && e.packetId === 0)) {
    if (message) broker.stats.droppedExpired++;
    void store.queues.deleteEntry(clientId, e.seq);
    return;
  }
  message.storeId = e.messageId;
  message.storeRefs = (message.storeRefs ?? 0) + 1;
  const out: Outgoing = {
    message, qos: e.qos, retain: e.retain, subscriptionIdentifiers: e.subscriptionIdentifiers, packetId: e.packetId,
    state: e.state === 2 ? OutState.AwaitPubcomp : OutState.AwaitAck, seq: e.seq,
  };
  const group = e.share === undefined ? undefined : broker.tree.group(e.share);
  if (group) out.group = group;
  restore(out);
}

/**
 * Who gets a message (spec 4.7, 4.8): one delivery per session with the highest QoS and every
 * Subscription Identifier of its matching subscriptions [MQTT-3.3.4-3..5], No Local [MQTT-3.8.3-3],
 * one member per shared group, round robin. Nothing is routed unless every target has room: a QoS 1/2
 * message is refused as a whole rather than acknowledged and dropped for a slow subscriber.
 */
import type { QoS } from '../codec/index.js';
import { PublishOutcome } from './ports.js';
import type { Session } from './session.js';
import type { SharedGroup, TopicTree } from './topic-tree.js';
import type { Message } from './types.js';

interface Target {
  session: Session;
  qos: QoS;
  retain: boolean;
  ids: number[];
  group?: SharedGroup;
}

export class Router {
  constructor(private readonly tree: TopicTree, private readonly sessions: Map<string, Session>) {}

  /** `onCongested` hears of each target left congested, so its publisher can be paused. */
  route(message: Message, onCongested?: (s: Session) => void): PublishOutcome {
    const match = this.tree.match(message.topic);
    if (match.subs.length === 0 && match.shared.length === 0) return PublishOutcome.NoSubscribers;
    const size = message.payload.length;
    const targets = new Map<string, Target>();
    for (const [clientId, o] of match.subs) {
      if (o.noLocal && clientId === message.publisherId) continue;
      const session = this.sessions.get(clientId);
      if (!session) continue;
      const qos = Math.min(o.qos, message.qos) as QoS;
      // [MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN kept only with Retain As Published.
      const retain = o.retainAsPublished && message.retain;
      const t = targets.get(clientId);
      if (t === undefined) {
        targets.set(clientId, { session, qos, retain, ids: o.subscriptionIdentifier ? [o.subscriptionIdentifier] : [] });
      } else {
        if (qos > t.qos) t.qos = qos;
        t.retain ||= retain;
        if (o.subscriptionIdentifier) t.ids.push(o.subscriptionIdentifier);
      }
    }
    for (const t of targets.values()) {
      if (t.qos > 0 && !t.session.hasRoom(t.qos, size)) return PublishOutcome.QuotaExceeded;
    }
    const shared: Target[] = [];
    for (const group of match.shared) {
      const t = this.pickMember(group, message, size);
      if (t === null) return PublishOutcome.QuotaExceeded;
      if (t) shared.push(t);
    }
    for (const t of targets.values()) {
      t.session.deliver(message, t.qos, t.retain, t.ids);
      if (onCongested && t.session.congested) onCongested(t.session);
    }
    for (const t of shared) {
      t.session.deliver(message, t.qos, t.retain, t.ids, t.group);
      if (onCongested && t.session.congested) onCongested(t.session);
    }
    return targets.size + shared.length > 0 ? PublishOutcome.Delivered : PublishOutcome.NoSubscribers;
  }

  /**
   * Round robin over the group, preferring members online with room; an offline member with a
   * persistent session is next best. null: no member has room; undefined: nobody to take it.
   */
  pickMember(group: SharedGroup, message: Message, size: number, exclude?: Session): Target | null | undefined {
    const members = [...group.members];
    if (members.length === 0) return undefined;
    let fallback: Target | undefined;
    let full = false;
    for (let k = 0; k < members.length; k++) {
      const idx = (group.next + k) % members.length;
      const [clientId, o] = members[idx]!;
      const session = this.sessions.get(clientId);
      if (!session || session === exclude) continue;
      if (o.noLocal && clientId === message.publisherId) continue;
      const qos = Math.min(o.qos, message.qos) as QoS;
      if (qos > 0 && !session.hasRoom(qos, size)) {
        full = true;
        continue;
      }
      const t: Target = {
        session, qos, retain: o.retainAsPublished && message.retain,
        ids: o.subscriptionIdentifier ? [o.subscriptionIdentifier] : [], group,
      };
      if (session.link) {
        group.next = (idx + 1) % members.length;
        return t;
      }
      fallback ??= t;
    }
    if (fallback) {
      group.next = (group.next + 1) % members.length;
      return fallback;
    }
    return full && message.qos > 0 ? null : undefined;
  }
}

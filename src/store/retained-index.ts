/**
 * The broker's working set of retained messages, for lookups at SUBSCRIBE. A wildcard lookup scans
 * every retained topic: fine for thousands. Durable copies go through `RetainedStore`.
 */
import { topicMatches } from '../codec/index.js';
import type { Message } from './types.js';

export class RetainedIndex {
  private readonly byTopic = new Map<string, Message>();

  /** `onExpired` hears of each message dropped because its Message Expiry Interval ran out. */
  constructor(private readonly onExpired: (topic: string) => void = () => undefined) {}

  get size(): number {
    return this.byTopic.size;
  }

  /** Stores or replaces the retained message of `message.topic` [MQTT-3.3.1-5]. */
  set(message: Message): void {
    this.byTopic.set(message.topic, message);
  }

  /** Returns true when there was one. */
  delete(topic: string): boolean {
    return this.byTopic.delete(topic);
  }

  /** Retained messages whose topic matches `filter`, expired ones left out and removed. */
  match(filter: string, now: number): Message[] {
    const exact = !filter.includes('+') && !filter.includes('#');
    if (exact) {
      const m = this.byTopic.get(filter);
      return m && this.alive(m, now) ? [m] : [];
    }
    const out: Message[] = [];
    for (const m of this.byTopic.values()) {
      if (topicMatches(filter, m.topic) && this.alive(m, now)) out.push(m);
    }
    return out;
  }

  private alive(m: Message, now: number): boolean {
    if (m.expiresAt !== undefined && m.expiresAt <= now) {
      this.byTopic.delete(m.topic);
      this.onExpired(m.topic);
      return false;
    }
    return true;
  }
}

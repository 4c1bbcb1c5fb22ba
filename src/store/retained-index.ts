/** Retained messages in memory. A wildcard lookup scans every retained topic: fine for thousands. */
import { topicMatches } from '../codec/index.js';
import type { Message, RetainedStore } from './types.js';

export class MemoryRetainedStore implements RetainedStore {
  private readonly byTopic = new Map<string, Message>();

  get size(): number {
    return this.byTopic.size;
  }

  set(message: Message): void {
    this.byTopic.set(message.topic, message);
  }

  delete(topic: string): boolean {
    return this.byTopic.delete(topic);
  }

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
      return false;
    }
    return true;
  }
}

/**
 * One `subscribe()` call's messages as an async iterator (`for await (const msg of sub)`). Messages
 * are buffered from the SUBACK on (a retained message can arrive in the same read), up to
 * `bufferSize`; beyond it the oldest is dropped and counted in `dropped`, so a subscription nobody
 * reads cannot grow without bound.
 */
import { parseSharedFilter, topicMatches } from '../codec/index.js';
import type { Message } from './types.js';

export class Subscription implements AsyncIterable<Message> {
  /** Granted QoS (0–2) or failure reason code (≥ 0x80) per filter, in order [MQTT-3.8.4-7]. */
  reasonCodes: number[] = [];
  dropped = 0;
  private readonly buffer: Message[] = [];
  private readonly waiters: Array<(r: IteratorResult<Message>) => void> = [];
  private ended = false;

  /** close() was called (or the client closed): no more messages. */
  get closed(): boolean {
    return this.ended;
  }
  private readonly matchers: string[];

  constructor(readonly filters: string[], private readonly bufferSize: number,
    private readonly onUnsubscribe: (sub: Subscription) => Promise<number[]>,
    private readonly onClose: (sub: Subscription) => void = () => {}) {
    // A shared subscription's messages carry the topic, matched by the filter after $share/group/.
    this.matchers = filters.map((f) => parseSharedFilter(f)?.filter ?? f);
  }

  matches(topic: string): boolean {
    return this.matchers.some((f) => topicMatches(f, topic));
  }

  /** Internal: a message for this subscription. */
  push(msg: Message): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) return w({ value: msg, done: false });
    if (this.buffer.length >= this.bufferSize) {
      this.buffer.shift();
      this.dropped++;
    }
    this.buffer.push(msg);
  }

  /** Unsubscribes from the broker and ends the iterator. Resolves with the UNSUBACK reason codes. */
  unsubscribe(): Promise<number[]> {
    this.close();
    return this.onUnsubscribe(this);
  }

  /** Ends the iterator (buffered messages are still read first). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose(this);
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: () => {
        const m = this.buffer.shift();
        if (m) return Promise.resolve({ value: m, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

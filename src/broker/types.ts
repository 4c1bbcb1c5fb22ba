/** Types shared by the broker's parts. */
export type { Message, SubscriptionOptions } from '../store/types.js';
import type { QoS } from '../codec/index.js';

/** What one session gets for one message after merging its overlapping subscriptions. */
export interface Delivery {
  qos: QoS;
  retainAsPublished: boolean;
  subscriptionIdentifiers: number[];
}

/** Injected time: engines never read the system clock or set timers themselves. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

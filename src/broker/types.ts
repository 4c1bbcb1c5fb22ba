/** Types shared by the broker's parts. */
export type { Message, SubscriptionOptions } from '../store/types.js';

/** Injected time: engines never read the system clock or set timers themselves. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node clamps a delay above 2^31-1 ms (24.8 days) to 1 ms: longer waits are chained in steps. */
const MAX_DELAY = 2 ** 31 - 1;

class LongTimer {
  timer: NodeJS.Timeout | undefined;

  constructor(fn: () => void, ms: number) {
    this.arm(fn, ms);
  }

  private arm(fn: () => void, left: number): void {
    this.timer = setTimeout(left > MAX_DELAY ? () => this.arm(fn, left - MAX_DELAY) : fn, Math.min(left, MAX_DELAY));
    this.timer.unref?.();
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Session Expiry and Will Delay Intervals may be weeks [MQTT-3.1.2-23].
    if (ms > MAX_DELAY) return new LongTimer(fn, ms);
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h instanceof LongTimer ? h.timer : (h as NodeJS.Timeout)),
};

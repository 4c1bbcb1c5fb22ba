/**
 * Sockets the broker holds that have not sent a byte yet: a TLS health check, a port scanner, a
 * handshake flood. They cost a set entry and a deadline, not a Connection or a timer each: every one
 * waits the same connect timeout, so deadlines come in insertion order and one timer on the injected
 * clock, armed for the oldest, closes each at its deadline. The clock is the wall clock in
 * production: should it step back, no wait ever exceeds `timeoutMs` (a deadline further away than
 * that is pulled in), so a step back of hours cannot keep silent sockets holding connection slots;
 * should it step forward, sockets held before the step are closed at the next sweep, early.
 */
import type { Clock } from './types.js';

export interface Waiter {
  /** Clock ms by which the client must have sent CONNECT; set by `add`. */
  deadline: number;
}

export class WaitingRoom<W extends Waiter> {
  private readonly waiters = new Set<W>();
  private timer: unknown;
  /** The deadline the timer is armed for; undefined when no timer runs. */
  private armedFor: number | undefined;

  constructor(private readonly clock: Clock, private readonly timeoutMs: number, private readonly expire: (w: W) => void) {}

  get size(): number {
    return this.waiters.size;
  }

  add(w: W): void {
    w.deadline = this.clock.now() + this.timeoutMs;
    this.waiters.add(w);
    if (this.armedFor === undefined) this.arm(w.deadline);
  }

  /** Its first bytes came or it closed: true if it was still waiting. The timer stays (it re-arms or stops when it fires). */
  delete(w: W): boolean {
    return this.waiters.delete(w);
  }

  /** Closes every waiter now (broker shutdown). */
  clear(close: (w: W) => void): void {
    const all = [...this.waiters];
    this.waiters.clear();
    this.clock.clearTimeout(this.timer);
    this.armedFor = undefined;
    for (const w of all) close(w);
  }

  private arm(at: number): void {
    this.armedFor = at;
    this.timer = this.clock.setTimeout(this.sweep, Math.min(this.timeoutMs, Math.max(0, at - this.clock.now())));
  }

  private readonly sweep = (): void => {
    this.armedFor = undefined;
    const now = this.clock.now();
    for (const w of this.waiters) {
      if (w.deadline - now > this.timeoutMs) w.deadline = now + this.timeoutMs; // the clock stepped back
      if (w.deadline > now) {
        this.arm(w.deadline);
        return;
      }
      this.waiters.delete(w);
      this.expire(w);
    }
  };
}

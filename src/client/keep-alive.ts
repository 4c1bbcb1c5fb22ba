/**
 * Keep alive from the client's side, on the injected clock. A PINGREQ goes out when nothing was sent
 * for Keep Alive seconds [MQTT-3.1.2-20] — and also when nothing was *received* for that long, so a
 * client that only publishes QoS 0 still probes the link. A PINGREQ left unanswered (no packet at all)
 * for half the keep alive declares the link dead: a half-open connection is detected at most 1.5 ×
 * Keep Alive after the last packet from the broker.
 */
import type { Clock } from './types.js';

export class KeepAlive {
  private timer: unknown;
  private lastSent = 0;
  private lastReceived = 0;
  private pingSentAt: number | undefined;
  private periodMs = 0;

  constructor(private readonly clock: Clock, private readonly ping: () => void, private readonly dead: (seconds: number) => void) {}

  /** Starts (or restarts) with the keep alive in force, seconds; 0 turns it off. */
  start(seconds: number): void {
    this.stop();
    this.periodMs = seconds * 1000;
    const now = this.clock.now();
    this.lastSent = now;
    this.lastReceived = now;
    this.pingSentAt = undefined;
    if (this.periodMs > 0) this.arm(this.periodMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.periodMs = 0;
  }

  sent(): void {
    this.lastSent = this.clock.now();
  }

  /** Any packet from the broker proves the link works. */
  received(): void {
    this.lastReceived = this.clock.now();
    this.pingSentAt = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimeout(() => this.check(), Math.max(1, ms));
  }

  private check(): void {
    this.timer = undefined;
    if (this.periodMs === 0) return;
    const now = this.clock.now();
    const k = this.periodMs;
    if (this.pingSentAt !== undefined) {
      if (now - this.pingSentAt >= k / 2) {
        this.stop();
        this.dead(k / 1000);
        return;
      }
    } else if (now - this.lastSent >= k || now - this.lastReceived >= k) {
      this.pingSentAt = now;
      this.ping();
      this.lastSent = now;
    }
    const next = this.pingSentAt !== undefined
      ? this.pingSentAt + k / 2
      : Math.min(this.lastSent + k, this.lastReceived + k);
    this.arm(next - now);
  }
}

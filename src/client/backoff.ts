/**
 * Reconnect delays: exponential, capped, with "equal jitter" (half fixed, half random) so a fleet
 * that lost the same broker does not come back in lockstep, while no client retries immediately.
 */
export interface Backoff {
  /** Delay before attempt `attempt` (0-based), ms. */
  delay(attempt: number): number;
}

export function exponentialBackoff(initial: number, max: number, random: () => number = Math.random): Backoff {
  return {
    delay(attempt: number): number {
      const cap = Math.min(max, initial * 2 ** Math.min(attempt, 30));
      return Math.round(cap / 2 + random() * (cap / 2));
    },
  };
}

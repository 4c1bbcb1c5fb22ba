/**
 * Per-address backoff after failed logins: the first `freeFailures - 1` failures cost nothing, then each
 * failure makes the address wait `baseMs`, doubling up to `maxMs`. An address quiet for `forgetAfterMs`
 * starts afresh; a success clears it at once.
 *
 * Memory is bounded: at most `maxAddresses` are tracked, kept in order of their last failure so the
 * oldest is evicted first and expired ones are dropped from the front as new ones arrive. IPv6 clients
 * are tracked per /64 (one host usually owns a whole /64) and IPv4-mapped IPv6 as plain IPv4.
 */

export interface BackoffClock {
  now(): number;
}

export interface LoginBackoffOptions {
  /** Failures before the first delay (default 3: the third failure starts it). */
  freeFailures?: number;
  /** First delay (default 1 s). */
  baseMs?: number;
  /** Largest delay (default 60 s). */
  maxMs?: number;
  /** Quiet time after the last failure that forgets an address (default 10 min). */
  forgetAfterMs?: number;
  /** Most addresses tracked at once (default 10,000, about 1 MB). */
  maxAddresses?: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

export class LoginBackoff {
  private readonly entries = new Map<string, Entry>();
  private readonly freeFailures: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxAddresses: number;

  constructor(private readonly clock: BackoffClock = { now: () => Date.now() }, options: LoginBackoffOptions = {}) {
    this.freeFailures = Math.max(1, options.freeFailures ?? 3);
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = Math.max(this.baseMs, options.maxMs ?? 60_000);
    // Forgetting while still blocked would end the block early.
    this.forgetAfterMs = Math.max(this.maxMs, options.forgetAfterMs ?? 600_000);
    this.maxAddresses = Math.max(1, options.maxAddresses ?? 10_000);
  }

  /** Milliseconds `address` must still wait before its credentials are checked; 0 when free. */
  check(address: string): number {
    const key = backoffKey(address);
    const e = this.entries.get(key);
    if (!e) return 0;
    const now = this.clock.now();
    if (now - e.lastFailure >= this.forgetAfterMs) {
      this.entries.delete(key);
      return 0;
    }
    return Math.max(0, e.blockedUntil - now);
  }

  failed(address: string): void {
    const key = backoffKey(address);
    const now = this.clock.now();
    let e = this.entries.get(key);
    if (e && now - e.lastFailure >= this.forgetAfterMs) e = undefined;
    this.entries.delete(key); // re-inserted at the end: the map stays ordered by last failure
    this.sweep(now);
    e ??= { failures: 0, lastFailure: now, blockedUntil: 0 };
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - this.freeFailures;
    // Cap the exponent first so a long attack cannot overflow to Infinity.
    if (over >= 0) e.blockedUntil = now + Math.min(this.maxMs, this.baseMs * 2 ** Math.min(over, 40));
    this.entries.set(key, e);
  }

  succeeded(address: string): void {
    this.entries.delete(backoffKey(address));
  }

  /** Addresses tracked now (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries from the front, then the oldest while the table is full. */
  private sweep(now: number): void {
    for (const [key, e] of this.entries) {
      if (now - e.lastFailure < this.forgetAfterMs && this.entries.size < this.maxAddresses) break;
      this.entries.delete(key);
    }
  }
}

/** The key an address is tracked under: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64. */
export function backoffKey(address: string): string {
  const a = address.toLowerCase().replace(/%.*$/, ''); // zone index: fe80::1%eth0
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::', 2) as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  if (right.some((g) => g.includes('.'))) right.splice(-1, 1, '0', '0'); // trailing dotted IPv4: outside the /64 anyway
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

import { LoupeError } from '../../errors/loupe-error.js';

/**
 * Counts failures per key (a client address, an account) in a fixed window and refuses once a
 * key reaches its limit. Written here rather than with @fastify/rate-limit because that counts
 * every request, and a sign-in throttle must count only failures: a person who signs in
 * correctly is never held back, while someone guessing passwords is stopped after a few tries.
 * In memory, per process: a restart forgets the counts, which costs an attacker one window.
 */
export class FailureThrottle {
  private readonly counts = new Map<string, { n: number; resetAt: number }>();

  constructor(private readonly windowMs: number) {}

  /** Throws RATE_LIMITED (with the seconds to wait) when `key` has `max` failures in this window. */
  check(key: string, max: number, what: string): void {
    const entry = this.live(key);
    if (entry && entry.n >= max) {
      const seconds = Math.max(1, Math.ceil((entry.resetAt - Date.now()) / 1000));
      throw new LoupeError(
        'RATE_LIMITED',
        `too many ${what}: try again in ${seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`}`,
        { retryAfterSeconds: seconds },
      );
    }
  }

  fail(key: string): void {
    const entry = this.live(key);
    if (entry) entry.n++;
    else {
      // Bounded memory under a flood of distinct keys: stale entries go first.
      if (this.counts.size >= 100_000) this.sweep();
      this.counts.set(key, { n: 1, resetAt: Date.now() + this.windowMs });
    }
  }

  private live(key: string) {
    const entry = this.counts.get(key);
    if (entry && entry.resetAt <= Date.now()) {
      this.counts.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const t = Date.now();
    for (const [k, v] of this.counts) if (v.resetAt <= t) this.counts.delete(k);
    if (this.counts.size >= 100_000) this.counts.clear();
  }
}

import { setTimeout as sleep } from 'node:timers/promises';

interface HostState {
  active: number;
  /** Earliest time (performance.now()) the next request to this host may start. */
  nextStart: number;
  waiters: Array<() => void>;
}

/**
 * Politeness per host: at most `perHost` requests in flight and request starts spaced by
 * 1/`ratePerSecond`. Written here because the two limits interact (a request waits for a slot,
 * then for its turn, while holding the slot) and the libraries that do either (p-limit, p-queue,
 * bottleneck) are not dependencies; the whole mechanism is a counter, a FIFO and a timestamp.
 */
export class HostLimiter {
  private readonly hosts = new Map<string, HostState>();
  private readonly intervalMs: number;

  constructor(
    private readonly perHost: number,
    ratePerSecond: number,
  ) {
    this.intervalMs = Number.isFinite(ratePerSecond) ? 1000 / ratePerSecond : 0;
  }

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) {
      s = { active: 0, nextStart: 0, waiters: [] };
      this.hosts.set(host, s);
    }
    return s;
  }

  /** Whether a request to `host` could start right now: a slot is free and its turn has come. */
  readyNow(host: string): boolean {
    const s = this.hosts.get(host);
    return !s || (s.active < this.perHost && s.waiters.length === 0 && s.nextStart <= performance.now());
  }

  /** Waits for a slot and the host's next turn; the returned function gives the slot back. */
  async acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    const s = this.state(host);
    if (s.active < this.perHost && s.waiters.length === 0) s.active++;
    else {
      // Wait for a releasing request to hand its slot over: `active` never dips in between, so a
      // newcomer cannot slip into the gap before the woken waiter runs.
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = s.waiters.indexOf(wake);
          if (i >= 0) s.waiters.splice(i, 1);
          reject(signal!.reason);
        };
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        if (signal?.aborted) return reject(signal.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        s.waiters.push(wake);
      });
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = s.waiters.shift();
      if (next) next();
      else s.active--;
    };
    const now = performance.now();
    const start = Math.max(now, s.nextStart);
    s.nextStart = start + this.intervalMs;
    if (start > now) {
      try {
        await sleep(start - now, undefined, { signal });
      } catch (e) {
        release();
        throw e;
      }
    }
    return release;
  }
}

import type { HostLimiter } from './host-limiter.js';

/**
 * Pending work grouped by host and handed out round-robin, preferring a host that can take a
 * request right now (a free slot, and its rate allows it). With one FIFO, a list sorted by host
 * would park every worker behind one host's limits while the other hosts sat idle.
 */
export class HostQueues<T extends { url: URL }> {
  /** Map order is the rotation: a host moves to the back each time it is served. */
  private readonly queues = new Map<string, T[]>();

  constructor(
    items: Iterable<T>,
    private readonly limiter: HostLimiter,
  ) {
    for (const item of items) {
      const q = this.queues.get(item.url.host);
      if (q) q.push(item);
      else this.queues.set(item.url.host, [item]);
    }
  }

  next(): T | undefined {
    for (const host of this.queues.keys()) if (this.limiter.readyNow(host)) return this.take(host);
    // Every host is busy: queue behind the next one in turn rather than idle.
    const first = this.queues.keys().next();
    return first.done ? undefined : this.take(first.value);
  }

  private take(host: string): T {
    const q = this.queues.get(host)!;
    const item = q.shift()!;
    this.queues.delete(host);
    if (q.length) this.queues.set(host, q);
    return item;
  }
}

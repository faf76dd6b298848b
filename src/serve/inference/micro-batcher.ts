import { LoupeError } from '../../errors/loupe-error.js';

export interface BatcherOptions {
  /** Items per batch at most. */
  maxBatch: number;
  /**
   * How long the first item of a batch waits for company. 0: none beyond the current turn of
   * the event loop (items that arrived together still share a batch), not a timer's 1 ms minimum.
   */
  maxWaitMs: number;
  /** Items waiting at most; beyond it, new items are refused (OVERLOADED) rather than queued. */
  queueLimit: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Groups items arriving within a few milliseconds into one call: a batch goes when it is full or
 * when its first item has waited maxWaitMs, and only one batch runs at a time, so under load
 * batches grow by themselves while the previous one computes. A bounded queue turns overload
 * into fast refusals the client can retry, instead of latency and memory growing without limit.
 */
export class MicroBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private timer: { cancel(): void } | undefined;
  private running = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly o: BatcherOptions,
    private readonly onBatch?: (size: number) => void,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  submit(item: I): Promise<O> {
    if (this.queue.length >= this.o.queueLimit)
      return Promise.reject(
        new LoupeError(
          'OVERLOADED',
          `the server is at capacity (${this.o.queueLimit} requests waiting); retry shortly`,
        ),
      );
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queue.length >= this.o.maxBatch) {
      this.dispatch();
      return;
    }
    this.timer ??= this.later(() => this.dispatch());
  }

  private later(f: () => void): { cancel(): void } {
    if (this.o.maxWaitMs > 0) {
      const t = setTimeout(f, this.o.maxWaitMs);
      return { cancel: () => clearTimeout(t) };
    }
    const i = setImmediate(f);
    return { cancel: () => clearImmediate(i) };
  }

  private dispatch(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.running || !this.queue.length) return;
    const batch = this.queue.splice(0, this.o.maxBatch);
    this.running = true;
    this.onBatch?.(batch.length);
    this.run(batch.map((w) => w.item))
      .then(
        (outs) => batch.forEach((w, i) => w.resolve(outs[i]!)),
        (e: unknown) => batch.forEach((w) => w.reject(e)),
      )
      .finally(() => {
        this.running = false;
        // Whatever arrived meanwhile goes at once: it has already waited for a whole batch.
        if (this.queue.length) this.dispatch();
      });
  }
}

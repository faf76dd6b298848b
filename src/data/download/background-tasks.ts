/**
 * Runs tasks in the background, at most `limit` at once: add() waits for room, so a producer
 * faster than the tasks slows to their pace instead of piling up work (and memory). The first
 * failure stops nothing by itself; it is kept for `failed` and rethrown by drain().
 */
export class BackgroundTasks {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  async add(task: () => Promise<void>): Promise<void> {
    // Checking and adding happen in one synchronous step, so waiters cannot overshoot the limit.
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const job: Promise<void> = task()
      .catch((error: unknown) => void (this.failure ??= { error }))
      .finally(() => this.running.delete(job));
    this.running.add(job);
  }

  /** Waits for every task; rethrows the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failure) throw this.failure.error;
  }
}

import type { Worker } from 'node:worker_threads';

/**
 * Request and reply over a worker thread that starts with the first request. Replies carry the
 * request's id. The thread keeps the process alive only while a request is outstanding; if it
 * crashes or exits, every outstanding request gets the `failed` reply and the next request
 * starts a new thread.
 */
export class RequestWorker<Request, Reply extends { id: number }> {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();

  /**
   * `start` spawns the thread (and posts any setup it needs); `failed` is the reply a request
   * gets when the thread dies under it; `name` goes into that message.
   */
  constructor(
    private readonly start: () => Worker,
    private readonly failed: (id: number, message: string) => Reply,
    private readonly name: string,
  ) {}

  ask(request: (id: number) => Request): Promise<Reply> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.ref();
      worker.postMessage(request(id));
    });
  }

  /**
   * Posts `closeMessage`, after which the thread is expected to finish its queue and exit;
   * after `graceMs` it is terminated.
   */
  async close(closeMessage: unknown, graceMs = Infinity): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref();
    worker.postMessage(closeMessage);
    const force = Number.isFinite(graceMs) ? setTimeout(() => void worker.terminate(), graceMs) : undefined;
    await exited;
    clearTimeout(force);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = this.start();
    worker.on('message', (m: Reply) => {
      const reply = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!this.pending.size) worker.unref();
      reply?.(m);
    });
    const fail = (message: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, reply] of this.pending) reply(this.failed(id, message));
      this.pending.clear();
    };
    worker.on('error', (e) => fail(`the ${this.name} crashed: ${e.message}`));
    worker.on('exit', (code) => fail(`the ${this.name} exited (code ${code})`));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

import { RequestWorker } from '../util/request-worker.js';
import { spawnModuleWorker } from '../util/spawn-worker.js';
import type { PredictionRow, PruneSettings } from './prediction-log-rows.js';

export type ToLogWorker =
  | { type: 'setup'; file: string }
  | { type: 'insert'; id: number; rows: PredictionRow[] }
  | { type: 'prune'; id: number; settings: PruneSettings; now: string }
  | { type: 'close' };

export type FromLogWorker =
  | { type: 'done'; id: number; pruned?: { byAge: number; byCount: number } }
  | { type: 'failed'; id: number; error: { code: string; message: string } };

/**
 * The prediction log's database writes, in a thread of their own. better-sqlite3 is synchronous:
 * a batch of a few hundred rows and its commit hold the thread for 5-20 ms, which on the event
 * loop delays every request in flight (the log was the main source of the server's p99 at
 * concurrency 1). Here a write may also wait out another process's lock without stalling
 * anything.
 */
export class PredictionLogWriter {
  private readonly thread: RequestWorker<ToLogWorker, FromLogWorker>;

  constructor(dbFile: string) {
    this.thread = new RequestWorker<ToLogWorker, FromLogWorker>(
      () => {
        const worker = spawnModuleWorker(import.meta.url, 'prediction-log-worker');
        worker.postMessage({ type: 'setup', file: dbFile } satisfies ToLogWorker);
        return worker;
      },
      (id, message) => ({ type: 'failed', id, error: { code: 'INTERNAL', message } }),
      "prediction log's writer",
    );
  }

  async insert(rows: PredictionRow[]): Promise<void> {
    await this.ask((id) => ({ type: 'insert', id, rows }));
  }

  async prune(settings: PruneSettings, now: Date): Promise<{ byAge: number; byCount: number }> {
    return (await this.ask((id) => ({ type: 'prune', id, settings, now: now.toISOString() }))).pruned!;
  }

  /** Lets the thread finish what it was given, then stops it. */
  close(): Promise<void> {
    return this.thread.close({ type: 'close' } satisfies ToLogWorker);
  }

  private async ask(request: (id: number) => ToLogWorker) {
    const reply = await this.thread.ask(request);
    // SQLite's code (SQLITE_BUSY...) travels with the error, for the caller to tell a lock apart.
    if (reply.type === 'failed')
      throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply;
  }
}

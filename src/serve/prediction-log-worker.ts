import { parentPort } from 'node:worker_threads';
import { openDatabase, type Database } from '../store/database.js';
import { insertPredictionRows, prunePredictions } from './prediction-log-rows.js';
import type { FromLogWorker, ToLogWorker } from './prediction-log-writer.js';

/**
 * The thread the prediction log writes from (see PredictionLogWriter). It has its own
 * connection to the workspace database and runs requests one at a time, in order.
 */
let file: string | undefined;
let db: Promise<Database> | undefined;
let queue = Promise.resolve();
const post = (m: FromLogWorker) => parentPort!.postMessage(m);

parentPort!.on('message', (m: ToLogWorker) => {
  if (m.type === 'setup') {
    file = m.file;
    return;
  }
  if (m.type === 'close') {
    queue = queue.then(async () => {
      await (await db?.catch(() => undefined))?.destroy();
      parentPort!.close();
    });
    return;
  }
  queue = queue.then(async () => {
    try {
      db ??= openDatabase(file!).catch((e: unknown) => {
        db = undefined; // tried again with the next request
        throw e;
      });
      const conn = await db;
      if (m.type === 'insert') {
        await insertPredictionRows(conn, m.rows);
        post({ type: 'done', id: m.id });
      } else {
        post({ type: 'done', id: m.id, pruned: await prunePredictions(conn, m.settings, new Date(m.now)) });
      }
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? 'INTERNAL');
      post({ type: 'failed', id: m.id, error: { code, message: (e as Error).message } });
    }
  });
});

import { parentPort } from 'node:worker_threads';
import { LoupeError } from '../../errors/loupe-error.js';
import { runPrelabel, type PrelabelJob, type PrelabelResult } from './prelabel-job.js';

/** What the worker answers: the result, or the error as plain data (errors do not cross threads whole). */
export type PrelabelReply =
  { type: 'done'; result: PrelabelResult } | { type: 'failed'; error: { code: string; message: string } };

/**
 * One pre-labelling job in its own thread: decoding, resampling, log-mel features and ONNX Runtime
 * (which computes on its calling thread) would otherwise hold the server's event loop for as long
 * as a recording takes.
 */
const port = parentPort!;
port.once('message', (job: PrelabelJob) => {
  runPrelabel(job).then(
    (result) => {
      const reply: PrelabelReply = { type: 'done', result };
      port.postMessage(reply);
    },
    (e: unknown) => {
      const reply: PrelabelReply = {
        type: 'failed',
        error:
          e instanceof LoupeError
            ? { code: e.code, message: e.message }
            : { code: 'INTERNAL', message: String((e as Error)?.message ?? e) },
      };
      port.postMessage(reply);
    },
  );
});

import { HostLimiter } from '../../data/download/host-limiter.js';
import { isErrorCode, LoupeError } from '../../errors/loupe-error.js';
import { spawnModuleWorker } from '../../util/spawn-worker.js';
import type { PrelabelJob, PrelabelResult } from './prelabel-job.js';
import type { PrelabelReply } from './prelabel-worker.js';

/**
 * Jobs running at once. Each keeps a core busy and holds a whole decoded recording (ten minutes
 * at 48 kHz is over 100 MB as samples), so more at once would only compete for the cores and
 * risk the memory; later uploads wait their turn. The download limiter is that queue: a FIFO of
 * slots, with no rate limit and one "host".
 */
const JOBS = new HostLimiter(2, Infinity);

const interrupted = () => new LoupeError('INTERRUPTED', 'pre-labelling stopped: the upload was cancelled');

/**
 * Runs a pre-labelling job in a fresh worker thread, when one of the slots is free, and stops the
 * thread when it is done. A thread per upload costs a few milliseconds and one model load, small
 * beside the job, and leaves nothing loaded between uploads. When `signal` aborts (the client went
 * away) the job leaves the queue, or its thread is terminated at once.
 */
export async function prelabelInWorker(job: PrelabelJob, signal?: AbortSignal): Promise<PrelabelResult> {
  let release;
  try {
    release = await JOBS.acquire('prelabel', signal);
  } catch (e) {
    throw signal?.aborted ? interrupted() : e;
  }
  try {
    return await inWorker(job, signal);
  } finally {
    release();
  }
}

function inWorker(job: PrelabelJob, signal?: AbortSignal): Promise<PrelabelResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(interrupted());
    const worker = spawnModuleWorker(import.meta.url, 'prelabel-worker');
    const settle = (fn: () => void) => {
      signal?.removeEventListener('abort', abort);
      void worker.terminate();
      fn();
    };
    const abort = () => settle(() => reject(interrupted()));
    signal?.addEventListener('abort', abort, { once: true });
    worker.once('message', (m: PrelabelReply) =>
      settle(() =>
        m.type === 'done'
          ? resolve(m.result)
          : reject(new LoupeError(isErrorCode(m.error.code) ? m.error.code : 'INTERNAL', m.error.message)),
      ),
    );
    worker.once('error', (e) =>
      settle(() => reject(new LoupeError('INTERNAL', `the pre-labelling worker crashed: ${e.message}`))),
    );
    worker.once('exit', (code) =>
      settle(() => reject(new LoupeError('INTERNAL', `the pre-labelling worker exited (code ${code})`))),
    );
    worker.postMessage(job);
  });
}

import type { Worker } from 'node:worker_threads';
import { LoupeError, isErrorCode } from '../../errors/loupe-error.js';
import { spawnModuleWorker } from '../../util/spawn-worker.js';
import type { DecodeLimits } from '../decode-upload.js';
import type { FromWorker, ItemError, ItemResult, LoadedInfo, ToWorker } from './worker-protocol.js';

const errorFrom = (e: ItemError) => new LoupeError(isErrorCode(e.code) ? e.code : 'INTERNAL', e.message);

export interface BatchOutcome {
  results: ItemResult[];
  decodeMs: number;
  inferMs: number;
}

/** A model version loaded in its own inference worker thread. */
export class WorkerModel {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: BatchOutcome) => void; reject: (e: Error) => void }
  >();
  private exited: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly info: LoadedInfo,
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'failed') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve({ results: m.results, decodeMs: m.decodeMs, inferMs: m.inferMs });
      else p.reject(errorFrom(m.error));
    });
    const fail = (e: Error) => {
      this.exited = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new LoupeError('INTERNAL', `the inference worker crashed: ${e.message}`)));
    worker.on('exit', (code) =>
      fail(new LoupeError('INTERNAL', `the inference worker exited (code ${code})`)),
    );
  }

  /** Starts a worker and loads the ONNX file in it; a file ONNX Runtime refuses rejects here. */
  static async load(onnx: Uint8Array, o: { threads?: number } = {}): Promise<WorkerModel> {
    const worker = spawnModuleWorker(import.meta.url, 'inference-worker');
    try {
      // Only this call's own listeners come off afterwards: removeAllListeners would also drop the
      // Worker's internal ones that start its message port when a 'message' listener is added.
      let listeners:
        | { message: (m: FromWorker) => void; error: (e: Error) => void; exit: (code: number) => void }
        | undefined;
      const info = await new Promise<LoadedInfo>((resolve, reject) => {
        listeners = {
          message: (m) => {
            if (m.type === 'loaded') resolve(m.info);
            else if (m.type === 'load-failed') reject(errorFrom(m.error));
          },
          error: reject,
          exit: (code) =>
            reject(new LoupeError('INTERNAL', `the inference worker exited while loading (code ${code})`)),
        };
        worker.on('message', listeners.message).on('error', listeners.error).on('exit', listeners.exit);
        const message: ToWorker = { type: 'load', onnx, ...(o.threads ? { threads: o.threads } : {}) };
        worker.postMessage(message);
      }).finally(() => {
        worker.off('message', listeners!.message).off('error', listeners!.error).off('exit', listeners!.exit);
      });
      return new WorkerModel(worker, info);
    } catch (e) {
      await worker.terminate();
      throw e;
    }
  }

  /** Decodes and classifies a batch of uploads; per-item failures come back as results. */
  run(inputs: Uint8Array[], limits: DecodeLimits): Promise<BatchOutcome> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { type: 'run', id, inputs, limits };
      this.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

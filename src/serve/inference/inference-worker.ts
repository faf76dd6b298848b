import { parentPort } from 'node:worker_threads';
import { LoupeError } from '../../errors/loupe-error.js';
import { Classifier } from '../../inference/classifier.js';
import { decodeUpload, type DecodeLimits } from '../decode-upload.js';
import { FastDecoder } from './fast-decoder.js';
import type { FromWorker, ItemError, ItemResult, ToWorker } from './worker-protocol.js';

/**
 * One served model version in a worker thread: uploads are decoded, preprocessed and classified
 * here, so neither decoding nor ONNX Runtime (which computes on its calling thread) ever holds
 * the server's event loop. Each request's images are decoded on their own, so one bad image
 * fails only its request; the good ones of a micro-batch share one ONNX Runtime call.
 */
const port = parentPort!;
let classifier: Classifier | undefined;
/** The fast decoder for the loaded model and the limits it was made for. */
let fast: { decoder: FastDecoder | undefined; limits: DecodeLimits } | undefined;

const errorOf = (e: unknown): ItemError =>
  e instanceof LoupeError
    ? { code: e.code, message: e.message }
    : { code: 'INTERNAL', message: String((e as Error)?.message ?? e) };

const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: ToWorker) => {
  if (m.type === 'load') {
    Classifier.open(m.onnx, m.threads ? { threads: m.threads } : {}).then(
      (c) => {
        classifier = c;
        send({
          type: 'loaded',
          info: {
            classes: c.classes,
            inputs: c.inputs,
            temperature: c.temperature,
            hasEmbedding: c.hasEmbedding,
          },
        });
      },
      (e: unknown) => send({ type: 'load-failed', error: errorOf(e) }),
    );
    return;
  }
  void run(m);
});

async function run(m: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  try {
    const c = classifier;
    if (!c) throw new LoupeError('INTERNAL', 'the model is not loaded');
    if (c.inputs.kind !== 'image')
      throw new LoupeError(
        'UNSUPPORTED_MEDIA',
        'this model classifies audio; use `loupe predict` for recordings',
      );
    const preprocessing = c.inputs.preprocessing;
    if (fast?.limits.maxPixels !== m.limits.maxPixels || fast.limits.timeoutMs !== m.limits.timeoutMs)
      fast = { decoder: FastDecoder.for(preprocessing, m.limits), limits: m.limits };
    const started = performance.now();
    const size = (preprocessing.channelOrder === 'gray' ? 1 : 3) * preprocessing.width * preprocessing.height;
    let batch = new Float32Array(m.inputs.length * size);
    const decoded = await Promise.all(
      m.inputs.map((bytes, index) =>
        decodeUpload(bytes, preprocessing, m.limits, { out: batch, index, fast: fast!.decoder }).then(
          () => undefined,
          (e: unknown) => errorOf(e),
        ),
      ),
    );
    const decodeMs = performance.now() - started;
    const good = decoded.flatMap((error, i) => (error ? [] : [i]));
    const results: ItemResult[] = decoded.map((error) => ({
      error: error ?? { code: 'INTERNAL', message: 'not run' },
    }));
    let inferMs = 0;
    if (good.length) {
      // Failed images leave their rows empty: close the gaps (rare) rather than classify them.
      if (good.length < m.inputs.length) {
        const packed = new Float32Array(good.length * size);
        good.forEach((i, row) => packed.set(batch.subarray(i * size, (i + 1) * size), row * size));
        batch = packed;
      }
      const t = performance.now();
      const out = await c.run(batch, good.length);
      inferMs = performance.now() - t;
      const k = c.classes.length;
      const dim = out.embedding ? out.embedding.length / good.length : 0;
      good.forEach((i, row) => {
        results[i] = {
          probs: out.probs.slice(row * k, (row + 1) * k),
          ...(out.embedding ? { embedding: out.embedding.slice(row * dim, (row + 1) * dim) } : {}),
        };
      });
    }
    send({ type: 'result', id: m.id, results, decodeMs, inferMs });
  } catch (e) {
    send({ type: 'failed', id: m.id, error: errorOf(e) });
  }
}

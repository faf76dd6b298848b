import { parentPort } from 'node:worker_threads';
import { LoupeError } from '../../errors/loupe-error.js';
import { Classifier } from '../../inference/classifier.js';
import { decodeUpload } from '../decode-upload.js';
import type { FromWorker, ItemError, ItemResult, ToWorker } from './worker-protocol.js';

/**
 * One served model version in a worker thread: uploads are decoded, preprocessed and classified
 * here, so neither libvips' results nor ONNX Runtime (which computes on its calling thread)
 * ever hold the server's event loop. Each request's images are decoded on their own, so one
 * bad image fails only its request; the good ones of a micro-batch share one ONNX Runtime call.
 */
const port = parentPort!;
let classifier: Classifier | undefined;

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
    const started = performance.now();
    const decoded = await Promise.all(
      m.inputs.map((bytes) =>
        decodeUpload(bytes, preprocessing, m.limits).then(
          (x) => ({ x }),
          (e: unknown) => ({ error: errorOf(e) }),
        ),
      ),
    );
    const decodeMs = performance.now() - started;
    const good = decoded.flatMap((d, i) => ('x' in d ? [{ i, x: d.x }] : []));
    const results: ItemResult[] = decoded.map((d) =>
      'error' in d ? { error: d.error } : { error: { code: 'INTERNAL', message: 'not run' } },
    );
    let inferMs = 0;
    if (good.length) {
      const size = good[0]!.x.length;
      const batch = new Float32Array(good.length * size);
      good.forEach((g, row) => batch.set(g.x, row * size));
      const t = performance.now();
      const out = await c.run(batch, good.length);
      inferMs = performance.now() - t;
      const k = c.classes.length;
      const dim = out.embedding ? out.embedding.length / good.length : 0;
      good.forEach((g, row) => {
        results[g.i] = {
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

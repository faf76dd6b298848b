import { setImmediate as nextTurn } from 'node:timers/promises';
import { LoupeError } from '../../errors/loupe-error.js';

export interface ChunkPlan {
  /** Values per image (channels × height × width). */
  sampleSize: number;
  /** Features per image. */
  dim: number;
  /** Images per engine call. */
  chunk: number;
  /** Always call with exactly `chunk` images, zero-padding the last call (models with a fixed batch). */
  fixedBatch?: boolean;
}

/**
 * Embeds n images a chunk at a time: callers hand over hundreds of images, and one engine call on
 * all of them would hold every activation at once and, with ONNX Runtime (which computes on the
 * calling thread), block the event loop for seconds. Between chunks the event loop gets a turn.
 */
export async function embedInChunks(
  x: Float32Array,
  n: number,
  plan: ChunkPlan,
  run: (x: Float32Array, size: number) => Promise<Float32Array>,
): Promise<Float32Array> {
  if (!(x instanceof Float32Array)) throw new LoupeError('DTYPE_MISMATCH', 'images must be a Float32Array');
  if (!Number.isInteger(n) || n < 1)
    throw new LoupeError('INVALID_ARGUMENT', `the number of images must be a positive integer, got ${n}`);
  if (x.length !== n * plan.sampleSize)
    throw new LoupeError(
      'SHAPE_MISMATCH',
      `${n} images of ${plan.sampleSize} values need ${n * plan.sampleSize} values, got ${x.length}`,
    );
  const out = new Float32Array(n * plan.dim);
  for (let start = 0; start < n; start += plan.chunk) {
    if (start > 0) await nextTurn();
    const m = Math.min(plan.chunk, n - start);
    let input = x.subarray(start * plan.sampleSize, (start + m) * plan.sampleSize);
    const size = plan.fixedBatch ? plan.chunk : m;
    if (size > m) {
      const padded = new Float32Array(size * plan.sampleSize);
      padded.set(input);
      input = padded;
    }
    const features = await run(input, size);
    if (features.length !== size * plan.dim)
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `the encoder returned ${features.length} values for ${size} images of ${plan.dim} features`,
      );
    out.set(features.subarray(0, m * plan.dim), start * plan.dim);
  }
  return out;
}

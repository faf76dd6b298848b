import type { ResolvedSpec } from '../../src/engine/spec/resolved.js';
import { numel, type TensorMap } from '../../src/engine/tensor.js';
import { seededRandom } from '../../src/train/random.js';

/**
 * Weights scaled by fan-in so activations stay O(1), with batchnorm statistics far from 0 and 1:
 * the engine's own initialisation leaves them at 0 and 1, which would not notice a runtime that
 * mishandles them.
 */
export function seededWeights(spec: ResolvedSpec, seed: number): TensorMap {
  const r = seededRandom(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * r();
  const weights: TensorMap = new Map();
  for (const [name, shape] of Object.entries(spec.tensors)) {
    const fanIn = shape.length > 1 ? numel(shape.slice(1)) : 1;
    const gen = (): number => {
      if (name.endsWith('.running_var')) return u(0.4, 2.5);
      if (name.endsWith('.running_mean')) return u(-0.5, 0.5);
      if (shape.length === 1 && name.endsWith('.weight')) return u(0.5, 1.5);
      if (shape.length === 1) return u(-0.3, 0.3);
      return u(-1, 1) * Math.sqrt(3 / fanIn);
    };
    weights.set(name, { shape, data: Float32Array.from({ length: numel(shape) }, gen) });
  }
  return weights;
}

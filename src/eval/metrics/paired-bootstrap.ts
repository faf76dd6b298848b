import { LoupeError } from '../../errors/loupe-error.js';
import { seededRandom } from '../../train/random.js';
import { checkCount, checkPairedOutcomes } from './check-inputs.js';

export interface PairedBootstrapOptions {
  /** Resamples drawn. */
  iterations?: number;
  /** Seed of the resampling, so a report can be reproduced exactly. */
  seed?: number;
}

export interface PairedBootstrapResult {
  /** Accuracy of A minus accuracy of B. */
  delta: number;
  /** 95% percentile interval of the resampled deltas (numpy's linear interpolation). */
  ci: [number, number];
  /**
   * Two-sided: twice the fraction of resampled deltas at or beyond 0 on the side opposite the
   * observed delta, capped at 1 (1 when delta is 0). Its resolution is 1 / iterations.
   */
  pValue: number;
}

/** numpy.percentile's default: linear interpolation between the closest ranks. */
function percentile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Paired bootstrap of the accuracy difference of two models on the same items: resampling items
 * (not each model separately) keeps the correlation between the models, which is what makes a
 * small difference on a shared test set detectable.
 */
export function pairedBootstrap(
  correctA: Uint8Array,
  correctB: Uint8Array,
  o: PairedBootstrapOptions = {},
): PairedBootstrapResult {
  const n = checkPairedOutcomes(correctA, correctB);
  if (!n) throw new LoupeError('INVALID_ARGUMENT', 'no items to compare the models on');
  const iterations = o.iterations ?? 2000;
  checkCount('iterations', iterations, 1);
  const difference = new Int8Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += difference[i] = correctA[i]! - correctB[i]!;
  const delta = total / n;
  const random = seededRandom(o.seed ?? 1);
  const deltas = new Float64Array(iterations);
  for (let r = 0; r < iterations; r++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += difference[Math.floor(random() * n)]!;
    deltas[r] = sum / n;
  }
  let opposite = 0;
  for (const d of deltas) if (delta > 0 ? d <= 0 : d >= 0) opposite++;
  deltas.sort();
  return {
    delta,
    ci: [percentile(deltas, 0.025), percentile(deltas, 0.975)],
    pValue: delta === 0 ? 1 : Math.min(1, (2 * opposite) / iterations),
  };
}

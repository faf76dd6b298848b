import { rankSumTest } from './rank-sum.js';

export interface ConfidenceDropResult {
  /** P(reference confidence > window confidence), ties counted half: 0.5 when nothing changed. */
  auc: number;
  pValue: number;
  aucAt(level: number): number;
  referenceMean: number;
  windowMean: number;
}

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

/**
 * Whether the model is less sure of the window than of the reference: the one-sided rank-sum
 * (Mann–Whitney) test that top-1 probabilities in the window tend to be lower. One-sided
 * because a model growing more confident is not the failure this watches for, and the test's
 * whole level then goes to the direction that matters. Ranks rather than means: confidences
 * pile up near 1, far from normal.
 */
export function confidenceDropTest(
  reference: ArrayLike<number>,
  window: ArrayLike<number>,
): ConfidenceDropResult {
  const rs = rankSumTest(reference, window);
  return {
    auc: rs.auc,
    pValue: rs.pValue,
    aucAt: rs.aucAt,
    referenceMean: mean(reference),
    windowMean: mean(window),
  };
}

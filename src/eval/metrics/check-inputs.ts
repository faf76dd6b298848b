import { LoupeError } from '../../errors/loupe-error.js';

/** Row-major n×k scores: probabilities or logits, one row per item. */
export type ScoreMatrix = Float32Array | Float64Array;

/**
 * A softmax computed in float32 can round a probability a hair above 1; anything further out
 * means the caller passed logits or unnormalised scores.
 */
const PROBABILITY_SLACK = 1e-6;

const invalid = (message: string) => new LoupeError('INVALID_ARGUMENT', message);

export function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw invalid(`${name} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * Checks that every score is finite and, for probabilities, within [0, 1]. Metrics otherwise
 * fail late and obscurely: a NaN sorts anywhere and poisons every sum it enters.
 */
export function checkScoreValues(scores: ScoreMatrix, k: number, kind: 'probabilities' | 'logits'): void {
  for (let at = 0; at < scores.length; at++) {
    const v = scores[at]!;
    if (Number.isFinite(v) && (kind === 'logits' || (v >= 0 && v <= 1 + PROBABILITY_SLACK))) continue;
    const where = `item ${Math.floor(at / k)}, class ${at % k}`;
    if (!Number.isFinite(v))
      throw invalid(`non-finite ${kind === 'logits' ? 'logit' : 'probability'} ${v} at ${where}`);
    throw invalid(`probability ${v} at ${where} is outside [0, 1]`);
  }
}

/**
 * Checks that `scores` holds one row of `k` valid values per label and that every label is a
 * class index (one out of range would read another item's row), and returns the number of items.
 */
export function checkScoredItems(
  scores: ScoreMatrix,
  labels: Int32Array,
  k: number,
  kind: 'probabilities' | 'logits',
): number {
  checkCount('the number of classes', k, 1);
  const n = labels.length;
  if (scores.length !== n * k)
    throw invalid(`${scores.length} ${kind} do not form ${n} items × ${k} classes (expected ${n * k})`);
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (label < 0 || label >= k)
      throw invalid(`label ${label} of item ${i} is not a class index in 0..${k - 1}`);
  }
  checkScoreValues(scores, k, kind);
  return n;
}

/** Checks two per-item correctness vectors of the same items: equal length, each entry 0 or 1. */
export function checkPairedOutcomes(correctA: Uint8Array, correctB: Uint8Array): number {
  if (correctA.length !== correctB.length)
    throw invalid(
      `the models were scored on different items: ${correctA.length} and ${correctB.length} outcomes`,
    );
  for (let i = 0; i < correctA.length; i++)
    if (correctA[i]! > 1 || correctB[i]! > 1)
      throw invalid(`outcome of item ${i} is not 0 (wrong) or 1 (right): ${correctA[i]}, ${correctB[i]}`);
  return correctA.length;
}

import type { ScoreMatrix } from './check-inputs.js';

/**
 * Probabilities are floored here as in scikit-learn's log_loss (eps = 1e-15), so a confident
 * mistake costs about 34.5 nats instead of making the mean infinite.
 */
const LOG_FLOOR = 1e-15;

/**
 * Mean −log p(true class). Unlike log_loss the rows are taken as given, not renormalised to sum
 * to 1; for softmax outputs the difference is float rounding.
 */
export function negativeLogLikelihood(probs: ScoreMatrix, labels: Int32Array, k: number): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum -= Math.log(Math.max(probs[i * k + labels[i]!]!, LOG_FLOOR));
  return sum / n;
}

/** Multi-class Brier score: mean over items of Σ_c (p_c − [c = true])². */
export function brierScore(probs: ScoreMatrix, labels: Int32Array, k: number): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const error = probs[i * k + c]! - (c === labels[i] ? 1 : 0);
      sum += error * error;
    }
  }
  return sum / n;
}

import type { ScoreMatrix } from './check-inputs.js';

/**
 * Index of the largest score in row `i`, ties going to the lowest index as numpy's argmax does,
 * so top-1 predictions agree with scikit-learn's `y_pred = probs.argmax(1)`.
 */
export function rowArgmax(scores: ScoreMatrix, k: number, i: number): number {
  const start = i * k;
  let best = 0;
  for (let c = 1; c < k; c++) if (scores[start + c]! > scores[start + best]!) best = c;
  return best;
}

export function predictedClasses(scores: ScoreMatrix, k: number, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rowArgmax(scores, k, i);
  return out;
}

import type { ScoreMatrix } from './check-inputs.js';

/**
 * Fraction of items whose true class is among the `topK` highest probabilities. A class tied
 * with the true one counts as ranked above it only if its index is lower, the same order
 * numpy's argmax uses, so top-1 equals accuracy. (scikit-learn's top_k_accuracy_score breaks
 * ties towards the higher index instead; the two agree whenever a row has no ties.) O(n·k),
 * no sorting: only the true class's rank matters.
 */
export function topKAccuracy(probs: ScoreMatrix, labels: Int32Array, k: number, topK: number): number {
  const n = labels.length;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    const label = labels[i]!;
    const own = probs[row + label]!;
    let above = 0;
    for (let c = 0; c < k; c++) {
      const p = probs[row + c]!;
      if (p > own || (p === own && c < label)) above++;
    }
    if (above < topK) hits++;
  }
  return hits / n;
}

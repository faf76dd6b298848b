import { checkCount, checkScoredItems, type ScoreMatrix } from './check-inputs.js';
import { rowArgmax } from './row-argmax.js';

export interface LabelIssue {
  /** Row of the item in the inputs. */
  index: number;
  given: number;
  /** The model's top-1 class. */
  suggested: number;
  /** Probability of the given label: the lower, the likelier the label is wrong. */
  selfConfidence: number;
  /** p(suggested) − p(given). */
  margin: number;
}

/**
 * cleanlab counts a probability as confident from 1e-6 below the threshold, so that an item
 * exactly at its class's mean is not lost to the rounding of that mean.
 */
const THRESHOLD_SLACK = 1e-6;

/**
 * Splits `total` into integers proportional to `weights` (not all zero), largest remainders
 * first (ties to the lower index), so the parts sum to `total` exactly.
 */
function apportion(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w * total) / sum);
  const parts = exact.map(Math.floor);
  const left = total - parts.reduce((a, b) => a + b, 0);
  const byRemainder = weights
    .map((_, j) => j)
    .sort((a, b) => exact[b]! - parts[b]! - (exact[a]! - parts[a]!) || a - b);
  for (const j of byRemainder.slice(0, left)) parts[j]!++;
  return parts;
}

/**
 * Likely label errors by confident learning (Northcutt, Jiang & Chuang 2021), as cleanlab's
 * find_label_issues with filter_by='prune_by_noise_rate' and rank_by='self_confidence'. The
 * probabilities must be out-of-sample (held-out or out-of-fold), or the model has memorised the
 * noise it is asked to find. Steps:
 *
 * 1. Threshold t_j = mean p_j over items labelled j (a class without items gets none, so nothing
 *    counts as confidently it).
 * 2. Confident joint C[i][j]: items labelled i whose p_j ≥ t_j − 1e-6, each counted once under
 *    the qualifying j with the largest p_j (as the paper; cleanlab takes the overall argmax).
 *    Items with no qualifying class are not counted. Each non-empty class keeps a diagonal ≥ 1.
 * 3. Calibration: row i rescaled to sum to the n_i items labelled i and rounded by largest
 *    remainder, preserving the row total (cleanlab rounds with its own tie rule). If that
 *    leaves the diagonal at 0, one unit moves to it from the largest off-diagonal entry, so no
 *    label loses all its items (what cleanlab's min_examples_per_class = 1 ensures by other means).
 * 4. Prune by noise rate: for each given label i and each j ≠ i, the C[i][j] items labelled i
 *    with the largest margin p_j − p_i are flagged (ties to the lower index; cleanlab keeps
 *    every item tied at the cut).
 * 5. As cleanlab, items whose top-1 prediction is their given label are not reported.
 *
 * Issues come sorted by ascending self-confidence p(given), then index; `maxIssues` cuts the list.
 */
export function findLabelIssues(
  probs: ScoreMatrix,
  labels: Int32Array,
  k: number,
  o: { maxIssues?: number } = {},
): LabelIssue[] {
  const n = checkScoredItems(probs, labels, k, 'probabilities');
  if (o.maxIssues !== undefined) checkCount('maxIssues', o.maxIssues, 0);
  const byLabel: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) byLabel[labels[i]!]!.push(i);

  const thresholds = byLabel.map((items, j) =>
    items.length ? items.reduce((a, i) => a + probs[i * k + j]!, 0) / items.length : Infinity,
  );
  const joint = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) {
    let guess = -1;
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j]!;
      if (p >= thresholds[j]! - THRESHOLD_SLACK && (guess < 0 || p > probs[i * k + guess]!)) guess = j;
    }
    if (guess >= 0) joint[labels[i]!]![guess]!++;
  }

  const flagged = new Uint8Array(n);
  for (let given = 0; given < k; given++) {
    const items = byLabel[given]!;
    if (!items.length) continue;
    const row = joint[given]!;
    row[given] = Math.max(row[given]!, 1);
    const counts = apportion(row, items.length);
    if (!counts[given]) {
      const from = counts.reduce((best, v, j) => (v > counts[best]! ? j : best), 0);
      counts[from]!--;
      counts[given] = 1;
    }
    for (let j = 0; j < k; j++) {
      const count = counts[j]!;
      if (j === given || !count) continue;
      const margin = (i: number) => probs[i * k + j]! - probs[i * k + given]!;
      const ranked = [...items].sort((a, b) => margin(b) - margin(a) || a - b);
      for (const i of ranked.slice(0, count)) flagged[i] = 1;
    }
  }

  const issues: LabelIssue[] = [];
  for (let i = 0; i < n; i++) {
    if (!flagged[i]) continue;
    const given = labels[i]!;
    const suggested = rowArgmax(probs, k, i);
    if (suggested === given) continue;
    const selfConfidence = probs[i * k + given]!;
    issues.push({
      index: i,
      given,
      suggested,
      selfConfidence,
      margin: probs[i * k + suggested]! - selfConfidence,
    });
  }
  issues.sort((a, b) => a.selfConfidence - b.selfConfidence || a.index - b.index);
  return o.maxIssues === undefined ? issues : issues.slice(0, o.maxIssues);
}

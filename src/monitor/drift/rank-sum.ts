import { normalUpperQuantile, normalUpperTail } from './normal-tail.js';

export interface RankSumResult {
  /** P(a > b) + ½·P(a = b) for a drawn from `greater` and b from `lesser`: the AUC of telling them apart. */
  auc: number;
  /** The standardised rank sum (continuity-corrected): large when `greater` really is larger. */
  z: number;
  /** One-sided: the chance of an AUC this high if both samples came from one distribution. */
  pValue: number;
  /** The AUC at which the p-value would be `level` (for showing what a verdict was held to). */
  aucAt(level: number): number;
}

/**
 * The one-sided Mann–Whitney U (Wilcoxon rank-sum) test that values of `greater` tend to exceed
 * those of `lesser`, with midranks for ties, the tie-corrected variance and the normal
 * approximation with continuity correction (scipy.stats.mannwhitneyu, alternative='greater',
 * method='asymptotic'). The samples here are hundreds of values, where the approximation is
 * close, and the exact distribution with ties would cost far more than it adds.
 */
export function rankSumTest(greater: ArrayLike<number>, lesser: ArrayLike<number>): RankSumResult {
  const n1 = greater.length;
  const n2 = lesser.length;
  if (!n1 || !n2) throw new RangeError('a rank-sum test needs values on both sides');
  const n = n1 + n2;
  const values = new Float64Array(n);
  for (let i = 0; i < n1; i++) values[i] = greater[i]!;
  for (let i = 0; i < n2; i++) values[n1 + i] = lesser[i]!;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  let rankSum = 0;
  let tieTerm = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && values[order[end]!] === values[order[start]!]) end++;
    const midrank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if (order[k]! < n1) rankSum += midrank;
    const t = end - start;
    tieTerm += t * t * t - t;
    start = end;
  }
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const sd = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  // Every value equal: no evidence either way.
  const z = sd > 0 ? (u - mean - 0.5) / sd : 0;
  return {
    auc: u / (n1 * n2),
    z,
    pValue: sd > 0 ? normalUpperTail(z) : 1,
    aucAt: (level) => (mean + 0.5 + normalUpperQuantile(level) * sd) / (n1 * n2),
  };
}

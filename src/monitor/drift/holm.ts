export interface HolmDecision {
  /** The level each p-value was held to, in the order given. */
  thresholds: number[];
  rejected: boolean[];
}

/**
 * Holm's step-down procedure: the smallest of k p-values is held to α/k, the next to α/(k−1),
 * and so on until one fails; that one and every larger p-value are kept. The chance that any
 * test alarms when nothing drifted (the family-wise error rate) stays at most α whatever the
 * dependence between the tests, and "any alarm" is then exactly Bonferroni's min p ≤ α/k; Holm
 * only lets the tests after the first alarm pass more easily, for the per-test verdicts.
 */
export function holm(pValues: readonly number[], alpha: number): HolmDecision {
  const k = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p || a.i - b.i);
  const thresholds = new Array<number>(k);
  const rejected = new Array<boolean>(k).fill(false);
  let stopped = false;
  order.forEach(({ p, i }, rank) => {
    thresholds[i] = alpha / (k - rank);
    if (!stopped && p <= thresholds[i]!) rejected[i] = true;
    else stopped = true;
  });
  return { thresholds, rejected };
}

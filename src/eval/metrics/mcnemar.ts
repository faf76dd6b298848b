import { checkPairedOutcomes } from './check-inputs.js';
import { chiSquareSurvival1Dof } from './chi-square-survival.js';

export interface McNemarResult {
  /** Items model A gets right and model B wrong. */
  b: number;
  /** Items model A gets wrong and model B right. */
  c: number;
  /** min(b, c) for the exact test; (|b − c| − 1)² / (b + c) for the chi-square one. */
  statistic: number;
  pValue: number;
  method: 'exact' | 'chi2';
}

/** Below this many discordant items the chi-square approximation is too coarse. */
const EXACT_BELOW = 25;

/**
 * McNemar's test of whether two models scored on the same items differ in accuracy. Only the
 * discordant items carry evidence; under the null each is equally likely to favour either model.
 * With b + c < 25 it is the exact two-sided binomial test, p = min(1, 2·P(X ≤ min(b, c))) for
 * X ~ Bin(b + c, ½) (scipy's binomtest gives the same for p = ½); otherwise the chi-square test
 * with continuity correction and one degree of freedom.
 */
export function mcnemar(correctA: Uint8Array, correctB: Uint8Array): McNemarResult {
  const n = checkPairedOutcomes(correctA, correctB);
  let b = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (correctA[i] && !correctB[i]) b++;
    else if (!correctA[i] && correctB[i]) c++;
  }
  const m = b + c;
  if (m < EXACT_BELOW) {
    const low = Math.min(b, c);
    // C(m, i) stays an exact integer in a double for m < 25, so the tail sum is exact.
    let choose = 1;
    let tail = 1;
    for (let i = 1; i <= low; i++) {
      choose = (choose * (m - i + 1)) / i;
      tail += choose;
    }
    return { b, c, statistic: low, pValue: Math.min(1, (2 * tail) / 2 ** m), method: 'exact' };
  }
  const statistic = (Math.abs(b - c) - 1) ** 2 / m;
  return { b, c, statistic, pValue: chiSquareSurvival1Dof(statistic), method: 'chi2' };
}

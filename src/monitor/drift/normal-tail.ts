import { chiSquareSurvival1Dof } from '../../eval/metrics/chi-square-survival.js';

/** P(Z ≥ z) for a standard normal Z: half the two-sided tail that a 1-dof chi-square gives for z². */
export function normalUpperTail(z: number): number {
  const half = chiSquareSurvival1Dof(z * z) / 2;
  return z >= 0 ? half : 1 - half;
}

/**
 * The z with P(Z ≥ z) = p, for 0 < p < 1. Bisection on normalUpperTail, which is monotone: it
 * is only needed to show the threshold a statistic was held to, so a closed-form inverse is not
 * worth its own approximation error.
 */
export function normalUpperQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`a tail probability is in (0, 1), got ${p}`);
  let low = -40;
  let high = 40;
  for (let i = 0; i < 200 && high - low > 1e-12; i++) {
    const mid = (low + high) / 2;
    if (normalUpperTail(mid) > p) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

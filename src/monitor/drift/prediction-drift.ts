import { chiSquareSurvival } from '../../eval/metrics/chi-square-survival.js';

export interface PredictionDriftResult {
  /** Pearson's chi-square of the 2 × bins table of predicted-class counts (reference, window). */
  chiSquare: number;
  dof: number;
  pValue: number;
  /** Population stability index of the window's class shares against the reference's. */
  psi: number;
  /** Classes pooled into one bin because the window would expect fewer than 5 of each. */
  pooled: string[];
}

/** Below this expected count a cell makes the chi-square approximation unreliable (Cochran's rule). */
const MIN_EXPECTED = 5;

/**
 * Whether the window predicts classes in other proportions than the reference: the chi-square
 * test of homogeneity on the 2 × k table of counts (both sides are samples, so this rather than
 * goodness of fit against the reference's shares taken as exact), with classes the window would
 * expect fewer than 5 of pooled into one bin. The PSI, Σ (w − r)·ln(w / r) over class shares
 * (each count plus ½, so an empty class stays finite), is reported as the effect size people
 * know from credit-risk monitoring (< 0.1 stable, 0.1–0.25 moderate, > 0.25 major).
 */
export function predictionDriftTest(
  classes: readonly string[],
  referenceCounts: ArrayLike<number>,
  windowCounts: ArrayLike<number>,
): PredictionDriftResult {
  const k = classes.length;
  if (referenceCounts.length !== k || windowCounts.length !== k)
    throw new RangeError(`counts for ${k} classes expected`);
  const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
  const m = sum(referenceCounts);
  const n = sum(windowCounts);
  if (!m || !n) throw new RangeError('prediction drift needs predictions on both sides');

  let psi = 0;
  for (let c = 0; c < k; c++) {
    const r = (referenceCounts[c]! + 0.5) / (m + 0.5 * k);
    const w = (windowCounts[c]! + 0.5) / (n + 0.5 * k);
    psi += (w - r) * Math.log(w / r);
  }

  const bins: { ref: number; win: number }[] = [];
  const pooledBin = { ref: 0, win: 0 };
  const pooled: string[] = [];
  for (let c = 0; c < k; c++) {
    const ref = referenceCounts[c]!;
    const win = windowCounts[c]!;
    if (ref + win === 0) continue;
    if (((ref + win) * n) / (m + n) < MIN_EXPECTED) {
      pooledBin.ref += ref;
      pooledBin.win += win;
      pooled.push(classes[c]!);
    } else bins.push({ ref, win });
  }
  if (pooled.length) bins.push(pooledBin);
  let chiSquare = 0;
  for (const b of bins) {
    const total = b.ref + b.win;
    const expectRef = (total * m) / (m + n);
    const expectWin = (total * n) / (m + n);
    chiSquare += (b.ref - expectRef) ** 2 / expectRef + (b.win - expectWin) ** 2 / expectWin;
  }
  const dof = bins.length - 1;
  return { chiSquare, dof, pValue: dof > 0 ? chiSquareSurvival(chiSquare, dof) : 1, psi, pooled };
}

import { seededRandom, shuffledIndices } from '../../train/random.js';
import { betaBinomialUpperTails } from './beta-binomial-tail.js';
import { nearestDistances } from './nearest-neighbour.js';

/**
 * The share of held-out reference rows a novelty score is calibrated to stay under: a window row
 * farther from the reference than 95% of them counts as an outlier. Measured on the drift
 * benchmark against 0.9 and 0.975: 0.95 caught the most windows with 10% of an unseen class.
 */
export const NOVELTY_QUANTILE = 0.95;

export interface NoveltyFractionOptions {
  /** Seeds the split of the reference into fitted and calibration rows. */
  seed: number;
}

export interface NoveltyFractionResult {
  /** Window rows whose score is above the threshold. */
  exceedances: number;
  windowRows: number;
  /** exceedances / windowRows. */
  share: number;
  /** The share expected when nothing drifted (the calibrated rate, about 1 − NOVELTY_QUANTILE). */
  expectedShare: number;
  /**
   * (share − expected) / (1 − expected), at least 0: how much of the window chance does not
   * explain, an estimate of its novel part (low when novel inputs sit close to the reference).
   */
  excessShare: number;
  /** One-sided: the chance of this many exceedances or more if the window is like the reference. */
  pValue: number;
  /** The share of exceedances at which the p-value reaches `level`; null when no count can. */
  shareAt(level: number): number | null;
  /** The score above which a window row counts as an outlier. */
  threshold: number;
  fitRows: number;
  calibrationRows: number;
  /** Scores of the calibration rows and of the window rows, for the report's chart. */
  scores: { calibration: Float64Array; window: Float64Array };
}

/**
 * Whether more of the window lies away from the reference than chance allows: a test aimed at a
 * small novel sub-population (an unseen class in a tenth of the window) that whole-distribution
 * tests such as MMD dilute.
 *
 * Each row is scored by its distance to its nearest neighbour among half the reference rows (the
 * fitted half), on unit-length embeddings: with the direction of an embedding kept and its length
 * dropped, nearest-neighbour distances tell an unseen class apart far better (Sun et al. 2022,
 * "Out-of-distribution detection with deep nearest neighbors"; on the drift benchmark, 92% of
 * windows with 10% of an unseen class at level 0.01 against 46% without). The threshold is the
 * k-th smallest score of the other half (the calibration rows), k = ⌈q·(m + 1)⌉ of m: split
 * conformal calibration, so the share of unchanged inputs above it is about 1 − q by
 * construction, not by any assumption about the scores' distribution.
 *
 * The count of window rows above the threshold is then tested against its exact distribution
 * when window and reference rows are exchangeable: the threshold cuts off a share
 * p ~ Beta(m − k + 1, k) of the score distribution, so the count is BetaBinomial(n, m − k + 1, k).
 * A plain Binomial(n, 1 − q) would ignore that the threshold is itself estimated from m rows and
 * alarm too often: at level 0.01 with a window of 200, on 1.8% of unchanged windows with 500
 * calibration rows (the default reference of 1,000), on 38% with 10 (the smallest reference).
 */
export function noveltyFractionTest(
  reference: Float32Array,
  window: Float32Array,
  dim: number,
  o: NoveltyFractionOptions,
): NoveltyFractionResult {
  const m = reference.length / dim;
  const n = window.length / dim;
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 2 || n < 1)
    throw new RangeError(
      `the novelty test needs at least two reference rows and one window row of ${dim} values`,
    );
  const unitReference = unitRows(reference, dim);
  const order = shuffledIndices(m, seededRandom(o.seed));
  const fitRows = m >> 1;
  const rowsOf = (idx: Uint32Array) => {
    const out = new Float32Array(idx.length * dim);
    idx.forEach((r, i) => out.set(unitReference.subarray(r * dim, (r + 1) * dim), i * dim));
    return out;
  };
  const fit = rowsOf(order.subarray(0, fitRows));
  const calibration = nearestDistances(fit, rowsOf(order.subarray(fitRows)), dim);
  const windowScores = nearestDistances(fit, unitRows(window, dim), dim);

  const mc = calibration.length;
  const sorted = Float64Array.from(calibration).sort();
  // With fewer than q/(1 − q) calibration rows the largest is the highest threshold there is;
  // the beta-binomial below accounts for whichever rank is used.
  const k = Math.min(mc, Math.ceil(NOVELTY_QUANTILE * (mc + 1)));
  const threshold = sorted[k - 1]!;
  let exceedances = 0;
  for (const s of windowScores) if (s > threshold) exceedances++;
  const a = mc - k + 1;
  const tails = betaBinomialUpperTails(n, a, k);
  const expectedShare = a / (mc + 1);
  const share = exceedances / n;
  return {
    exceedances,
    windowRows: n,
    share,
    expectedShare,
    excessShare: Math.max(0, (share - expectedShare) / (1 - expectedShare)),
    pValue: tails[exceedances]!,
    shareAt: (level) => {
      const c = tails.findIndex((t) => t <= level);
      return c <= n ? c / n : null;
    },
    threshold,
    fitRows,
    calibrationRows: mc,
    scores: { calibration, window: windowScores },
  };
}

/** Each row scaled to unit length; an all-zero row stays zero. */
function unitRows(x: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += dim) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += x[i + k]! * x[i + k]!;
    const scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < dim; k++) out[i + k] = x[i + k]! * scale;
  }
  return out;
}

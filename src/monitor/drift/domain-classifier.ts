import { seededRandom, shuffledIndices } from '../../train/random.js';
import { fitLogistic, logisticScores } from './logistic-regression.js';
import { rankSumTest } from './rank-sum.js';

export interface DomainClassifierOptions {
  seed: number;
  /** L2 penalty on standardised features; it keeps a separable training half from running off to infinity. */
  l2: number;
  /** The share of each side the classifier learns from; the rest is scored. */
  trainFraction?: number;
}

export interface DomainClassifierResult {
  /** AUC, on held-out rows, of telling window rows from reference rows: 0.5 when they cannot be told apart. */
  auc: number;
  /** One-sided: the chance of an AUC this high if the window came from the reference's distribution. */
  pValue: number;
  /** The AUC at which the p-value would be `level`. */
  aucAt(level: number): number;
  /** Rows scored on each side. */
  scored: { reference: number; window: number };
}

/**
 * The domain-classifier test (alibi-detect's ClassifierDrift, with a small model): a logistic
 * regression on each feature and its square learns to tell window rows from reference rows on
 * a stratified half of each, and
 * scores the other half. If the two samples come from one distribution nothing it learnt
 * generalises and the held-out AUC hovers at 0.5; the p-value is the rank-sum test of held-out
 * window scores above held-out reference scores, which is exact under the null because the
 * model never saw the rows it scores.
 *
 * Why not k-fold out-of-fold scores: pooled across folds their AUC varies more than the
 * rank-sum null allows (measured on Gaussian data, 1000 vs 200 rows in 32 dimensions: standard
 * deviation 0.033 against 0.022), which gave 16% false alarms at a 5% level.
 */
export function domainClassifierTest(
  reference: Float32Array,
  window: Float32Array,
  dim: number,
  o: DomainClassifierOptions,
): DomainClassifierResult {
  const m = reference.length / dim;
  const n = window.length / dim;
  const share = o.trainFraction ?? 0.5;
  const split = (count: number, random: () => number) => {
    const order = shuffledIndices(count, random);
    const cut = Math.round(count * share);
    return { train: [...order.subarray(0, cut)], test: [...order.subarray(cut)] };
  };
  const random = seededRandom(o.seed);
  const ref = split(m, random);
  const win = split(n, random);
  if (!ref.train.length || !ref.test.length || !win.train.length || !win.test.length)
    throw new RangeError('the domain classifier needs at least two rows on each side');
  // Each standardised feature z and z² − 1: a linear model of z alone sees only a moved mean,
  // the squares let it see a spread that grew or shrank (a blurred or brightened input).
  const features = 2 * dim;
  const rows = (from: Float32Array, idx: number[], mean: Float64Array, scale: Float64Array) => {
    const out = new Float64Array(idx.length * features);
    idx.forEach((r, i) => {
      for (let k = 0; k < dim; k++) {
        const z = (from[r * dim + k]! - mean[k]!) / scale[k]!;
        out[i * features + k] = z;
        out[i * features + dim + k] = z * z - 1;
      }
    });
    return out;
  };
  const { mean, scale } = standardisation([reference, window], [ref.train, win.train], dim);
  const x = new Float64Array((ref.train.length + win.train.length) * features);
  x.set(rows(reference, ref.train, mean, scale));
  x.set(rows(window, win.train, mean, scale), ref.train.length * features);
  const y = new Float64Array(ref.train.length + win.train.length).fill(1, ref.train.length);
  const model = fitLogistic(x, y, features, { l2: o.l2 });
  const refScores = logisticScores(model, rows(reference, ref.test, mean, scale), ref.test.length);
  const winScores = logisticScores(model, rows(window, win.test, mean, scale), win.test.length);
  const rs = rankSumTest(winScores, refScores);
  return {
    auc: rs.auc,
    pValue: rs.pValue,
    aucAt: rs.aucAt,
    scored: { reference: ref.test.length, window: win.test.length },
  };
}

/** Per-feature mean and standard deviation over the chosen rows (a constant feature keeps scale 1). */
function standardisation(
  sides: Float32Array[],
  chosen: number[][],
  dim: number,
): { mean: Float64Array; scale: Float64Array } {
  const mean = new Float64Array(dim);
  const scale = new Float64Array(dim);
  let count = 0;
  sides.forEach((x, s) => {
    for (const r of chosen[s]!) for (let k = 0; k < dim; k++) mean[k]! += x[r * dim + k]!;
    count += chosen[s]!.length;
  });
  for (let k = 0; k < dim; k++) mean[k]! /= count;
  sides.forEach((x, s) => {
    for (const r of chosen[s]!)
      for (let k = 0; k < dim; k++) {
        const d = x[r * dim + k]! - mean[k]!;
        scale[k]! += d * d;
      }
  });
  for (let k = 0; k < dim; k++) {
    const sd = Math.sqrt(scale[k]! / count);
    scale[k] = sd > 1e-12 ? sd : 1;
  }
  return { mean, scale };
}

import { LoupeError } from '../../errors/loupe-error.js';
import { checkCount, checkScoredItems, checkScoreValues, type ScoreMatrix } from './check-inputs.js';

/** The fitted temperature is clamped to this range; beyond it the model is degenerate anyway. */
const T_MIN = 0.01;
const T_MAX = 100;

/**
 * Slope and curvature of the mean NLL of softmax(β·z) in β = 1/T. dNLL/dβ is the mean of
 * E_p[z] − z_true and the curvature the mean of Var_p[z] ≥ 0, so NLL is convex in β. Both are
 * taken relative to the true logit (and the mean), which keeps them exact zeros when a row's
 * logits are all equal.
 */
function slope(logits: ScoreMatrix, labels: Int32Array, k: number, beta: number, e: Float64Array) {
  const n = labels.length;
  let g = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[row + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += e[c] = Math.exp(beta * (logits[row + c]! - max));
    const own = logits[row + labels[i]!]!;
    let gap = 0;
    for (let c = 0; c < k; c++) gap += e[c]! * (logits[row + c]! - own);
    gap /= sum;
    let variance = 0;
    for (let c = 0; c < k; c++) {
      const d = logits[row + c]! - own - gap;
      variance += e[c]! * d * d;
    }
    g += gap;
    h += variance / sum;
  }
  return { g: g / n, h: h / n };
}

/**
 * The temperature T minimising the mean NLL of softmax(logits / T) against the labels (Guo et
 * al. 2017). NLL is convex in 1/T, so its minimum is the single root of the slope: found by
 * Newton steps in 1/T, each falling back to bisection in log T when it would leave the bracket
 * that the slope's sign maintains. The result is clamped to [0.01, 100]: T = 0.01 when the
 * logits separate every item correctly (NLL keeps falling as T → 0) and 100 when they are no
 * better than uniform. Returns 1 for no items or logits that make every T equally good.
 */
export function fitTemperature(logits: ScoreMatrix, labels: Int32Array, k: number): number {
  const n = checkScoredItems(logits, labels, k, 'logits');
  if (!n) return 1;
  const scratch = new Float64Array(k);
  let lo = 1 / T_MAX;
  let hi = 1 / T_MIN;
  const gLo = slope(logits, labels, k, lo, scratch).g;
  const gHi = slope(logits, labels, k, hi, scratch).g;
  if (gLo >= 0 && gHi <= 0) return 1;
  if (gLo >= 0) return T_MAX;
  if (gHi <= 0) return T_MIN;
  let beta = 1;
  for (let iteration = 0; iteration < 200; iteration++) {
    const { g, h } = slope(logits, labels, k, beta, scratch);
    if (g === 0) break;
    if (g < 0) lo = beta;
    else hi = beta;
    const newton = beta - g / h;
    const next = newton > lo && newton < hi ? newton : Math.sqrt(lo * hi);
    const converged = Math.abs(next - beta) <= 1e-13 * beta || hi - lo <= 1e-13 * beta;
    beta = next;
    if (converged) break;
  }
  return 1 / beta;
}

/** softmax(logits / T) row by row, computed in float64 with the row maximum subtracted. */
export function softmaxWithTemperature(logits: ScoreMatrix, k: number, temperature: number): Float32Array {
  if (!(temperature > 0 && Number.isFinite(temperature)))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `temperature must be a positive finite number, got ${temperature}`,
    );
  checkCount('the number of classes', k, 1);
  if (logits.length % k)
    throw new LoupeError('INVALID_ARGUMENT', `${logits.length} logits do not form rows of ${k} classes`);
  checkScoreValues(logits, k, 'logits');
  const out = new Float32Array(logits.length);
  const e = new Float64Array(k);
  for (let row = 0; row < logits.length; row += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[row + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += e[c] = Math.exp((logits[row + c]! - max) / temperature);
    for (let c = 0; c < k; c++) out[row + c] = e[c]! / sum;
  }
  return out;
}

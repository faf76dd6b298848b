import { seededRandom } from '../../train/random.js';

export interface MmdOptions {
  /** Random reassignments of the pooled sample that make the null distribution. */
  permutations: number;
  seed: number;
}

export interface MmdResult {
  /** The unbiased estimate of MMD² between the two samples. */
  statistic: number;
  /** (1 + permutations at least as large) / (1 + permutations): never 0, exact under the null. */
  pValue: number;
  /** The RBF kernel's bandwidth σ, from the median heuristic over the pooled sample. */
  bandwidth: number;
  /** MMD² of each permutation: the null distribution the statistic is compared with. */
  null: Float64Array;
}

/**
 * A kernel two-sample test (Gretton et al., 2012) as alibi-detect's MMDDrift runs it: an RBF
 * kernel k(a, b) = exp(−‖a − b‖² / 2σ²) with σ² half the median squared distance of the pooled
 * sample, the unbiased MMD² estimator, and a permutation p-value. `x` (m rows) and `y` (n rows)
 * are row-major with `dim` columns.
 *
 * Why this shape: the median heuristic adapts the kernel to whatever scale the embeddings have;
 * the bandwidth is a symmetric function of the pooled sample, so the permutation test stays
 * exact. Each permutation costs O(n²), not O((m + n)²): with r_i the kernel row sums (off the
 * diagonal) and T their total, a reassignment that makes Y the second sample has
 * S_yy = Σ_{i≠j∈Y} k_ij, S_xy = Σ_{i∈Y} r_i − S_yy and S_xx = T − S_yy − 2·S_xy, so only the
 * smaller sample's block is summed — a thousand permutations take tens of milliseconds.
 */
export function mmdTest(x: Float32Array, y: Float32Array, dim: number, o: MmdOptions): MmdResult {
  const m = x.length / dim;
  const n = y.length / dim;
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 2 || n < 2)
    throw new RangeError(`MMD needs at least two rows of ${dim} values on each side`);
  if (!Number.isInteger(o.permutations) || o.permutations < 1)
    throw new RangeError(`permutations must be a positive integer, got ${o.permutations}`);
  // The smaller sample is the one each permutation sums over; the statistic is symmetric.
  const [first, second, nFirst, nSecond] = m >= n ? [x, y, m, n] : [y, x, n, m];
  const total = nFirst + nSecond;
  const pooled = new Float64Array(total * dim);
  pooled.set(first);
  pooled.set(second, nFirst * dim);

  const kernel = new Float64Array(total * total);
  const pairs = new Float64Array((total * (total - 1)) / 2);
  for (let i = 0, p = 0; i < total; i++) {
    const a = i * dim;
    for (let j = i + 1; j < total; j++, p++) {
      const b = j * dim;
      let d = 0;
      for (let k = 0; k < dim; k++) {
        const t = pooled[a + k]! - pooled[b + k]!;
        d += t * t;
      }
      kernel[i * total + j] = d;
      pairs[p] = d;
    }
  }
  const median = selectInPlace(pairs, pairs.length >> 1);
  // All points equal: any bandwidth gives the same (zero) statistic.
  const twoSigmaSq = median > 0 ? median : 1;
  const rowSums = new Float64Array(total);
  for (let i = 0; i < total; i++)
    for (let j = i + 1; j < total; j++) {
      const k = Math.exp(-kernel[i * total + j]! / twoSigmaSq);
      kernel[i * total + j] = k;
      kernel[j * total + i] = k;
      rowSums[i]! += k;
      rowSums[j]! += k;
    }
  let sumAll = 0;
  for (let i = 0; i < total; i++) sumAll += rowSums[i]!;

  const statisticOf = (ys: Uint32Array) => {
    let syy = 0;
    let ry = 0;
    for (let a = 0; a < nSecond; a++) {
      const i = ys[a]!;
      ry += rowSums[i]!;
      const row = i * total;
      for (let b = a + 1; b < nSecond; b++) syy += kernel[row + ys[b]!]!;
    }
    syy *= 2;
    const sxy = ry - syy;
    const sxx = sumAll - syy - 2 * sxy;
    return sxx / (nFirst * (nFirst - 1)) + syy / (nSecond * (nSecond - 1)) - (2 * sxy) / (nFirst * nSecond);
  };

  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const statistic = statisticOf(order.subarray(nFirst));
  const random = seededRandom(o.seed);
  const nullStats = new Float64Array(o.permutations);
  let atLeast = 0;
  for (let p = 0; p < o.permutations; p++) {
    // A partial Fisher–Yates over the tail: a uniform random subset whatever order it starts in.
    for (let i = total - 1; i >= nFirst; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    const s = statisticOf(order.subarray(nFirst));
    nullStats[p] = s;
    if (s >= statistic) atLeast++;
  }
  return {
    statistic,
    pValue: (1 + atLeast) / (1 + o.permutations),
    bandwidth: Math.sqrt(twoSigmaSq / 2),
    null: nullStats,
  };
}

/**
 * The k-th smallest value (0-based), found by Hoare's selection with a median-of-three pivot,
 * reordering `values`. A full sort of the ~10⁶ pairwise distances would cost several times more
 * than the rest of the test; no maintained selection routine is among the dependencies.
 */
function selectInPlace(values: Float64Array, k: number): number {
  let low = 0;
  let high = values.length - 1;
  while (high > low) {
    const mid = (low + high) >> 1;
    const [a, b, c] = [values[low]!, values[mid]!, values[high]!];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = low;
    let j = high;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i++] = values[j]!;
        values[j--] = t;
      }
    }
    if (k <= j) high = j;
    else if (k >= i) low = i;
    else return values[k]!;
  }
  return values[k]!;
}

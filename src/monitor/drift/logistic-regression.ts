/**
 * Binary logistic regression with an L2 penalty on the weights (not the intercept), fitted by
 * Newton's method: the loss is convex and the problems here are small (hundreds of rows, a few
 * dozen features), so a handful of exact Newton steps converge with no learning rate to tune.
 * Hand-written because no numerical library is among the dependencies; it is the textbook
 * iteratively-reweighted least squares, checked against scikit-learn in the tests.
 */
export interface LogisticModel {
  /** dim weights, then the intercept. */
  coef: Float64Array;
  dim: number;
}

export function fitLogistic(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  dim: number,
  o: { l2: number; maxIter?: number; tolerance?: number },
): LogisticModel {
  const n = y.length;
  const p = dim + 1;
  const coef = new Float64Array(p);
  const grad = new Float64Array(p);
  const hess = new Float64Array(p * p);
  const row = new Float64Array(p);
  for (let iter = 0; iter < (o.maxIter ?? 50); iter++) {
    grad.fill(0);
    hess.fill(0);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < dim; k++) row[k] = x[i * dim + k]!;
      row[dim] = 1;
      let f = 0;
      for (let k = 0; k < p; k++) f += coef[k]! * row[k]!;
      const prob = 1 / (1 + Math.exp(-f));
      const r = prob - y[i]!;
      const w = Math.max(prob * (1 - prob), 1e-12);
      for (let a = 0; a < p; a++) {
        grad[a]! += r * row[a]!;
        const wa = w * row[a]!;
        for (let b = a; b < p; b++) hess[a * p + b]! += wa * row[b]!;
      }
    }
    for (let a = 0; a < dim; a++) {
      grad[a]! += o.l2 * coef[a]!;
      hess[a * p + a]! += o.l2;
    }
    // A little on the intercept's diagonal too: with one class absent from a fold it has no optimum.
    hess[dim * p + dim]! += 1e-9;
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) hess[a * p + b] = hess[b * p + a]!;
    const step = solveCholesky(hess, grad, p);
    let size = 0;
    for (let k = 0; k < p; k++) {
      coef[k]! -= step[k]!;
      size = Math.max(size, Math.abs(step[k]!));
    }
    if (size < (o.tolerance ?? 1e-8)) break;
  }
  return { coef, dim };
}

/** The linear score (log-odds) of each row. */
export function logisticScores(model: LogisticModel, x: ArrayLike<number>, n: number): Float64Array {
  const { coef, dim } = model;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let f = coef[dim]!;
    for (let k = 0; k < dim; k++) f += coef[k]! * x[i * dim + k]!;
    out[i] = f;
  }
  return out;
}

/** Solves A·s = b for a symmetric positive-definite A (p × p, row-major). */
function solveCholesky(a: Float64Array, b: Float64Array, p: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j]!;
      for (let k = 0; k < j; k++) s -= l[i * p + k]! * l[j * p + k]!;
      l[i * p + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / l[j * p + j]!;
    }
  const z = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * p + k]! * z[k]!;
    z[i] = s / l[i * p + i]!;
  }
  const s = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let t = z[i]!;
    for (let k = i + 1; k < p; k++) t -= l[k * p + i]! * s[k]!;
    s[i] = t / l[i * p + i]!;
  }
  return s;
}

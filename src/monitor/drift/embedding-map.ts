import { seededRandom } from '../../train/random.js';

export interface EmbeddingMap {
  reference: [number, number][];
  window: [number, number][];
  /** Share of the reference's variance the two axes show. */
  explained: number;
}

/**
 * Both samples on the reference's first two principal axes, for a picture of where the window
 * sits. The axes come from power iteration with deflation on the reference's covariance: two
 * eigenvectors of a matrix a few dozen wide need nothing more (and no linear-algebra library is
 * among the dependencies).
 */
export function embeddingMap(
  reference: Float32Array,
  window: Float32Array,
  dim: number,
  seed: number,
): EmbeddingMap {
  const m = reference.length / dim;
  const mean = new Float64Array(dim);
  for (let i = 0; i < m; i++) for (let k = 0; k < dim; k++) mean[k]! += reference[i * dim + k]! / m;
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < m; i++)
    for (let a = 0; a < dim; a++) {
      const da = reference[i * dim + a]! - mean[a]!;
      for (let b = a; b < dim; b++) cov[a * dim + b]! += (da * (reference[i * dim + b]! - mean[b]!)) / m;
    }
  let trace = 0;
  for (let a = 0; a < dim; a++) {
    trace += cov[a * dim + a]!;
    for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a]!;
  }
  const random = seededRandom(seed);
  const axes: Float64Array[] = [];
  let shown = 0;
  for (let axis = 0; axis < 2; axis++) {
    let v = Float64Array.from({ length: dim }, () => random() - 0.5);
    let value = 0;
    for (let iter = 0; iter < 300; iter++) {
      const next = new Float64Array(dim);
      for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) next[a]! += cov[a * dim + b]! * v[b]!;
      for (const u of axes) {
        let dot = 0;
        for (let a = 0; a < dim; a++) dot += next[a]! * u[a]!;
        for (let a = 0; a < dim; a++) next[a]! -= dot * u[a]!;
      }
      const norm = Math.hypot(...next);
      if (!(norm > 0)) break;
      for (let a = 0; a < dim; a++) next[a]! /= norm;
      const change = next.reduce((s, x, a) => s + Math.abs(x - v[a]!), 0);
      v = next;
      value = norm;
      if (change < 1e-9) break;
    }
    axes.push(v);
    shown += value;
    // Deflated: the next axis is the top eigenvector of what this one leaves.
    for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) cov[a * dim + b]! -= value * v[a]! * v[b]!;
  }
  const place = (x: Float32Array): [number, number][] =>
    Array.from({ length: x.length / dim }, (_, i) => {
      const at = axes.map((u) => {
        let s = 0;
        for (let k = 0; k < dim; k++) s += (x[i * dim + k]! - mean[k]!) * u[k]!;
        return s;
      });
      return [at[0]!, at[1]!];
    });
  return { reference: place(reference), window: place(window), explained: trace > 0 ? shown / trace : 0 };
}

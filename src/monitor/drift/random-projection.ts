import { seededRandom } from '../../train/random.js';

/** A fixed linear map of embeddings to fewer dimensions; `matrix` null is the identity. */
export interface Projection {
  from: number;
  to: number;
  /** from × to, row-major. */
  matrix: Float32Array | null;
}

/**
 * A seeded random projection (Achlioptas's ±1/√k entries, a Johnson–Lindenstrauss map) to at
 * most `to` dimensions. Why random rather than PCA learnt on the reference: PCA keeps only the
 * directions the reference varies in, and a shift that moves inputs along a direction the
 * reference barely uses (an unseen class lighting up other features) would be projected away;
 * a random map keeps every direction's distances, in expectation, at a cost independent of the
 * data. Why project at all: kernel distances over a few dozen dimensions cost a fraction of
 * those over hundreds (MobileNetV2's 1280), and the same seed gives the same map on every check.
 */
export function randomProjection(from: number, to: number, seed: number): Projection {
  if (from <= to) return { from, to: from, matrix: null };
  const random = seededRandom(seed);
  const scale = 1 / Math.sqrt(to);
  const matrix = Float32Array.from({ length: from * to }, () => (random() < 0.5 ? -scale : scale));
  return { from, to, matrix };
}

/** Rows of `x` (each `p.from` values) mapped to `p.to` values each. */
export function project(p: Projection, x: Float32Array): Float32Array {
  if (!p.matrix) return x;
  const n = x.length / p.from;
  const out = new Float32Array(n * p.to);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < p.from; k++) {
      const v = x[i * p.from + k]!;
      if (v === 0) continue;
      const row = k * p.to;
      for (let j = 0; j < p.to; j++) out[i * p.to + j]! += v * p.matrix[row + j]!;
    }
  return out;
}

/**
 * For each row of `queries`, the Euclidean distance to its nearest row of `points` (both
 * row-major, `dim` values per row).
 *
 * An exact scan rather than an index (no nearest-neighbour library is among the dependencies,
 * and none is needed here): a drift check asks for about 1,200 queries against 500 points in 32
 * dimensions, some 20 million multiply-adds, a few tens of milliseconds, where building a tree or
 * graph index would cost about as much as it saves.
 */
export function nearestDistances(points: Float32Array, queries: Float32Array, dim: number): Float64Array {
  const m = points.length / dim;
  const n = queries.length / dim;
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 1)
    throw new RangeError(`nearest neighbours need at least one point of ${dim} values`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const q = i * dim;
    let best = Infinity;
    for (let j = 0; j < m; j++) {
      const p = j * dim;
      let d = 0;
      // Stops a row once it is already farther than the best: most rows are, after a few values.
      for (let k = 0; k < dim && d < best; k++) {
        const t = queries[q + k]! - points[p + k]!;
        d += t * t;
      }
      if (d < best) best = d;
    }
    out[i] = Math.sqrt(best);
  }
  return out;
}

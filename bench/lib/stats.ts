/** Median of a non-empty list; robust to the odd slow repeat a shared machine produces. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Seconds elapsed since `start` (a value of performance.now()). */
export const secondsSince = (start: number): number => (performance.now() - start) / 1000;

/** A small seeded PRNG (mulberry32): shuffles must be repeatable from a seed, and cheap. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, random: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Resolves after pending I/O callbacks run, so an async native call queued just before has started. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Index of the largest value in each row of a [rows, cols] matrix. */
export function argmaxRows(data: Float32Array, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = data[r * cols]!;
    for (let c = 1; c < cols; c++) {
      const v = data[r * cols + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

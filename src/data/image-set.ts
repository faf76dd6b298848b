/**
 * Decoded images held in memory as one float32 NCHW block, ready for the engine. A training run
 * over a small or embedded dataset works on this directly; larger ones stream it in shards.
 */
export interface ImageSet {
  /** Per-sample shape [channels, height, width]. */
  shape: [number, number, number];
  count: number;
  /** count × channels × height × width values, sample-major. */
  x: Float32Array;
  /** Class index of each sample. */
  labels: Int32Array;
  /** Class names; labels index into this. */
  classes: string[];
}

export function sampleSize(set: Pick<ImageSet, 'shape'>): number {
  return set.shape[0] * set.shape[1] * set.shape[2];
}

/** Copies the given samples (in that order) into a fresh batch; fresh, because the engine may still hold the last one. */
export function gather(set: ImageSet, indices: ArrayLike<number>): { x: Float32Array; labels: Int32Array } {
  const size = sampleSize(set);
  const x = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    x.set(set.x.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = set.labels[j]!;
  }
  return { x, labels };
}

/** A new set holding the given samples. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const { x, labels } = gather(set, indices);
  return { shape: set.shape, count: labels.length, x, labels, classes: set.classes };
}

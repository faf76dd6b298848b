import path from 'node:path';
import type { ImageSet } from '../../src/data/image-set.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../../src/data/datasets/fashion-mnist.js';
import { readIdxPair } from '../../src/data/sources/idx.js';

export const FASHION_MNIST_SIDE = 28;

/** The first `limit` images of a Fashion-MNIST split (all when 0) as float32 in [0, 1], the scaling the baselines use too. */
export async function loadFashionMnistSplit(prefix: 'train' | 't10k', limit: number): Promise<ImageSet> {
  const raw = await readIdxPair(
    path.join(FASHION_MNIST_DIR, `${prefix}-images-idx3-ubyte.gz`),
    path.join(FASHION_MNIST_DIR, `${prefix}-labels-idx1-ubyte.gz`),
  );
  const count = limit > 0 ? Math.min(limit, raw.count) : raw.count;
  const x = new Float32Array(count * FASHION_MNIST_SIDE * FASHION_MNIST_SIDE);
  for (let i = 0; i < x.length; i++) x[i] = raw.pixels[i]! / 255;
  return {
    shape: [1, FASHION_MNIST_SIDE, FASHION_MNIST_SIDE],
    count,
    x,
    labels: Int32Array.from(raw.labels.subarray(0, count)),
    classes: [...FASHION_MNIST_CLASSES],
  };
}

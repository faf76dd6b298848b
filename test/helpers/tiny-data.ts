import type { ImageSet } from '../../src/data/image-set.js';
import { seededRandom } from '../../src/train/random.js';

/**
 * A small, learnable image set: each class is a bright square in its own quadrant over noise,
 * so a tiny CNN can fit it perfectly and a broken engine cannot.
 */
export function quadrantSet(count: number, seed = 1, size = 12): ImageSet {
  const random = seededRandom(seed);
  const x = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  const half = size / 2;
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    labels[i] = label;
    const [oy, ox] = [label < 2 ? 0 : half, label % 2 === 0 ? 0 : half];
    for (let y = 0; y < size; y++) {
      for (let xx = 0; xx < size; xx++) {
        const inside = y >= oy && y < oy + half && xx >= ox && xx < ox + half;
        x[i * size * size + y * size + xx] = (inside ? 0.7 : 0) + random() * 0.3;
      }
    }
  }
  return { shape: [1, size, size], count, x, labels, classes: ['tl', 'tr', 'bl', 'br'] };
}

export function randomInput(n: number, perSample: number, seed = 7): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n * perSample }, () => random() * 2 - 1);
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  augmentBatch,
  imageAugmentSchema,
  scaledImageAugment,
  type ImageAugmentInput,
} from '../src/features/image/augment.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';

const NORM = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const GRAY = { mean: [0.5], std: [0.25] };

/** Random pixels in [0, 1], normalised per channel. */
function batch(shape: [number, number, number, number], norm = NORM, seed = 3): Float32Array {
  const [n, c, h, w] = shape;
  const random = seededRandom(seed);
  const x = new Float32Array(n * c * h * w);
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    x[i] = (random() - norm.mean[ch]!) / norm.std[ch]!;
  }
  return x;
}

/** A `random` that replays the given values, so a test can pick each draw. */
function replay(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const augment = (o: ImageAugmentInput) => imageAugmentSchema.parse(o);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('image augmentation', () => {
  const shape: [number, number, number, number] = [4, 3, 9, 11];
  const x = batch(shape);

  test('the schema defaults to everything off, and is strict', () => {
    assert.deepEqual(augment({}), { flip: false, translate: 0, rotation: 0 });
    assert.deepEqual(augment({ crop: {} }).crop, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    assert.deepEqual(augment({ colorJitter: { contrast: 0.2 } }).colorJitter, {
      brightness: 0,
      contrast: 0.2,
      saturation: 0,
    });
    for (const bad of [
      { flips: true },
      { translate: 1.5 },
      { rotation: -1 },
      { crop: { scale: [0.9, 0.5] } },
      { crop: { scale: [0, 1] } },
    ])
      assert.equal(imageAugmentSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });

  test('every op is the identity when off, and returns a new array', () => {
    const offs: ImageAugmentInput[] = [
      {},
      { colorJitter: {} },
      { rotation: 30 },
      { crop: { scale: [1, 1], ratio: [11 / 9, 11 / 9] } },
      { colorJitter: { saturation: 0.5 } },
    ];
    for (const [i, o] of offs.entries()) {
      // rotation 30 with the middle draw is 0°; saturation does nothing to one channel.
      const input = i === 4 ? batch([2, 1, 5, 5], GRAY) : x;
      const s: [number, number, number, number] = i === 4 ? [2, 1, 5, 5] : shape;
      const out = augmentBatch(input, s, augment(o), replay(0.5), i === 4 ? GRAY : NORM);
      assert.notEqual(out, input);
      assert.deepEqual(out, input, JSON.stringify(o));
    }
  });

  test('a flip mirrors each row exactly, and flipping twice gives the input back', () => {
    const flip = augment({ flip: true });
    const once = augmentBatch(x, shape, flip, replay(0));
    const [, c, h, w] = shape;
    for (let i = 0; i < c * h; i++)
      for (let col = 0; col < w; col++) assert.equal(once[i * w + col], x[i * w + (w - 1 - col)]);
    assert.deepEqual(augmentBatch(once, shape, flip, replay(0)), x);
    assert.deepEqual(augmentBatch(x, shape, flip, replay(0.7)), x, 'draws ≥ 0.5 do not flip');
  });

  test('translate shifts the content by whole pixels and fills with normalised black', () => {
    // Draws of 0.99 give the largest shift, +2 in x and y: content moves right and down.
    const out = augmentBatch(x, shape, augment({ translate: 2 }), replay(0.99), NORM);
    const [n, c, h, w] = shape;
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++)
          for (let col = 0; col < w; col++) {
            const at = ((b * c + ch) * h + y) * w + col;
            const expected = y < 2 || col < 2 ? -NORM.mean[ch]! / NORM.std[ch]! : x[at - 2 * w - 2]!;
            assert.ok(Math.abs(out[at]! - expected) < 1e-6, `${b},${ch},${y},${col}`);
          }
    // 0.0 gives -2: content moves left and up.
    const back = augmentBatch(x, shape, augment({ translate: 2 }), replay(0));
    assert.equal(back[0], x[2 * w + 2]);
    assert.equal(back[h * w - 1], 0, 'without normalisation black is 0');
  });

  test('rotation by 90° on a square turns it counter-clockwise', () => {
    const s: [number, number, number, number] = [1, 2, 7, 7];
    const sq = batch(s);
    // A draw of 1 is the top of the range: +90°.
    const out = augmentBatch(sq, s, augment({ rotation: 90 }), () => 1);
    for (let ch = 0; ch < 2; ch++)
      for (let y = 0; y < 7; y++)
        for (let col = 0; col < 7; col++) {
          // out(x, y) = in(w - 1 - y, x): the right edge goes to the top.
          const expected = sq[ch * 49 + col * 7 + (6 - y)]!;
          assert.ok(Math.abs(out[ch * 49 + y * 7 + col]! - expected) < 1e-5);
        }
    const small = augmentBatch(sq, s, augment({ rotation: 10 }), seededRandom(1));
    assert.ok(maxAbsDiff(small, sq) > 0.01, 'a random angle changes the image');
  });

  test('rotation leaves the corners black and blends the edges of the frame', () => {
    const s: [number, number, number, number] = [1, 1, 21, 21];
    const ones = new Float32Array(21 * 21).fill((1 - 0.5) / 0.25);
    const out = augmentBatch(ones, s, augment({ rotation: 45 }), () => 1, GRAY);
    const black = -0.5 / 0.25;
    assert.equal(out[0], black);
    assert.equal(out[21 * 21 - 1], black);
    assert.ok(Math.abs(out[10 * 21 + 10]! - 2) < 1e-6, 'the centre stays white');
    assert.ok(out.every((v) => v >= black - 1e-6 && v <= 2 + 1e-6));
  });

  test('a crop of the full image is the identity; a smaller one is enlarged bilinearly', () => {
    const s: [number, number, number, number] = [1, 2, 8, 8];
    // value = 10·row + column: bilinear sampling reproduces a linear function exactly.
    const plane = Float32Array.from({ length: 128 }, (_, i) => 10 * Math.floor((i % 64) / 8) + (i % 8));
    const full = augmentBatch(plane, s, augment({ crop: { scale: [1, 1], ratio: [1, 1] } }), seededRandom(2));
    assert.deepEqual(full, plane);
    // Scale 1/4, ratio 1: a 4×4 box; the position draws put its top at 2 and its left at 4.
    const crop = augment({ crop: { scale: [0.25, 0.25], ratio: [1, 1] } });
    const out = augmentBatch(plane, s, crop, replay(0, 0, 0.5, 0.99));
    // Half-pixel centres: output i samples the box at 0.5·i − 0.25, clamped to it.
    const at = (i: number) => Math.min(3, Math.max(0, 0.5 * i - 0.25));
    for (let ch = 0; ch < 2; ch++)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++)
          assert.ok(
            Math.abs(out[ch * 64 + y * 8 + x]! - (10 * (2 + at(y)) + 4 + at(x))) < 1e-5,
            `${ch},${y},${x}`,
          );
  });

  test('crop and rotation compose into one sampling of the source', () => {
    const s: [number, number, number, number] = [1, 1, 16, 16];
    const plane = Float32Array.from({ length: 256 }, (_, i) => 10 * Math.floor(i / 16) + (i % 16));
    // An 8×8 box at top 4, left 8 (scale 1/4, ratio 1), then +30° (the top of ±30°).
    const o = augment({ crop: { scale: [0.25, 0.25], ratio: [1, 1] }, rotation: 30 });
    const out = augmentBatch(plane, s, o, replay(0, 0, 0.5, 0.99, 1));
    const [cos, sin] = [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6)];
    let checked = 0;
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        // Undo the rotation about the centre, then map the frame onto the box.
        const qx = 7.5 + cos * (x - 7.5) - sin * (y - 7.5);
        const qy = 7.5 + sin * (x - 7.5) + cos * (y - 7.5);
        const sx = 8 + (qx + 0.5) / 2 - 0.5;
        const sy = 4 + (qy + 0.5) / 2 - 0.5;
        if (qx < 0 || qx > 15 || qy < 0 || qy > 15 || sx < 8 || sx > 15 || sy < 4 || sy > 11) continue;
        checked++;
        assert.ok(Math.abs(out[y * 16 + x]! - (10 * sy + sx)) < 1e-4, `${x},${y}`);
      }
    assert.ok(checked > 100, `${checked} pixels checked`);
  });

  test('brightness jitter scales pixel values, not normalised ones', () => {
    const s: [number, number, number, number] = [1, 3, 2, 2];
    const pixels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05, 0.15, 0.25, 0.35];
    const input = Float32Array.from(pixels, (p, i) => {
      const ch = Math.floor(i / 4);
      return (p - NORM.mean[ch]!) / NORM.std[ch]!;
    });
    // Brightness 0.5 draws its factor from [0.5, 1.5]: 0.9 gives 1.4.
    const out = augmentBatch(input, s, augment({ colorJitter: { brightness: 0.5 } }), () => 0.9, NORM);
    out.forEach((v, i) => {
      const ch = Math.floor(i / 4);
      const expected = Math.min(1, pixels[i]! * 1.4);
      assert.ok(Math.abs(v * NORM.std[ch]! + NORM.mean[ch]! - expected) < 1e-6, `value ${i}`);
    });
  });

  test('contrast blends with the mean luminance; saturation with each pixel’s', () => {
    const s: [number, number, number, number] = [1, 3, 1, 2];
    const pixels = [0.2, 0.8, 0.4, 0.6, 0.1, 0.9];
    const luma = (p: number) => 0.2989 * pixels[p]! + 0.587 * pixels[2 + p]! + 0.114 * pixels[4 + p]!;
    const id = { mean: [0, 0, 0], std: [1, 1, 1] };
    const input = Float32Array.from(pixels);
    // Factor 0.5 (the bottom of [0.5, 1.5]) halves every distance to the blend target.
    const contrast = augmentBatch(input, s, augment({ colorJitter: { contrast: 0.5 } }), () => 0, id);
    const mean = (luma(0) + luma(1)) / 2;
    contrast.forEach((v, i) => assert.ok(Math.abs(v - (pixels[i]! + mean) / 2) < 1e-6));
    const saturation = augmentBatch(input, s, augment({ colorJitter: { saturation: 0.5 } }), () => 0, id);
    saturation.forEach((v, i) => assert.ok(Math.abs(v - (pixels[i]! + luma(i % 2)) / 2) < 1e-6));
  });

  test('the same seed gives the same batch; another seed another', () => {
    const o = augment({
      flip: true,
      translate: 2,
      rotation: 15,
      crop: {},
      colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    });
    const a = augmentBatch(x, shape, o, seededRandom(9), NORM);
    assert.deepEqual(augmentBatch(x, shape, o, seededRandom(9), NORM), a);
    assert.ok(maxAbsDiff(augmentBatch(x, shape, o, seededRandom(10), NORM), a) > 0.1);
    assert.ok(a.every(Number.isFinite));
  });

  test('strength scales every magnitude; 0 turns augmentation off', () => {
    const base = augment({
      flip: true,
      translate: 4,
      rotation: 20,
      crop: { scale: [0.5, 1], ratio: [0.5, 2] },
      colorJitter: { brightness: 0.4, contrast: 0.2, saturation: 0.1 },
    });
    const half = scaledImageAugment(base, 0.5);
    assert.equal(half.translate, 2);
    assert.equal(half.rotation, 10);
    assert.deepEqual(half.crop!.scale, [0.75, 1]);
    assert.ok(Math.abs(half.crop!.ratio[0] - Math.SQRT1_2) < 1e-12);
    assert.ok(Math.abs(half.colorJitter!.brightness - 0.2) < 1e-12);
    assert.deepEqual(scaledImageAugment(base, 1), base);
    assert.deepEqual(scaledImageAugment(base, 0), augment({}));
    assert.deepEqual(imageAugmentSchema.parse(scaledImageAugment(base, 3)), scaledImageAugment(base, 3));
    assert.throws(
      () => scaledImageAugment(base, -1),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });

  test('a batch of the wrong size is SHAPE_MISMATCH', () => {
    assert.throws(
      () => augmentBatch(new Float32Array(10), [1, 1, 3, 3], augment({ flip: true }), Math.random),
      (e: unknown) => isLoupeError(e, 'SHAPE_MISMATCH'),
    );
  });
});

/**
 * Images per CPU-second of this thread's process, best of a few rounds: the floors are for a
 * machine to itself, and tests run in parallel on shared cores, so wall time would measure the
 * neighbours. Asserted at half the floor.
 */
function throughput(shape: [number, number, number, number], o: ImageAugmentInput, batches: number) {
  const x = batch(shape);
  const aug = augment(o);
  const random = seededRandom(5);
  augmentBatch(x, shape, aug, random, NORM);
  let cpu = Infinity;
  let wall = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    const u = process.cpuUsage();
    for (let b = 0; b < batches; b++) augmentBatch(x, shape, aug, random, NORM);
    const used = process.cpuUsage(u);
    cpu = Math.min(cpu, (used.user + used.system) / 1e6);
    wall = Math.min(wall, (performance.now() - t) / 1000);
  }
  const images = shape[0] * batches;
  return { cpu: images / cpu, wall: images / wall };
}

describe('augmentation throughput', () => {
  test('28×28×1: flips, shifts and rotations at ≥ 50,000 images/s', (t) => {
    const r = throughput([256, 1, 28, 28], { flip: true, translate: 3, rotation: 10 }, 40);
    t.diagnostic(
      `${Math.round(r.cpu)} images per CPU-second (${Math.round(r.wall)} per second of wall time)`,
    );
    assert.ok(r.cpu >= 25_000, `${Math.round(r.cpu)} images/s`);
  });

  test('224×224×3: crop, flip and colour jitter at ≥ 300 images/s', (t) => {
    const r = throughput(
      [16, 3, 224, 224],
      { flip: true, crop: {}, colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 } },
      4,
    );
    t.diagnostic(
      `${Math.round(r.cpu)} images per CPU-second (${Math.round(r.wall)} per second of wall time)`,
    );
    assert.ok(r.cpu >= 150, `${Math.round(r.cpu)} images/s`);
  });
});

import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import type { ImagePreprocessingInput } from '../src/features/image/image-preprocessing.js';
import { nchwToNhwc, preprocessImage, preprocessImages } from '../src/features/image/preprocess.js';
import { resizeBilinear } from '../src/features/image/resize-bilinear.js';
import { NSFWJS_PREPROCESSING } from '../src/engine/backbones/mobilenet-v2/nsfwjs-mobilenet-v2.js';

const DOG = '/usr/share/darknet/data/dog.jpg';
const skipPhotos = existsSync(DOG) ? false : `${DOG} is not installed`;

const tfBilinear = (over: Partial<ImagePreprocessingInput> = {}): ImagePreprocessingInput => ({
  width: 4,
  height: 4,
  resize: { method: 'bilinear', alignCorners: true, halfPixelCenters: false },
  ...over,
});

/** RGB value (0–1) of pixel (x, y) of sample 0 of an NCHW batch. */
function pixel(x: Float32Array, w: number, h: number, px: number, py: number): number[] {
  return [0, 1, 2].map((c) => x[c * w * h + py * w + px]!);
}

/** An image whose left half is one colour and right half another. */
function halves(width: number, height: number, left: number[], right: number[], channels: 3 | 4 = 3): Buffer {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * channels);
  return data;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, code), `expected LoupeError ${code}, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('bilinear resize', () => {
  for (const [alignCorners, halfPixelCenters] of [
    [true, false],
    [false, true],
    [false, false],
  ] as const) {
    test(`matches tf.image.resizeBilinear (alignCorners ${alignCorners}, halfPixelCenters ${halfPixelCenters})`, () => {
      const w = 37;
      const h = 23;
      const data = Float32Array.from({ length: w * h * 3 }, (_, i) => (i * 7919) % 256);
      for (const [ow, oh] of [
        [16, 11],
        [50, 40],
        [1, 1],
      ] as const) {
        const ours = resizeBilinear({ data, width: w, height: h, channels: 3 }, ow, oh, {
          alignCorners,
          halfPixelCenters,
        });
        const theirs = tf.image
          .resizeBilinear(tf.tensor3d(data, [h, w, 3]), [oh, ow], alignCorners, halfPixelCenters)
          .dataSync();
        let d = 0;
        for (let i = 0; i < ours.length; i++) d = Math.max(d, Math.abs(ours[i]! - theirs[i]!));
        assert.ok(d < 1e-3, `${ow}×${oh}: max diff ${d}`);
      }
    });
  }

  test('a crop resamples only its region', () => {
    const data = Float32Array.from({ length: 6 * 2 }, (_, i) => i % 6);
    const out = resizeBilinear({ data, width: 6, height: 2, channels: 1, left: 2, cropWidth: 2 }, 2, 1, {
      alignCorners: true,
      halfPixelCenters: false,
    });
    assert.deepEqual([...out], [2, 3]);
  });
});

describe('preprocessImages', () => {
  test(
    'reproduces the nsfwjs pipeline on a real photo (divide by 255, resizeBilinear alignCorners)',
    { skip: skipPhotos },
    async () => {
      const batch = await preprocessImage(DOG, NSFWJS_PREPROCESSING);
      assert.deepEqual(batch.shape, [1, 3, 224, 224]);
      const { data, info } = await sharp(DOG).raw().toBuffer({ resolveWithObject: true });
      const expected = tf.tidy(() =>
        tf.image
          .resizeBilinear(
            tf.tensor3d(data, [info.height, info.width, 3], 'int32').toFloat().div(255) as tf.Tensor3D,
            [224, 224],
            true,
          )
          .dataSync(),
      );
      const ours = nchwToNhwc(batch.x, batch.shape);
      let d = 0;
      for (let i = 0; i < ours.length; i++) d = Math.max(d, Math.abs(ours[i]! - expected[i]!));
      assert.ok(d < 1e-5, `max diff ${d}`);
    },
  );

  test('applies EXIF orientation', async () => {
    // Stored 8×4, left red / right blue, tagged "rotate 90° clockwise to display".
    const jpeg = await sharp(halves(8, 4, [255, 0, 0], [0, 0, 255]), {
      raw: { width: 8, height: 4, channels: 3 },
    })
      .png()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const { x } = await preprocessImage(jpeg, tfBilinear({ width: 4, height: 8 }));
    // Upright it is 4 wide, 8 tall: the stored left half is now the top half. Unrotated, the
    // top-right corner would be blue and the bottom-left red.
    assert.deepEqual(pixel(x, 4, 8, 3, 0), [1, 0, 0]);
    assert.deepEqual(pixel(x, 4, 8, 0, 7), [0, 0, 1]);
  });

  test('composites transparency onto the recorded background', async () => {
    const png = await sharp(halves(4, 4, [0, 255, 0, 255], [0, 0, 0, 0], 4), {
      raw: { width: 4, height: 4, channels: 4 },
    })
      .png()
      .toBuffer();
    const white = await preprocessImage(png, tfBilinear());
    assert.deepEqual(pixel(white.x, 4, 4, 0, 0), [0, 1, 0]);
    assert.deepEqual(pixel(white.x, 4, 4, 3, 3), [1, 1, 1]);
    const black = await preprocessImage(png, tfBilinear({ background: [0, 0, 0] }));
    assert.deepEqual(pixel(black.x, 4, 4, 3, 3), [0, 0, 0]);
  });

  test('expands greyscale and decodes WebP', async () => {
    const grey = await sharp(Buffer.alloc(16, 128), { raw: { width: 4, height: 4, channels: 1 } })
      .png()
      .toBuffer();
    const g = await preprocessImage(grey, tfBilinear());
    assert.deepEqual(pixel(g.x, 4, 4, 1, 1), [128 / 255, 128 / 255, 128 / 255].map(Math.fround));
    const webp = await sharp(halves(4, 4, [255, 0, 0], [255, 0, 0]), {
      raw: { width: 4, height: 4, channels: 3 },
    })
      .webp({ lossless: true })
      .toBuffer();
    const w = await preprocessImage(webp, tfBilinear());
    assert.deepEqual(pixel(w.x, 4, 4, 2, 2), [1, 0, 0]);
  });

  test("'gray' gives one luminance channel", async () => {
    const png = await sharp(halves(4, 4, [255, 255, 255], [255, 0, 0]), {
      raw: { width: 4, height: 4, channels: 3 },
    })
      .png()
      .toBuffer();
    const batch = await preprocessImage(
      png,
      tfBilinear({ channelOrder: 'gray', mean: [0.5, 0, 0], std: [0.5, 1, 1] }),
    );
    assert.deepEqual(batch.shape, [1, 1, 4, 4]);
    assert.equal(batch.x.length, 16);
    assert.equal(batch.x[0], 1);
    // Pure red is darker than white but not black.
    assert.ok(batch.x[3]! > -1 && batch.x[3]! < 0, String(batch.x[3]));
  });

  test('normalises with mean/std and honours BGR order', async () => {
    const png = await sharp(halves(4, 4, [255, 0, 0], [255, 0, 0]), {
      raw: { width: 4, height: 4, channels: 3 },
    })
      .png()
      .toBuffer();
    const { x } = await preprocessImage(
      png,
      tfBilinear({ channelOrder: 'bgr', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }),
    );
    // Channel 0 is blue (0 → -1), channel 2 is red (1 → 1).
    assert.deepEqual(pixel(x, 4, 4, 0, 0), [-1, -1, 1]);
  });

  test("fit 'cover' crops the centre", async () => {
    // 12×4: red | green | blue thirds; a square cover crop keeps only the green middle.
    const data = Buffer.alloc(12 * 4 * 3);
    for (let y = 0; y < 4; y++)
      for (let xx = 0; xx < 12; xx++) data[(y * 12 + xx) * 3 + Math.floor(xx / 4)] = 255;
    const png = await sharp(data, { raw: { width: 12, height: 4, channels: 3 } })
      .png()
      .toBuffer();
    const tfCover = await preprocessImage(png, tfBilinear({ fit: 'cover' }));
    assert.deepEqual(pixel(tfCover.x, 4, 4, 0, 0), [0, 1, 0]);
    assert.deepEqual(pixel(tfCover.x, 4, 4, 3, 3), [0, 1, 0]);
    const sharpCover = await preprocessImage(png, {
      width: 2,
      height: 2,
      fit: 'cover',
      resize: { method: 'sharp', kernel: 'nearest' },
    });
    assert.deepEqual(pixel(sharpCover.x, 2, 2, 0, 0), [0, 1, 0]);
  });

  test('batches several images in order', async () => {
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
    ];
    const pngs = await Promise.all(
      colours.map((c) =>
        sharp(halves(4, 4, c, c), { raw: { width: 4, height: 4, channels: 3 } })
          .png()
          .toBuffer(),
      ),
    );
    const batch = await preprocessImages(pngs, tfBilinear({ width: 2, height: 2 }), { concurrency: 2 });
    assert.deepEqual(batch.shape, [3, 3, 2, 2]);
    for (let i = 0; i < 3; i++)
      assert.deepEqual(
        pixel(batch.x.subarray(i * 12), 2, 2, 1, 1),
        colours[i]!.map((v) => v / 255),
      );
  });

  test('undecodable, missing and oversized images are LoupeErrors', async () => {
    await rejectsWith(
      preprocessImage(Buffer.from('definitely not an image'), tfBilinear()),
      'CORRUPT_FILE',
      /cannot decode an image buffer of 23 bytes/,
    );
    await rejectsWith(
      preprocessImage('/nonexistent/cat.jpg', tfBilinear()),
      'NOT_FOUND',
      /\/nonexistent\/cat\.jpg/,
    );
    const big = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    await rejectsWith(
      preprocessImage(big, tfBilinear(), { maxInputPixels: 5000 }),
      'INVALID_ARGUMENT',
      /more pixels than allowed/,
    );
    await rejectsWith(preprocessImages([], tfBilinear()), 'INVALID_ARGUMENT', /no images/);
  });
});

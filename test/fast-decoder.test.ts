import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { isLoupeError } from '../src/errors/loupe-error.js';
import {
  imagePreprocessingSchema,
  type ImagePreprocessing,
  type ImagePreprocessingInput,
} from '../src/features/image/image-preprocessing.js';
import { preprocessImage } from '../src/features/image/preprocess.js';
import { decodeUpload, type DecodeLimits } from '../src/serve/decode-upload.js';
import { FastDecoder, TIMED_OUT } from '../src/serve/inference/fast-decoder.js';
import { encodePng, pngChunk, type PngSpec } from './helpers/png-encode.js';

/**
 * The serving fast decoder (native/src/image_*.cc) against the sharp path it stands in for
 * (src/features/image/preprocess.ts), on real photos, Fashion-MNIST images as PNG and JPEG, and
 * PNGs of every colour type and bit depth. The tolerance is zero: every float of the input
 * tensor must be identical, so the model sees exactly what it would have seen through sharp.
 * Whatever the fast decoder declines must still decode, through sharp, to the same tensor.
 */

const DARKNET = '/usr/share/darknet/data';
const FASHION = path.resolve(import.meta.dirname, '../samples/fashion-mnist/test');
const LIMITS: DecodeLimits = { maxPixels: 40_000_000, timeoutMs: 5000 };

type Order = 'gray' | 'rgb' | 'bgr';

function preprocessing(
  width: number,
  height: number,
  channelOrder: Order,
  extra: Partial<ImagePreprocessingInput> = {},
): ImagePreprocessing {
  return imagePreprocessingSchema.parse({
    width,
    height,
    channelOrder,
    fit: 'cover',
    resize: { method: 'sharp', kernel: 'linear' },
    // Unequal per-channel statistics, so a channel mix-up cannot go unseen.
    mean: [0.21, 0.43, 0.62],
    std: [0.31, 0.26, 0.19],
    ...extra,
  });
}

const tensorSize = (p: ImagePreprocessing) => (p.channelOrder === 'gray' ? 1 : 3) * p.width * p.height;

/** The tensor sharp's path makes of `bytes`. */
async function viaSharp(bytes: Uint8Array, p: ImagePreprocessing): Promise<Float32Array> {
  return (await preprocessImage(bytes, p, { maxInputPixels: LIMITS.maxPixels })).x;
}

/** The fast decoder's tensor, written at sample 1 of a 3-sample batch, or why it declined. */
function viaFast(bytes: Uint8Array, p: ImagePreprocessing): Float32Array | string {
  const decoder = FastDecoder.for(p, LIMITS);
  assert.ok(decoder, 'the loupe_image addon is built (make setup)');
  const size = tensorSize(p);
  const batch = new Float32Array(3 * size).fill(7);
  const declined = decoder.decodeInto(bytes, batch, 1);
  if (declined !== undefined) return declined;
  assert.ok(
    batch.subarray(0, size).every((v) => v === 7) && batch.subarray(2 * size).every((v) => v === 7),
    'only its own sample is written',
  );
  return batch.slice(size, 2 * size);
}

function assertIdentical(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  let differing = 0;
  let first = -1;
  for (let i = 0; i < got.length; i++)
    if (!Object.is(got[i], want[i])) {
      differing++;
      if (first < 0) first = i;
    }
  assert.equal(
    differing,
    0,
    `${what}: ${differing} of ${got.length} values differ, first at ${first}: ${got[first]} vs ${want[first]}`,
  );
}

/** Decodes through both paths and requires the fast one to take the image and match exactly. */
async function expectFastAndIdentical(bytes: Uint8Array, p: ImagePreprocessing, what: string) {
  const fast = viaFast(bytes, p);
  assert.ok(typeof fast !== 'string', `${what}: the fast decoder declined (${String(fast)})`);
  assertIdentical(fast, await viaSharp(bytes, p), what);
}

/** Requires the fast decoder to decline, and decodeUpload to fall back to sharp's exact tensor. */
async function expectDeclinedThenSharp(bytes: Uint8Array, p: ImagePreprocessing, reason: RegExp) {
  const fast = viaFast(bytes, p);
  assert.equal(typeof fast, 'string', 'declined');
  assert.match(fast as string, reason);
  const out = new Float32Array(2 * tensorSize(p));
  await decodeUpload(bytes, p, LIMITS, { out, index: 1, fast: FastDecoder.for(p, LIMITS) });
  assertIdentical(out.subarray(tensorSize(p)), await viaSharp(bytes, p), `fallback for ${reason}`);
}

/**
 * The JPEG without its ICC_PROFILE APP2 segments (sharp converts through an embedded profile,
 * which the fast decoder declines): the same real photo, for the decoding comparison.
 */
function withoutIccProfile(jpeg: Buffer): Buffer {
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xda) break; // start of scan: entropy-coded data follows
    const end = at + 2 + jpeg.readUInt16BE(at + 2);
    const icc = marker === 0xe2 && jpeg.subarray(at + 4, at + 16).toString('latin1') === 'ICC_PROFILE\0';
    if (!icc) kept.push(jpeg.subarray(at, end));
    at = end;
  }
  kept.push(jpeg.subarray(at));
  return Buffer.concat(kept);
}

const photos = readdirSync(DARKNET)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .map((f) => ({ name: f, bytes: readFileSync(path.join(DARKNET, f)) }));

/** Five images of each Fashion-MNIST class (28×28 grey PNGs). */
const fashion = readdirSync(FASHION)
  .sort()
  .flatMap((c) =>
    readdirSync(path.join(FASHION, c))
      .sort()
      .slice(0, 5)
      .map((f) => ({ name: `${c}/${f}`, bytes: readFileSync(path.join(FASHION, c, f)) })),
  );

/** A deterministic pseudo-random byte stream, so generated images have texture in every channel. */
function bytesFrom(seed: number, n: number, max = 255): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 24) % (max + 1);
  });
}

describe('fast decoder: identical tensors to the sharp path', () => {
  it('the darknet photos (ICC profile removed), as RGB and BGR models at their own size', async () => {
    assert.ok(photos.length >= 5, `photos in ${DARKNET}`);
    for (const photo of photos) {
      const bytes = withoutIccProfile(photo.bytes);
      const meta = await sharp(bytes).metadata();
      assert.equal(meta.icc, undefined, `${photo.name} has no profile left`);
      for (const order of ['rgb', 'bgr'] as const)
        await expectFastAndIdentical(
          bytes,
          preprocessing(meta.width!, meta.height!, order),
          `${photo.name} ${order}`,
        );
    }
  });

  it('the darknet photos re-encoded progressive, 4:4:4 and grey', async () => {
    for (const photo of photos.slice(0, 3)) {
      const source = sharp(photo.bytes);
      const { width, height } = await source.metadata();
      const variants: [string, Buffer, Order][] = [
        ['progressive', await source.clone().jpeg({ progressive: true, quality: 80 }).toBuffer(), 'rgb'],
        ['4:4:4', await source.clone().jpeg({ chromaSubsampling: '4:4:4' }).toBuffer(), 'rgb'],
        ['grey', await source.clone().toColourspace('b-w').jpeg().toBuffer(), 'gray'],
        ['grey into RGB', await source.clone().toColourspace('b-w').jpeg().toBuffer(), 'rgb'],
      ];
      for (const [what, bytes, order] of variants)
        await expectFastAndIdentical(bytes, preprocessing(width!, height!, order), `${photo.name} ${what}`);
    }
  });

  it('Fashion-MNIST PNGs and JPEGs, for grey and RGB models', async () => {
    assert.equal(fashion.length, 50);
    for (const image of fashion) {
      const jpeg = await sharp(image.bytes).jpeg({ quality: 95 }).toBuffer();
      // sharp writes a grey picture as a three-component JPEG: neutral colour pixels.
      assert.equal((await sharp(jpeg).metadata()).channels, 3);
      const greyJpeg = await sharp(image.bytes).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
      for (const order of ['gray', 'rgb'] as const)
        for (const [format, bytes] of [
          ['png', image.bytes],
          ['jpeg', jpeg],
          ['grey jpeg', greyJpeg],
        ] as const)
          await expectFastAndIdentical(
            bytes,
            preprocessing(28, 28, order),
            `${image.name} ${format} ${order}`,
          );
    }
  });

  it('every neutral level of an RGB image into a grey model (libvips luminance)', async () => {
    const levels = Array.from({ length: 256 }, (_, v) => [v, v, v]).flat();
    const png = encodePng({ width: 16, height: 16, colorType: 2, bitDepth: 8, samples: levels });
    await expectFastAndIdentical(png, preprocessing(16, 16, 'gray'), 'neutral RGB levels');
    const rgba = encodePng({
      width: 16,
      height: 16,
      colorType: 6,
      bitDepth: 8,
      samples: Array.from({ length: 256 }, (_, v) => [v, v, v, 255 - v]).flat(),
    });
    await expectFastAndIdentical(rgba, preprocessing(16, 16, 'gray'), 'neutral RGBA onto white');
  });

  describe('PNGs of every colour type and bit depth', () => {
    const W = 23;
    const H = 17;
    const n = W * H;
    const palette = bytesFrom(5, 3 * 16);
    const cases: Record<string, PngSpec> = {
      'grey 1-bit': { width: W, height: H, colorType: 0, bitDepth: 1, samples: bytesFrom(1, n, 1) },
      'grey 2-bit': { width: W, height: H, colorType: 0, bitDepth: 2, samples: bytesFrom(2, n, 3) },
      'grey 4-bit': { width: W, height: H, colorType: 0, bitDepth: 4, samples: bytesFrom(3, n, 15) },
      'grey 8-bit': { width: W, height: H, colorType: 0, bitDepth: 8, samples: bytesFrom(4, n) },
      'grey 8-bit with a transparent level': {
        width: W,
        height: H,
        colorType: 0,
        bitDepth: 8,
        samples: bytesFrom(4, n, 7),
        transparency: [3],
      },
      'grey + alpha': { width: W, height: H, colorType: 4, bitDepth: 8, samples: bytesFrom(6, 2 * n) },
      RGB: { width: W, height: H, colorType: 2, bitDepth: 8, samples: bytesFrom(7, 3 * n) },
      'RGB with a transparent colour': {
        width: W,
        height: H,
        colorType: 2,
        bitDepth: 8,
        samples: bytesFrom(8, 3 * n, 1).map((v) => v * 200),
        transparency: [200, 0, 200],
      },
      RGBA: { width: W, height: H, colorType: 6, bitDepth: 8, samples: bytesFrom(9, 4 * n) },
      'palette 4-bit': {
        width: W,
        height: H,
        colorType: 3,
        bitDepth: 4,
        samples: bytesFrom(10, n, 15),
        palette,
      },
      'palette 8-bit with alphas': {
        width: W,
        height: H,
        colorType: 3,
        bitDepth: 8,
        samples: bytesFrom(11, n, 15),
        palette,
        transparency: bytesFrom(12, 10),
      },
    };
    for (const [what, spec] of Object.entries(cases))
      it(what, async () => {
        const png = encodePng(spec);
        const colour = spec.colorType === 2 || spec.colorType === 3 || spec.colorType === 6;
        for (const background of [undefined, [30, 120, 220] as [number, number, number]])
          for (const order of ['gray', 'rgb', 'bgr'] as const) {
            const p = preprocessing(W, H, order, background ? { background } : {});
            if (colour && order === 'gray') await expectDeclinedThenSharp(png, p, /^colour-to-grey$/);
            else
              await expectFastAndIdentical(png, p, `${what} ${order} ${background ? 'coloured' : 'white'}`);
          }
      });

    it('interlaced (Adam7), RGBA and palette as sharp writes them', async () => {
      const rgba = Buffer.from(bytesFrom(13, 4 * n));
      const raw = sharp(rgba, { raw: { width: W, height: H, channels: 4 } });
      for (const png of [
        await raw.clone().png({ progressive: true }).toBuffer(),
        await raw.clone().png({ palette: true }).toBuffer(),
      ])
        await expectFastAndIdentical(png, preprocessing(W, H, 'rgb'), 'sharp-written PNG');
    });
  });
});

describe('fast decoder: what it leaves to sharp', () => {
  const p = preprocessing(28, 28, 'rgb');
  const pullover = () =>
    readFileSync(path.join(FASHION, 'Pullover', readdirSync(path.join(FASHION, 'Pullover'))[0]!));

  it('an image not at the model input size (resampling is sharp’s)', async () => {
    await expectDeclinedThenSharp(await sharp(pullover()).resize(40, 30).jpeg().toBuffer(), p, /^size$/);
    await expectDeclinedThenSharp(await sharp(pullover()).resize(56, 56).png().toBuffer(), p, /^size$/);
  });

  it('a JPEG with an ICC profile, as the darknet photos carry', async () => {
    const photo = photos.find((f) => f.name === 'dog.jpg')!.bytes;
    const { width, height, icc } = await sharp(photo).metadata();
    assert.ok(icc);
    await expectDeclinedThenSharp(photo, preprocessing(width!, height!, 'rgb'), /^icc-profile$/);
  });

  it('an EXIF-rotated JPEG, and one whose orientation is upright', async () => {
    // withMetadata also embeds sharp's sRGB profile, which alone would be declined.
    const withOrientation = async (orientation: number) =>
      withoutIccProfile(await sharp(pullover()).withMetadata({ orientation }).jpeg().toBuffer());
    await expectDeclinedThenSharp(await withOrientation(6), p, /^orientation$/);
    const upright = await withOrientation(1);
    assert.deepEqual(
      [(await sharp(upright).metadata()).orientation, (await sharp(upright).metadata()).icc],
      [1, undefined],
    );
    await expectFastAndIdentical(upright, p, 'EXIF orientation 1');
  });

  it('a CMYK JPEG', async () => {
    await expectDeclinedThenSharp(
      await sharp(pullover()).toColourspace('cmyk').jpeg().toBuffer(),
      p,
      /^colour-space$/,
    );
  });

  it('colour pixels for a grey model', async () => {
    const photo = withoutIccProfile(photos.find((f) => f.name === 'kite.jpg')!.bytes);
    const { width, height } = await sharp(photo).metadata();
    await expectDeclinedThenSharp(photo, preprocessing(width!, height!, 'gray'), /^colour-to-grey$/);
  });

  it('16-bit PNGs and PNGs with colour management, EXIF or animation chunks', async () => {
    const grey16 = encodePng({
      width: 28,
      height: 28,
      colorType: 0,
      bitDepth: 16,
      samples: bytesFrom(1, 784, 65535),
    });
    await expectDeclinedThenSharp(grey16, p, /^16-bit$/);
    const plain: PngSpec = { width: 28, height: 28, colorType: 0, bitDepth: 8, samples: bytesFrom(2, 784) };
    const gamma = Buffer.alloc(4);
    gamma.writeUInt32BE(45455);
    for (const [type, data] of [
      ['sRGB', Uint8Array.of(0)],
      ['gAMA', gamma],
    ] as const)
      await expectDeclinedThenSharp(
        encodePng({ ...plain, extra: [{ type, data }] }),
        p,
        new RegExp(`^png-${type}$`),
      );
    const withProfile = await sharp(pullover()).withIccProfile('srgb').png().toBuffer();
    await expectDeclinedThenSharp(withProfile, p, /^png-iCCP$/);
    // An acTL chunk makes the file an animated PNG (APNG): one frame is the default image.
    const actl = Buffer.alloc(8);
    actl.writeUInt32BE(1, 0);
    const apng = encodePng({ ...plain, extra: [{ type: 'acTL', data: actl }] });
    assert.ok(apng.includes(pngChunk('acTL', actl)));
    assert.match(viaFast(apng, p) as string, /^png-acTL$/);
  });

  it('an image over the pixel limit is left to sharp, which refuses it from its header', async () => {
    const big = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const tight = FastDecoder.for(p, { ...LIMITS, maxPixels: 500 })!;
    assert.equal(tight.decodeInto(big, new Float32Array(tensorSize(p)), 0), 'pixels');
    await assert.rejects(
      decodeUpload(
        big,
        p,
        { ...LIMITS, maxPixels: 500 },
        { out: new Float32Array(tensorSize(p)), index: 0, fast: tight },
      ),
      (e) => isLoupeError(e, 'TOO_LARGE') && /28×28 .* the limit is 0\.0 megapixels/.test(e.message),
    );
  });

  it('truncated and corrupt files: declined, and sharp says what is wrong', async () => {
    const jpeg = await sharp(pullover()).jpeg().toBuffer();
    const png = await sharp(pullover()).png().toBuffer();
    const cases: [string, Buffer, RegExp][] = [
      ['truncated JPEG', jpeg.subarray(0, jpeg.length - 40), /^jpeg-(warning|error)$/],
      ['truncated PNG', png.subarray(0, png.length - 30), /^png-(warning|error)$/],
      ['JPEG header only', jpeg.subarray(0, 20), /^jpeg-error$/],
    ];
    const flipped = Buffer.from(png);
    flipped[flipped.indexOf('IDAT') + 10]! ^= 0xff; // the CRC no longer matches
    cases.push(['PNG with a bad CRC', flipped, /^png-(warning|error)$/]);
    for (const [what, bytes, reason] of cases) {
      assert.match(String(viaFast(bytes, p)), reason, what);
      await assert.rejects(
        decodeUpload(bytes, p, LIMITS, {
          out: new Float32Array(tensorSize(p)),
          index: 0,
          fast: FastDecoder.for(p, LIMITS),
        }),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /the image\/(jpeg|png) image cannot be/.test(e.message),
        what,
      );
    }
  });

  it('the decode timeout holds: past it, the upload is refused without a second try', async () => {
    const jpeg = await sharp(pullover()).jpeg({ progressive: true }).toBuffer();
    const png = await sharp(pullover()).png().toBuffer();
    // A deadline that has passed before the first row.
    const expired = { ...LIMITS, timeoutMs: 1e-6 };
    const decoder = FastDecoder.for(p, expired)!;
    for (const bytes of [jpeg, png]) {
      assert.equal(decoder.decodeInto(bytes, new Float32Array(tensorSize(p)), 0), TIMED_OUT);
      await assert.rejects(
        decodeUpload(bytes, p, expired, { out: new Float32Array(tensorSize(p)), index: 0, fast: decoder }),
        (e) => isLoupeError(e, 'TOO_LARGE') && /decoding the image took longer than/.test(e.message),
      );
    }
  });

  it('other formats, and preprocessing it does not take on', async () => {
    for (const format of ['webp', 'gif', 'tiff'] as const)
      await expectDeclinedThenSharp(await sharp(pullover()).toFormat(format).toBuffer(), p, /^format$/);
    assert.equal(
      FastDecoder.for(
        imagePreprocessingSchema.parse({
          width: 28,
          height: 28,
          resize: { method: 'bilinear', alignCorners: false, halfPixelCenters: true },
        }),
        LIMITS,
      ),
      undefined,
      'point-sampled bilinear (tfjs) models keep the sharp path',
    );
  });
});

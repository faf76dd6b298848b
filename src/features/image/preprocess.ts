import { availableParallelism } from 'node:os';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { LoupeError } from '../../errors/loupe-error.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import {
  imagePreprocessingSchema,
  type ImagePreprocessing,
  type ImagePreprocessingInput,
} from './image-preprocessing.js';
import { resizeBilinear } from './resize-bilinear.js';

/** A file path or the encoded bytes of a JPEG, PNG, WebP, GIF, TIFF or AVIF image. */
export type ImageInput = string | Uint8Array;

export interface PreprocessOptions {
  /** Refuse images with more pixels than this (decompression bombs). Default 50 megapixels. */
  maxInputPixels?: number;
  /** Images decoded at once; default: the number of cores. */
  concurrency?: number;
  /** Give up decoding one image after this long (a server must not be held by a crafted file). */
  timeoutSeconds?: number;
}

export interface ImageBatch {
  /** NCHW float32 values, batch-major, ready for Model.forward or an ONNX session. */
  x: Float32Array;
  size: number;
  shape: [n: number, channels: number, height: number, width: number];
}

const DEFAULT_MAX_PIXELS = 50_000_000;

function describe(input: ImageInput): string {
  return typeof input === 'string' ? input : `an image buffer of ${input.length} bytes`;
}

const channelsOf = (p: ImagePreprocessing): number => (p.channelOrder === 'gray' ? 1 : 3);

/**
 * Decodes to 8-bit sRGB (three channels, or one luminance channel for 'gray'), upright: EXIF
 * orientation applied, embedded colour profiles converted, and alpha composited onto the
 * recorded background (the models have no notion of transparency; compositing is what a
 * viewer shows).
 */
function decoder(input: ImageInput, p: ImagePreprocessing, o: PreprocessOptions): Sharp {
  const [r, g, b] = p.background;
  const image = sharp(input, { autoOrient: true, limitInputPixels: o.maxInputPixels ?? DEFAULT_MAX_PIXELS });
  if (o.timeoutSeconds) image.timeout({ seconds: o.timeoutSeconds });
  return image
    .flatten({ background: { r, g, b } })
    .toColourspace(p.channelOrder === 'gray' ? 'b-w' : 'srgb')
    .removeAlpha();
}

/** Centre crop of a w×h image to the aspect of the target (used by fit 'cover'). */
function coverCrop(
  w: number,
  h: number,
  p: ImagePreprocessing,
): { left: number; top: number; width: number; height: number } {
  const target = p.width / p.height;
  if (w / h > target) {
    const width = Math.max(1, Math.round(h * target));
    return { left: Math.floor((w - width) / 2), top: 0, width, height: h };
  }
  const height = Math.max(1, Math.round(w / target));
  return { left: 0, top: Math.floor((h - height) / 2), width: w, height };
}

/** Returns height×width×channels float values in 0–255, resized as the preprocessing says. */
async function resizedPixels(
  input: ImageInput,
  p: ImagePreprocessing,
  o: PreprocessOptions,
): Promise<Float32Array> {
  if (p.resize.method === 'sharp') {
    const { data, info } = await decoder(input, p, o)
      .resize({ width: p.width, height: p.height, fit: p.fit, position: 'centre', kernel: p.resize.kernel })
      .raw()
      .toBuffer({ resolveWithObject: true });
    checkDecoded(info, input, p);
    return Float32Array.from(data);
  }
  // Point-sampled bilinear runs here, not in libvips: libvips always antialiases when it shrinks,
  // which a model trained on tf.image.resizeBilinear never saw.
  const { data, info } = await decoder(input, p, o).raw().toBuffer({ resolveWithObject: true });
  checkDecoded(info, input, p);
  const crop =
    p.fit === 'cover'
      ? coverCrop(info.width, info.height, p)
      : { left: 0, top: 0, width: info.width, height: info.height };
  return resizeBilinear(
    {
      data,
      width: info.width,
      height: info.height,
      channels: channelsOf(p),
      left: crop.left,
      top: crop.top,
      cropWidth: crop.width,
      cropHeight: crop.height,
    },
    p.width,
    p.height,
    p.resize,
  );
}

function checkDecoded(info: OutputInfo, input: ImageInput, p: ImagePreprocessing): void {
  if (info.channels !== channelsOf(p)) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${describe(input)} decoded to ${info.channels} channels, expected ${channelsOf(p)}`,
    );
  }
}

/** Writes one image's pixels into `x` at sample `index`, normalised, channel-first. */
function packNchw(pixels: Float32Array, p: ImagePreprocessing, x: Float32Array, index: number): void {
  const plane = p.width * p.height;
  const channels = channelsOf(p);
  const base = index * channels * plane;
  const order = p.channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let c = 0; c < channels; c++) {
    const src = order[c]!;
    const mean = p.mean[src]!;
    const std = p.std[src]!;
    const dst = base + c * plane;
    for (let i = 0; i < plane; i++) x[dst + i] = (pixels[i * channels + src]! / 255 - mean) / std;
  }
}

function toLoupeError(e: unknown, input: ImageInput): LoupeError {
  if (e instanceof LoupeError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (/missing|ENOENT|no such file/i.test(message) && typeof input === 'string') {
    return new LoupeError('NOT_FOUND', `image ${input} does not exist`, { file: input }, { cause: e });
  }
  if (/pixel limit/i.test(message)) {
    return new LoupeError(
      'INVALID_ARGUMENT',
      `${describe(input)} has more pixels than allowed: ${message}`,
      undefined,
      { cause: e },
    );
  }
  return new LoupeError(
    'CORRUPT_FILE',
    `cannot decode ${describe(input)}: ${message}`,
    typeof input === 'string' ? { file: input } : undefined,
    {
      cause: e,
    },
  );
}

/** Decodes and preprocesses images into one NCHW batch; any undecodable image rejects, named. */
export async function preprocessImages(
  inputs: readonly ImageInput[],
  preprocessing: ImagePreprocessingInput,
  options: PreprocessOptions = {},
): Promise<ImageBatch> {
  const p = imagePreprocessingSchema.parse(preprocessing);
  if (inputs.length === 0) throw new LoupeError('INVALID_ARGUMENT', 'no images to preprocess');
  const x = new Float32Array(inputs.length * channelsOf(p) * p.width * p.height);
  await mapConcurrent(inputs, options.concurrency ?? availableParallelism(), async (input, i) => {
    try {
      packNchw(await resizedPixels(input, p, options), p, x, i);
    } catch (e) {
      throw toLoupeError(e, input);
    }
  });
  return { x, size: inputs.length, shape: [inputs.length, channelsOf(p), p.height, p.width] };
}

/** One image as a batch of one. */
export function preprocessImage(
  input: ImageInput,
  preprocessing: ImagePreprocessingInput,
  options?: PreprocessOptions,
): Promise<ImageBatch> {
  return preprocessImages([input], preprocessing, options);
}

/** NCHW → NHWC, for runtimes that are channels-last (TensorFlow.js, Keras). */
export function nchwToNhwc(x: Float32Array, shape: readonly [number, number, number, number]): Float32Array {
  const [n, c, h, w] = shape;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i]!;
  return out;
}

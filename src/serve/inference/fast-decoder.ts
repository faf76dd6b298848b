import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';

/**
 * The raw surface of native/src/image_addon.cc (target loupe_image). Sync: it decodes on the
 * calling thread, which is an inference worker, never the event loop.
 */
interface ImageAddon {
  /**
   * Decodes a JPEG or PNG into out[offset …] as the model's normalised NCHW input. Returns
   * undefined when it did, else why it declined (the caller then uses sharp); "timeout" means
   * the decode timeout passed. Throws TypeError/RangeError on malformed arguments only.
   */
  decodeInto(bytes: Uint8Array, target: Float64Array, out: Float32Array, offset: number): string | undefined;
  /** The target array's length. */
  fields: number;
}

const addonPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../native/build/Release/loupe_image.node',
);

let addon: ImageAddon | null | undefined;

/** The addon, or null when it is not built (sharp then decodes every upload). */
function loadAddon(): ImageAddon | null {
  if (addon === undefined)
    addon = existsSync(addonPath) ? (createRequire(import.meta.url)(addonPath) as ImageAddon) : null;
  return addon;
}

/** What decodeInto returns when the decode timeout passed: the time is spent, sharp must not retry. */
export const TIMED_OUT = 'timeout';

export interface FastDecodeLimits {
  maxPixels: number;
  timeoutMs: number;
}

/**
 * Decodes the uploads that make up nearly all serving traffic — 8-bit JPEG and PNG already at
 * the model's input size, with no colour profile, rotation or animation — in microseconds,
 * straight into the input tensor, where sharp spends ~0.7 ms of fixed cost on each. Its output
 * equals the sharp path's (preprocess.ts) exactly; test/fast-decoder.test.ts holds it to that on
 * real photos and on every PNG colour type. Anything else it declines, and the caller decodes
 * with sharp, which also produces every error message.
 */
export class FastDecoder {
  private readonly target: Float64Array;

  private constructor(
    private readonly native: ImageAddon,
    p: ImagePreprocessing,
    limits: FastDecodeLimits,
  ) {
    this.target = Float64Array.from([
      p.width,
      p.height,
      p.channelOrder === 'gray' ? 1 : 3,
      p.channelOrder === 'bgr' ? 1 : 0,
      ...p.mean,
      ...p.std,
      ...p.background,
      limits.maxPixels,
      limits.timeoutMs,
    ]);
    if (this.target.length !== native.fields) throw new Error('loupe_image: target layout mismatch');
  }

  /**
   * A decoder for this preprocessing, or undefined when the addon is not built or the
   * preprocessing needs what only sharp does. Resampling is sharp's: the fast path takes only
   * images already at the model's size, so 'sharp' resizes (a no-op then) qualify and 'bilinear'
   * ones (which crop and resample in TypeScript) do not need to.
   */
  static for(p: ImagePreprocessing, limits: FastDecodeLimits): FastDecoder | undefined {
    const native = loadAddon();
    if (!native || p.resize.method !== 'sharp') return undefined;
    if (![...p.background].every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) return undefined;
    return new FastDecoder(native, p, limits);
  }

  /** Sync. Writes the image at sample `index` of `out`; returns why it declined, if it did. */
  decodeInto(bytes: Uint8Array, out: Float32Array, index: number): string | undefined {
    const [width, height, channels] = this.target;
    return this.native.decodeInto(bytes, this.target, out, index * width! * height! * channels!);
  }
}

import { LoupeError } from '../../../errors/loupe-error.js';

/**
 * libsamplerate's band-limited sinc converters: 'best' (96% bandwidth, 144 dB SNR), 'medium'
 * (90% bandwidth, 121 dB) and 'fastest' (80% bandwidth, 97 dB). Measured here, 'medium' converts
 * about 3 M input samples/s and 'best' a third of that.
 */
export type ResampleQuality = 'best' | 'medium' | 'fastest';

const CONVERTER = { best: 0, medium: 1, fastest: 2 } as const;

/** libsamplerate accepts conversion ratios in [1/256, 256]. */
const MAX_RATIO = 256;

/**
 * Zeros appended to the input so the converter's last outputs see the signal end as silence:
 * without them libsamplerate can return one sample fewer than rate ratio × length.
 */
const TAIL = 64;

// The converter is libsamplerate (Erik de Castro Lopo's Secret Rabbit Code, BSD) compiled to
// WebAssembly: the reference anti-aliased resampler, rather than a hand-written sinc. Loaded on
// first use so that reading audio at its own rate never pays for the 2 MB module.
let loaded: Promise<typeof import('@alexanderolsen/libsamplerate-js')> | undefined;
function libsamplerate() {
  loaded ??= import('@alexanderolsen/libsamplerate-js').then((m) => m.default ?? m);
  return loaded;
}

/**
 * Resamples mono audio from `fromRate` to `toRate` (Hz) with an anti-aliasing low-pass filter,
 * so content above the new Nyquist frequency is removed rather than folded back. The output has
 * exactly round(length × toRate / fromRate) samples, sample k lying at time k / toRate like the
 * input's. Returns the input itself when the rates are equal.
 */
export async function resample(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
  quality: ResampleQuality = 'medium',
): Promise<Float32Array> {
  for (const [name, rate] of [
    ['source', fromRate],
    ['target', toRate],
  ] as const)
    if (!Number.isFinite(rate) || rate <= 0)
      throw new LoupeError('INVALID_ARGUMENT', `${name} sample rate must be a positive number, got ${rate}`);
  if (!(quality in CONVERTER))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `resample quality must be best, medium or fastest, got ${quality}`,
    );
  if (fromRate === toRate) return samples;
  const ratio = toRate / fromRate;
  if (ratio > MAX_RATIO || ratio < 1 / MAX_RATIO)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `cannot resample from ${fromRate} Hz to ${toRate} Hz: the ratio is outside [1/${MAX_RATIO}, ${MAX_RATIO}]`,
    );
  const length = Math.round(samples.length * ratio);
  if (samples.length === 0) return new Float32Array(0);
  const padded = new Float32Array(samples.length + TAIL);
  padded.set(samples);
  const lib = await libsamplerate();
  const src = await lib.create(1, fromRate, toRate, { converterType: CONVERTER[quality] });
  try {
    const out = src.simple(padded);
    const exact = new Float32Array(length);
    exact.set(out.subarray(0, length));
    return exact;
  } finally {
    src.destroy();
  }
}

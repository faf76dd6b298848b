import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Spectrogram } from './log-mel.js';

/**
 * Random augmentation of audio clips for training: on the waveform (time shift, gain, white
 * noise at a chosen signal-to-noise ratio) and on its log-mel spectrogram (SpecAugment's time
 * and frequency masks). Every default is off.
 */

const count = z.number().int().nonnegative().default(0);

export const audioAugmentSchema = z.strictObject({
  /** Shift the clip by a uniform time in ± shift seconds (positive: later). */
  shift: z.number().nonnegative().default(0),
  /** What the shift brings in at the edge: silence, or the clip's other end (circular). */
  shiftFill: z.enum(['zeros', 'wrap']).default('zeros'),
  /** Scale by a uniform gain in ± gainDb decibels. */
  gainDb: z.number().nonnegative().default(0),
  /** Add white Gaussian noise at a uniform signal-to-noise ratio (dB) in snrDb. */
  noise: z
    .strictObject({
      snrDb: z
        .tuple([z.number(), z.number()])
        .refine(([a, b]) => a <= b, 'must be [min, max] with min ≤ max'),
    })
    .optional(),
  /** SpecAugment: this many time masks, each of a uniform width in 0..timeMaskWidth frames. */
  timeMasks: count,
  timeMaskWidth: count,
  /** SpecAugment: this many frequency masks, each of a uniform width in 0..freqMaskWidth mel bands. */
  freqMasks: count,
  freqMaskWidth: count,
});

export type AudioAugment = z.output<typeof audioAugmentSchema>;
export type AudioAugmentInput = z.input<typeof audioAugmentSchema>;

/**
 * The same augmentation with every magnitude multiplied by `strength`: shift, gain and mask
 * widths scale, and the noise amplitude does (its SNR drops by 20·log10(strength) dB). Strength 0
 * turns everything off.
 */
export function scaledAudioAugment(base: AudioAugment, strength: number): AudioAugment {
  if (!Number.isFinite(strength) || strength < 0)
    throw new LoupeError('INVALID_ARGUMENT', `augmentation strength must be ≥ 0, got ${strength}`);
  const k = strength;
  const louder = 20 * Math.log10(k);
  const { noise, ...rest } = base;
  return {
    ...rest,
    shift: base.shift * k,
    gainDb: base.gainDb * k,
    timeMaskWidth: Math.round(base.timeMaskWidth * k),
    freqMaskWidth: Math.round(base.freqMaskWidth * k),
    ...(noise && k > 0 && { noise: { snrDb: [noise.snrDb[0] - louder, noise.snrDb[1] - louder] } }),
  };
}

const uniform = (random: () => number, lo: number, hi: number) => lo + (hi - lo) * random();
const randint = (random: () => number, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

function meanSquare(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return x.length ? s / x.length : 0;
}

/**
 * Fills `out` with standard normal values (Box–Muller), scaled so their mean square is exactly
 * `power`: the SNR asked for is then the SNR delivered, not one near it.
 */
function gaussianNoise(out: Float32Array, power: number, random: () => number): void {
  for (let i = 0; i < out.length; i += 2) {
    // 1 - u keeps the log finite: random() may return 0 but never 1.
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const a = 2 * Math.PI * random();
    out[i] = r * Math.cos(a);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
  }
  const scale = Math.sqrt(power / meanSquare(out));
  for (let i = 0; i < out.length; i++) out[i]! *= scale;
}

/**
 * Augments one clip into a new array: shift, then gain, then noise measured against the clip
 * as it then is (a silent clip gets none: it has no level to measure against). Draws in that
 * order, so a seeded `random` repeats them.
 */
export function augmentWaveform(
  samples: Float32Array,
  sampleRate: number,
  o: AudioAugment,
  random: () => number,
): Float32Array {
  if (!(sampleRate > 0))
    throw new LoupeError('INVALID_ARGUMENT', `sample rate must be positive, got ${sampleRate}`);
  const n = samples.length;
  const out = new Float32Array(n);
  const by = o.shift ? Math.round(uniform(random, -o.shift, o.shift) * sampleRate) : 0;
  if (o.shiftFill === 'wrap' && n) {
    const k = ((by % n) + n) % n;
    out.set(samples.subarray(n - k), 0);
    out.set(samples.subarray(0, n - k), k);
  } else if (by >= 0) {
    out.set(samples.subarray(0, Math.max(0, n - by)), Math.min(by, n));
  } else {
    out.set(samples.subarray(Math.min(-by, n)), 0);
  }
  if (o.gainDb) {
    const gain = 10 ** (uniform(random, -o.gainDb, o.gainDb) / 20);
    for (let i = 0; i < n; i++) out[i]! *= gain;
  }
  if (o.noise) {
    const snr = uniform(random, o.noise.snrDb[0], o.noise.snrDb[1]);
    const power = meanSquare(out);
    if (power > 0) {
      const noise = new Float32Array(n);
      gaussianNoise(noise, power / 10 ** (snr / 10), random);
      for (let i = 0; i < n; i++) out[i]! += noise[i]!;
    }
  }
  return out;
}

/**
 * SpecAugment on one spectrogram, into new data: time masks (whole frames) then frequency masks
 * (whole mel bands), each of a uniform width up to its maximum (capped at the spectrogram's
 * size) at a uniform position, set to the spectrogram's mean so a mask adds no level of its own.
 * Masks may overlap, as in the paper.
 */
export function specAugment(spec: Spectrogram, o: AudioAugment, random: () => number): Spectrogram {
  const { mels, frames } = spec;
  const data = spec.data.slice();
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]!;
  const mean = data.length ? sum / data.length : 0;
  for (let k = 0; k < o.timeMasks; k++) {
    const width = randint(random, 0, Math.min(o.timeMaskWidth, frames));
    const start = randint(random, 0, frames - width);
    for (let m = 0; m < mels; m++) data.fill(mean, m * frames + start, m * frames + start + width);
  }
  for (let k = 0; k < o.freqMasks; k++) {
    const width = randint(random, 0, Math.min(o.freqMaskWidth, mels));
    const start = randint(random, 0, mels - width);
    data.fill(mean, start * frames, (start + width) * frames);
  }
  return { data, mels, frames };
}

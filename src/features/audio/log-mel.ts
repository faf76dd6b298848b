import FFT from 'fft.js';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';

/**
 * Log-mel spectrograms as librosa computes them (melspectrogram, then power_to_db with ref 1):
 * centred frames with reflect padding (librosa's default before 0.10, and torchaudio's), a
 * periodic Hann window as long as the FFT, Slaney's mel scale and area-normalised triangular
 * filters. Matching librosa means models and recipes from the Python side carry over.
 */

const posInt = z.number().int().positive();

export const logMelSchema = z
  .strictObject({
    /** Rate (Hz) of the samples given. */
    sampleRate: posInt.default(16000),
    /** FFT size, and the window length (samples). */
    nFft: posInt.refine((n) => n >= 2 && (n & (n - 1)) === 0, 'must be a power of two').default(512),
    /** Samples between frame starts. */
    hop: posInt.default(160),
    nMels: posInt.default(64),
    fMin: z.number().nonnegative().default(0),
    /** Top of the highest band (Hz); default sampleRate / 2. */
    fMax: z.number().positive().optional(),
    /** Exponent of the magnitude: 2 for power, 1 for amplitude. */
    power: z.number().positive().default(2),
    /** Values more than this many dB below the spectrogram's peak are raised to it; null: none. */
    topDb: z.number().positive().nullable().default(80),
  })
  .superRefine((o, ctx) => {
    const top = o.fMax ?? o.sampleRate / 2;
    if (top > o.sampleRate / 2)
      ctx.addIssue({ code: 'custom', path: ['fMax'], message: 'must be at most half the sample rate' });
    if (o.fMin >= top)
      ctx.addIssue({ code: 'custom', path: ['fMin'], message: `must be below fMax (${top} Hz)` });
  });

export type LogMelOptions = z.output<typeof logMelSchema>;
export type LogMelInput = z.input<typeof logMelSchema>;

/** Decibels, row-major: `data[mel * frames + frame]`. */
export interface Spectrogram {
  data: Float32Array;
  mels: number;
  frames: number;
}

/** Powers below this are taken as this before the log (librosa's amin): -100 dB is silence. */
const AMIN = 1e-10;
const SILENCE_DB = 10 * Math.log10(AMIN);

// Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27;

const hzToMel = (hz: number) =>
  hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
const melToHz = (mel: number) =>
  mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : mel * F_SP;

/** Each band's weights over the FFT bins, stored from its first non-zero bin. */
interface MelBand {
  first: number;
  weights: Float64Array;
}

/** librosa.filters.mel with norm='slaney': triangles between mel-spaced edges, each of area 1 per Hz. */
function melBands(o: LogMelOptions): MelBand[] {
  const bins = o.nFft / 2 + 1;
  const lo = hzToMel(o.fMin);
  const hi = hzToMel(o.fMax ?? o.sampleRate / 2);
  const edges = Array.from({ length: o.nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (o.nMels + 1)));
  return Array.from({ length: o.nMels }, (_, m) => {
    const [left, centre, right] = [edges[m]!, edges[m + 1]!, edges[m + 2]!];
    const norm = 2 / (right - left);
    const all = Float64Array.from({ length: bins }, (_, k) => {
      const hz = (k * o.sampleRate) / o.nFft;
      return Math.max(0, Math.min((hz - left) / (centre - left), (right - hz) / (right - centre))) * norm;
    });
    const first = all.findIndex((v) => v > 0);
    if (first < 0)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `mel band ${m} (${left.toFixed(1)}–${right.toFixed(1)} Hz) covers no FFT bin: use fewer mels or a larger nFft`,
      );
    const last = all.findLastIndex((v) => v > 0);
    return { first, weights: all.slice(first, last + 1) };
  });
}

/** The periodic Hann window (scipy's get_window('hann', n, fftbins=True)). */
function hann(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
}

/** Sample `i` of the signal extended by reflection about its ends (numpy's 'reflect'). */
function reflected(x: Float32Array, i: number): number {
  const n = x.length;
  if (n === 0) return 0;
  if (n === 1) return x[0]!;
  const period = 2 * (n - 1);
  const k = ((i % period) + period) % period;
  return x[k < n ? k : period - k]!;
}

/**
 * Returns a log-mel function for the given options: the filters, window and FFT are built once
 * and reused for every signal it is given. A signal of length L gives 1 + floor(L / hop) frames.
 */
export function createLogMel(options: LogMelInput = {}): (samples: Float32Array) => Spectrogram {
  const o = logMelSchema.parse(options);
  const { nFft, hop, nMels, power, topDb } = o;
  const bands = melBands(o);
  const window = hann(nFft);
  const fft = new FFT(nFft);
  const frame = new Float64Array(nFft);
  const spectrum = new Float64Array(2 * nFft);
  const bins = new Float64Array(nFft / 2 + 1);
  return (samples) => {
    const frames = 1 + Math.floor(samples.length / hop);
    const data = new Float32Array(nMels * frames);
    let peak = -Infinity;
    for (let t = 0; t < frames; t++) {
      const start = t * hop - nFft / 2;
      if (start >= 0 && start + nFft <= samples.length)
        for (let n = 0; n < nFft; n++) frame[n] = window[n]! * samples[start + n]!;
      else for (let n = 0; n < nFft; n++) frame[n] = window[n]! * reflected(samples, start + n);
      fft.realTransform(spectrum, frame);
      for (let k = 0; k < bins.length; k++) {
        const squared = spectrum[2 * k]! ** 2 + spectrum[2 * k + 1]! ** 2;
        bins[k] = power === 2 ? squared : squared ** (power / 2);
      }
      for (let m = 0; m < nMels; m++) {
        const { first, weights } = bands[m]!;
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += weights[k]! * bins[first + k]!;
        const db = 10 * Math.log10(Math.max(sum, AMIN));
        data[m * frames + t] = db;
        if (db > peak) peak = db;
      }
    }
    if (topDb !== null) {
      const floor = peak - topDb;
      for (let i = 0; i < data.length; i++) if (data[i]! < floor) data[i] = floor;
    }
    return { data, mels: nMels, frames };
  };
}

/** The log-mel spectrogram of one signal (build a createLogMel function for many). */
export function logMelSpectrogram(samples: Float32Array, options: LogMelInput = {}): Spectrogram {
  return createLogMel(options)(samples);
}

/**
 * Gives a spectrogram exactly `frames` frames, centred: a longer one is cropped around its
 * middle, a shorter one padded on both sides with its minimum (silence for an empty one).
 * Returns the spectrogram itself when it already has that many.
 */
export function fitFrames(spec: Spectrogram, frames: number): Spectrogram {
  if (!Number.isInteger(frames) || frames < 1)
    throw new LoupeError('INVALID_ARGUMENT', `frames must be a positive integer, got ${frames}`);
  if (spec.frames === frames) return spec;
  const data = new Float32Array(spec.mels * frames);
  const offset = Math.floor(Math.abs(spec.frames - frames) / 2);
  if (spec.frames > frames) {
    for (let m = 0; m < spec.mels; m++) {
      const row = m * spec.frames + offset;
      data.set(spec.data.subarray(row, row + frames), m * frames);
    }
  } else {
    let min = spec.data.length ? Infinity : SILENCE_DB;
    for (let i = 0; i < spec.data.length; i++) if (spec.data[i]! < min) min = spec.data[i]!;
    data.fill(min);
    for (let m = 0; m < spec.mels; m++)
      data.set(spec.data.subarray(m * spec.frames, (m + 1) * spec.frames), m * frames + offset);
  }
  return { data, mels: spec.mels, frames };
}

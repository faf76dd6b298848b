import type { ImageSet } from '../../data/image-set.js';
import type { AudioSpan } from '../../data/sources/audio/audio-items.js';
import type { ResampleQuality } from '../../data/sources/audio/resample.js';
import { cutSpan } from '../../data/sources/audio/span-samples.js';
import { decodeWav } from '../../data/sources/audio/wav-decode.js';
import type { ManifestItem } from '../../data/versions/manifest.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { createLogMel, fitFrames, logMelSchema, type LogMelInput } from './log-mel.js';

/**
 * Audio items of a dataset version as fixed-size inputs: clips of one length, then log-mel
 * spectrograms laid out as one-channel images, so the image CNN trainer trains on sound.
 */

export interface SegmentLoadOptions {
  /** Rate (Hz) every clip is resampled to. */
  sampleRate: number;
  /**
   * Length of every clip (seconds): longer segments are cropped around their middle, shorter
   * ones padded with silence on both sides.
   */
  seconds: number;
  quality?: ResampleQuality;
}

export interface AudioSegments {
  /** One mono clip per item, in the items' order, each round(seconds × sampleRate) samples. */
  waves: Float32Array[];
  /** Each clip's label. */
  labels: string[];
}

/** The span of `seconds` centred on [start, end]: cropped to it, or padded with silence around it. */
function centred(
  recording: string,
  sampleRate: number,
  start: number,
  end: number,
  seconds: number,
): AudioSpan {
  const length = end - start;
  if (length >= seconds) {
    const from = start + (length - seconds) / 2;
    return {
      recording,
      sampleRate,
      start: from,
      end: from + seconds,
      padBefore: 0,
      padAfter: 0,
      duration: seconds,
    };
  }
  const padBefore = (seconds - length) / 2;
  return {
    recording,
    sampleRate,
    start,
    end,
    padBefore,
    padAfter: seconds - length - padBefore,
    duration: seconds,
  };
}

/**
 * Reads audio items (segments of recordings in the blob store) as clips of one length. Each
 * recording is decoded, mixed to mono and resampled once, however many segments it holds, and
 * only one is held in memory at a time. An item without times is its whole recording.
 */
export async function loadAudioSegments(
  items: readonly ManifestItem[],
  blobs: BlobStore,
  o: SegmentLoadOptions,
): Promise<AudioSegments> {
  if (!Number.isInteger(o.sampleRate) || o.sampleRate <= 0)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `sample rate must be a positive whole number of Hz, got ${o.sampleRate}`,
    );
  if (!(Number.isFinite(o.seconds) && o.seconds > 0))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `clip length must be a positive number of seconds, got ${o.seconds}`,
    );
  const byBlob = new Map<string, number[]>();
  items.forEach((item, i) => {
    if (item.kind !== 'audio')
      throw new LoupeError('INVALID_ARGUMENT', `${item.source} is an ${item.kind} item, not audio`);
    const list = byBlob.get(item.blob);
    if (list) list.push(i);
    else byBlob.set(item.blob, [i]);
  });
  const waves = new Array<Float32Array>(items.length);
  for (const [blob, indices] of byBlob) {
    // Errors name the recording as the dataset knows it, without the segment's #t= fragment.
    const name = items[indices[0]!]!.source.replace(/#.*$/, '');
    const decoded = await decodeWav(await blobs.get(blob), name, {
      sampleRate: o.sampleRate,
      quality: o.quality,
    });
    for (const i of indices) {
      const item = items[i]!;
      const span = centred(
        name,
        decoded.info.sampleRate,
        item.start ?? 0,
        item.end ?? decoded.info.duration,
        o.seconds,
      );
      waves[i] = cutSpan(decoded.samples, decoded.sampleRate, span);
    }
  }
  return { waves, labels: items.map((i) => i.label) };
}

/** Standardisation of spectrogram values: (dB - mean) / std, one pair for the whole set. */
export interface Standardization {
  mean: number;
  std: number;
}

/**
 * Log-mel spectrograms of clips as an image set of shape [1, nMels, frames] (each fitted to
 * `frames`, see fitFrames), standardised. Statistics come from these clips unless given: compute
 * them on the training set and pass them for validation and test, so all three are scaled alike.
 * `logMel.sampleRate` must be the rate the clips were loaded at.
 */
export function spectrogramSet(
  waves: readonly Float32Array[],
  labels: readonly string[],
  classes: readonly string[],
  logMel: LogMelInput,
  frames: number,
  standardization?: Standardization,
): { set: ImageSet; standardization: Standardization } {
  if (waves.length !== labels.length)
    throw new LoupeError('INVALID_ARGUMENT', `${waves.length} clips but ${labels.length} labels`);
  const index = new Map(classes.map((c, i) => [c, i]));
  const labelIndices = Int32Array.from(labels, (l) => {
    const i = index.get(l);
    if (i === undefined)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `label '${l}' is not one of the classes (${classes.join(', ')})`,
      );
    return i;
  });
  const { nMels } = logMelSchema.parse(logMel);
  const x = logMelImages(waves, logMel, frames);
  const stats = standardization ?? statistics(x);
  standardize(x, stats);
  return {
    set: { shape: [1, nMels, frames], count: waves.length, x, labels: labelIndices, classes: [...classes] },
    standardization: stats,
  };
}

/** Clips as one batch of [nMels, frames] log-mel images, standardised when statistics are given. */
export function logMelImages(
  waves: readonly Float32Array[],
  logMel: LogMelInput,
  frames: number,
  standardization?: Standardization,
): Float32Array {
  if (!Number.isInteger(frames) || frames < 1)
    throw new LoupeError('INVALID_ARGUMENT', `frames must be a positive integer, got ${frames}`);
  const spectrogram = createLogMel(logMel);
  const size = logMelSchema.parse(logMel).nMels * frames;
  const x = new Float32Array(waves.length * size);
  waves.forEach((wave, i) => x.set(fitFrames(spectrogram(wave), frames).data, i * size));
  if (standardization) standardize(x, standardization);
  return x;
}

function standardize(x: Float32Array, { mean, std }: Standardization): void {
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - mean) / std;
}

/** Mean and standard deviation of all values; a constant set gets std 1 rather than a division by 0. */
function statistics(x: Float32Array): Standardization {
  if (!x.length)
    throw new LoupeError('INVALID_ARGUMENT', 'no clips to compute standardisation statistics from');
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]!;
  const mean = sum / x.length;
  let squares = 0;
  for (let i = 0; i < x.length; i++) squares += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(squares / x.length) || 1 };
}

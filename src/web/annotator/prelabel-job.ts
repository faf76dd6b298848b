import { readWav } from '../../data/sources/audio/wav-decode.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { windowing } from '../../inference/audio-windows.js';
import { Classifier } from '../../inference/classifier.js';
import { mergeWindows } from '../../inference/merge-windows.js';
import { predictFiles } from '../../inference/predict-files.js';
import { spectrogramPng, type SpectrogramImage } from './spectrogram-png.js';

export interface PrelabelJob {
  /** The packaged classifier (model.onnx), already checked against the registry's checksum. */
  onnx: Uint8Array;
  /** The WAV file (its blob). */
  file: string;
  /** Seconds between window starts; default a quarter of the model's clip. */
  hop?: number;
}

export interface PredictedSegment {
  start: number;
  end: number;
  /** Mean calibrated probabilities of the windows joined, in `classes` order. */
  probs: number[];
}

export interface PrelabelResult {
  classes: string[];
  window: number;
  hop: number;
  segments: PredictedSegment[];
  spectrogram: SpectrogramImage;
}

/**
 * Pre-labels one recording as `loupe predict --hop H --merge` does (the same windowing, model
 * front end and merging) and draws its spectrogram with the model's front end. Windows overlap
 * by default, so each event gets a window centred on it and merged boundaries fall between
 * windows rather than on a fixed grid.
 */
export async function runPrelabel(job: PrelabelJob): Promise<PrelabelResult> {
  const classifier = await Classifier.open(job.onnx, { threads: 1 });
  try {
    const { inputs } = classifier;
    if (inputs.kind !== 'audio')
      throw new LoupeError('INVALID_ARGUMENT', 'this model classifies images, not recordings');
    const { length, hop } = windowing(inputs, { hop: job.hop ?? inputs.seconds / 4 });
    if (hop > length)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `a hop of ${hop} s is longer than the ${length} s window: parts of the recording would get no prediction`,
      );
    const { predictions, skipped } = await predictFiles(classifier, [job.file], { window: length, hop });
    if (skipped.length)
      throw new LoupeError('CORRUPT_FILE', `the recording cannot be read: ${skipped[0]!.reason}`);
    // Decoded a second time for the picture: predictFiles keeps its samples to itself, and at the
    // model's own rate (the usual case) decoding is a copy.
    const { samples } = await readWav(job.file, { sampleRate: inputs.sampleRate });
    return {
      classes: classifier.classes,
      window: length,
      hop,
      segments: mergeWindows(predictions).map((p) => ({ start: p.start!, end: p.end!, probs: [...p.probs] })),
      spectrogram: await spectrogramPng(samples, inputs.logMel),
    };
  } finally {
    await classifier.dispose();
  }
}

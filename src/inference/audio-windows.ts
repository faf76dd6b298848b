import type { AudioWindow, RecordingRef } from '../data/sources/audio/audio-items.js';
import { windowRecording } from '../data/sources/audio/audio-windows.js';
import { cutSpan } from '../data/sources/audio/span-samples.js';
import { LoupeError } from '../errors/loupe-error.js';
import { logMelImages } from '../features/audio/segment-set.js';
import type { ModelInputs } from './model-inputs.js';

export type AudioInputs = Extract<ModelInputs, { kind: 'audio' }>;

export interface WindowChoice {
  /** Seconds of recording per prediction; default, and at most, the model's clip length. */
  window?: number;
  /** Seconds between window starts; default the window (no overlap). */
  hop?: number;
}

/** The window length and hop for a model, checked, so a bad choice fails before any file is read. */
export function windowing(inputs: AudioInputs, o: WindowChoice = {}): { length: number; hop: number } {
  const length = o.window ?? inputs.seconds;
  const hop = o.hop ?? length;
  for (const [name, v] of [
    ['window', length],
    ['hop', hop],
  ] as const)
    if (!(Number.isFinite(v) && v > 0))
      throw new LoupeError('INVALID_ARGUMENT', `the ${name} must be a positive number of seconds, got ${v}`);
  if (length > inputs.seconds + 1e-6)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `a ${length} s window is longer than the ${inputs.seconds} s the model hears at a time; ` +
        'use a window of at most that, and a hop shorter than the window to overlap them',
    );
  return { length, hop };
}

/**
 * The windows a recording is classified in: [0, w], [hop, hop + w], …, the last one reaching the
 * end of the recording, so every second gets a prediction. Each is placed in the middle of a clip
 * of the model's length with silence around it, which is how training fed labelled segments
 * shorter than the clip. A window longer than the clip is refused: the model would hear only its
 * middle, and the times reported for it would be wrong.
 */
export function recordingWindows(
  recording: RecordingRef,
  inputs: AudioInputs,
  o: WindowChoice = {},
): AudioWindow[] {
  const { length, hop } = windowing(inputs, o);
  const { windows } = windowRecording(recording, { length, hop, tail: 'pad' });
  return windows.map((w) => {
    const padBefore = (inputs.seconds - (w.end - w.start)) / 2;
    return {
      ...w,
      padBefore,
      padAfter: inputs.seconds - (w.end - w.start) - padBefore,
      duration: inputs.seconds,
    };
  });
}

/**
 * The classifier's input for windows of one recording, from its samples decoded (mono) at the
 * model's sample rate: the same log-mel images and standardisation as the model was trained on.
 */
export function windowInputs(
  samples: Float32Array,
  windows: readonly AudioWindow[],
  inputs: AudioInputs,
): Float32Array {
  return logMelImages(
    windows.map((w) => cutSpan(samples, inputs.sampleRate, w)),
    inputs.logMel,
    inputs.frames,
    inputs.standardization,
  );
}

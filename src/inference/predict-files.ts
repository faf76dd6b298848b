import { readWav } from '../data/sources/audio/wav-decode.js';
import { windowInputs, type AudioInputs, type WindowChoice } from './audio-windows.js';
import type { Classifier } from './classifier.js';
import { decodeImages } from './image-batch.js';
import { skippedFor, type SkippedFile } from './input-files.js';
import { triageFiles, type Recording } from './triage-files.js';

/** One prediction: a whole image, or a window (or merged stretch of windows) of a recording. */
export interface FilePrediction {
  path: string;
  /** Seconds into the recording. */
  start?: number;
  end?: number;
  /** Calibrated probabilities, in the classifier's class order. */
  probs: Float32Array;
  /** How many windows a merged segment stands for. */
  windows?: number;
}

export interface PredictFilesOptions extends WindowChoice {
  /** Images or windows per ONNX Runtime call; default 32. */
  batch?: number;
  signal?: AbortSignal;
  /** Counts images, or windows of recordings. */
  onProgress?: (done: number, total: number) => void;
}

export interface FilePredictions {
  predictions: FilePrediction[];
  skipped: SkippedFile[];
}

const rows = (probs: Float32Array, k: number, n: number) =>
  Array.from({ length: n }, (_, i) => probs.slice(i * k, (i + 1) * k));

/**
 * Classifies files with a packaged classifier: each image whole, each recording window by window
 * (see recordingWindows). Whatever the model cannot take, or that cannot be decoded, is skipped
 * with the reason and the rest carries on. Stops at the next batch once `signal` aborts.
 */
export async function predictFiles(
  classifier: Classifier,
  files: readonly string[],
  o: PredictFilesOptions = {},
): Promise<FilePredictions> {
  const { inputs } = classifier;
  const triage = await triageFiles(files, inputs, o);
  const total = triage.images.length + triage.recordings.reduce((a, r) => a + r.windows.length, 0);
  let done = 0;
  const step = (n: number) => o.onProgress?.((done += n), total);
  const batch = o.batch ?? 32;
  const run = async (x: Float32Array, n: number) =>
    rows((await classifier.run(x, n, { embedding: false })).probs, classifier.classes.length, n);
  const out: FilePredictions = { predictions: [], skipped: [...triage.skipped] };
  o.onProgress?.(0, total);
  if (inputs.kind === 'image') {
    for (let at = 0; at < triage.images.length; at += batch) {
      o.signal?.throwIfAborted();
      const chunk = triage.images.slice(at, at + batch);
      const { x, decoded, failed } = await decodeImages(chunk, inputs.preprocessing);
      out.skipped.push(...failed);
      if (decoded.length)
        (await run(x, decoded.length)).forEach((probs, i) =>
          out.predictions.push({ path: decoded[i]!, probs }),
        );
      step(chunk.length);
    }
    return out;
  }
  for (const recording of triage.recordings) {
    o.signal?.throwIfAborted();
    await predictRecording(recording, { inputs, batch, run, out, step, signal: o.signal });
  }
  return out;
}

interface RecordingContext {
  inputs: AudioInputs;
  batch: number;
  run: (x: Float32Array, n: number) => Promise<Float32Array[]>;
  out: FilePredictions;
  step: (n: number) => void;
  signal: AbortSignal | undefined;
}

/** One recording, decoded once at the model's rate; its windows classified a batch at a time. */
async function predictRecording(
  { path, windows }: Recording,
  { inputs, batch, run, out, step, signal }: RecordingContext,
): Promise<void> {
  let samples: Float32Array;
  try {
    samples = (await readWav(path, { sampleRate: inputs.sampleRate })).samples;
  } catch (e) {
    // The header was fine but the audio is not (a float NaN, a file changed since it was listed).
    out.skipped.push(skippedFor(path, e));
    step(windows.length);
    return;
  }
  for (let at = 0; at < windows.length; at += batch) {
    signal?.throwIfAborted();
    const chunk = windows.slice(at, at + batch);
    (await run(windowInputs(samples, chunk, inputs), chunk.length)).forEach((probs, i) =>
      out.predictions.push({ path, start: chunk[i]!.start, end: chunk[i]!.end, probs }),
    );
    step(chunk.length);
  }
}

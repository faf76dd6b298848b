import type { AudioWindow } from '../data/sources/audio/audio-items.js';
import { readWavInfo } from '../data/sources/audio/wav-decode.js';
import { mapConcurrent } from '../util/map-concurrent.js';
import { recordingWindows, type WindowChoice } from './audio-windows.js';
import { fileKind } from './file-kind.js';
import { skippedFor, type SkippedFile } from './input-files.js';
import type { ModelInputs } from './model-inputs.js';

export interface Recording {
  path: string;
  windows: AudioWindow[];
}

export interface Triage {
  /** Files the model can take: images for an image model… */
  images: string[];
  /** …recordings, already cut into windows, for an audio model. */
  recordings: Recording[];
  skipped: SkippedFile[];
}

/** Files sniffed at once: enough to hide disk latency without opening thousands of handles. */
const CONCURRENCY = 16;

/**
 * Sorts files into what a model of this kind can classify and what it cannot, each of the latter
 * with a reason. Recordings' headers are read here so a corrupt one is reported before any work
 * starts and the number of windows, which progress counts, is known up front.
 */
export async function triageFiles(
  files: readonly string[],
  inputs: ModelInputs,
  windowing: WindowChoice = {},
): Promise<Triage> {
  const kinds = new Array<{ image?: string; recording?: Recording; skipped?: SkippedFile }>(files.length);
  await mapConcurrent(files, CONCURRENCY, async (file, i) => {
    const skip = (reason: string): void => {
      kinds[i] = { skipped: { path: file, reason } };
    };
    let found;
    try {
      found = await fileKind(file);
    } catch (e) {
      kinds[i] = { skipped: skippedFor(file, e) };
      return;
    }
    if (inputs.kind === 'image') {
      if (found.kind === 'image') kinds[i] = { image: file };
      else if (found.kind === 'audio') skip('audio, but this model classifies images');
      else skip(`${found.what}, not an image`);
      return;
    }
    if (found.kind === 'image') return skip('an image, but this model classifies audio (WAV recordings)');
    if (found.kind === 'other') return skip(`${found.what}, not a WAV recording`);
    let info;
    try {
      info = await readWavInfo(file);
    } catch (e) {
      kinds[i] = { skipped: skippedFor(file, e) };
      return;
    }
    const windows = recordingWindows(
      { file, duration: info.duration, sampleRate: info.sampleRate },
      inputs,
      windowing,
    );
    if (!windows.length) return skip('the recording holds no audio');
    kinds[i] = { recording: { path: file, windows } };
  });
  return {
    images: kinds.flatMap((k) => (k.image ? [k.image] : [])),
    recordings: kinds.flatMap((k) => (k.recording ? [k.recording] : [])),
    skipped: kinds.flatMap((k) => (k.skipped ? [k.skipped] : [])),
  };
}

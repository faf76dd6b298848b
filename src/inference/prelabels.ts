import type { SkippedFile } from './input-files.js';
import type { FilePrediction } from './predict-files.js';
import { topK, type LabelProbability } from './top-k.js';

/** One pre-label: an image, or a window or merged segment of a recording (times in seconds). */
export interface PrelabelItem {
  path: string;
  start?: number;
  end?: number;
  top: LabelProbability[];
  /** Windows a merged segment stands for. */
  windows?: number;
}

/** What `loupe predict` writes: the model's guesses for review, and every file it left out. */
export interface Prelabels {
  /** The model as a registry reference (name@version), or the run it was packaged from. */
  model: string;
  createdAt: string;
  items: PrelabelItem[];
  skipped: SkippedFile[];
}

/** float32 holds about seven significant digits; printing seventeen would only show noise. */
const round = (p: number) => Number(p.toPrecision(6));

export function prelabels(
  model: string,
  classes: readonly string[],
  predictions: readonly FilePrediction[],
  skipped: readonly SkippedFile[],
  o: { topK: number; createdAt?: Date },
): Prelabels {
  return {
    model,
    createdAt: (o.createdAt ?? new Date()).toISOString(),
    items: predictions.map((p) => ({
      path: p.path,
      ...(p.start !== undefined ? { start: p.start, end: p.end } : {}),
      top: topK(p.probs, classes, o.topK).map((t) => ({ label: t.label, probability: round(t.probability) })),
      ...(p.windows !== undefined ? { windows: p.windows } : {}),
    })),
    // By path, so a listing of folders given in any order reads alike.
    skipped: [...skipped].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

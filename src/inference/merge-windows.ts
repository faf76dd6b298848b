import { roundTime } from '../data/sources/audio/audio-items.js';
import type { FilePrediction } from './predict-files.js';

const argmax = (p: Float32Array) => p.reduce((best, v, i) => (v > p[best]! ? i : best), 0);

/** Times are kept to the microsecond; windows this close count as touching. */
const EPSILON = 1e-6;

/**
 * Joins runs of consecutive windows of a recording whose most probable class is the same into one
 * segment each: what a reviewer wants to see as labels (Audacity's `start end label`), rather than
 * a label per window. A segment's probabilities are the mean of its windows', so its top class is
 * still theirs. Overlapping windows of different classes are split in the middle of the overlap,
 * so segments never overlap; windows with a gap between them (hop longer than the window) are
 * never joined across it. Predictions without times (images) pass through.
 */
export function mergeWindows(predictions: readonly FilePrediction[]): FilePrediction[] {
  const out: FilePrediction[] = [];
  let open: { segment: FilePrediction; sum: Float64Array; cls: number; lastEnd: number } | undefined;
  const close = () => {
    if (!open) return;
    const { segment, sum } = open;
    segment.probs = Float32Array.from(sum, (v) => v / segment.windows!);
    out.push(segment);
    open = undefined;
  };
  for (const p of predictions) {
    if (p.start === undefined || p.end === undefined) {
      close();
      out.push(p);
      continue;
    }
    const cls = argmax(p.probs);
    const touches = open && open.segment.path === p.path && p.start <= open.lastEnd + EPSILON;
    if (open && touches && open.cls === cls) {
      open.sum.forEach((v, i) => (open!.sum[i] = v + p.probs[i]!));
      open.segment.windows!++;
      open.segment.end = p.end;
      open.lastEnd = p.end;
      continue;
    }
    let start = p.start;
    if (open && touches && p.start < open.lastEnd) {
      start = roundTime((p.start + open.lastEnd) / 2);
      open.segment.end = start;
    }
    close();
    open = {
      segment: { path: p.path, start, end: p.end, probs: p.probs, windows: 1 },
      sum: Float64Array.from(p.probs),
      cls,
      lastEnd: p.end,
    };
  }
  close();
  return out;
}

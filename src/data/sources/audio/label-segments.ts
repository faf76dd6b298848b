import { LoupeError } from '../../../errors/loupe-error.js';
import type { AudacityLabel } from './audacity-labels.js';
import { roundTime, type AudioProblem, type LabelledSegment, type RecordingRef } from './audio-items.js';

/**
 * Fixed-length segments, for models that take inputs of one size. Each segment becomes a span of
 * `duration` seconds centred on its label: a longer label is cropped around its centre; a shorter
 * one is padded, either with silence on both sides (`pad: 'zeros'`, the default: the model sees
 * only the annotated sound) or with the recording around it (`pad: 'context'`: no artificial
 * silence, but neighbouring sounds may enter; silence fills in only beyond the recording's ends).
 * A point label (start = end) then marks the centre of its window.
 */
export interface FitOptions {
  duration: number;
  pad?: 'zeros' | 'context';
}

export interface SegmentOptions {
  /**
   * Labels that cross the start or end of the recording: 'clip' them to it (reported as a
   * warning) or 'reject' them (reported as skipped). Default 'clip'. Labels lying wholly outside
   * are always skipped; overshoots of up to one sample are clipped silently.
   */
  policy?: 'clip' | 'reject';
  /** Skip labels shorter than this (seconds). Point labels are exempt when `fit` is set. */
  minDuration?: number;
  /** Skip labels longer than this (seconds); with `fit` they are cropped instead if this is unset. */
  maxDuration?: number;
  fit?: FitOptions;
}

export interface SegmentResult {
  segments: LabelledSegment[];
  problems: AudioProblem[];
}

function checkOptions(options: SegmentOptions): void {
  const bad = (what: string, v: unknown) =>
    new LoupeError('INVALID_ARGUMENT', `${what} must be a positive number of seconds, got ${String(v)}`);
  const { policy = 'clip', minDuration, maxDuration, fit } = options;
  if (policy !== 'clip' && policy !== 'reject')
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `label policy must be 'clip' or 'reject', got ${String(policy)}`,
    );
  if (minDuration !== undefined && !(Number.isFinite(minDuration) && minDuration >= 0))
    throw bad('minDuration', minDuration);
  if (maxDuration !== undefined && !(Number.isFinite(maxDuration) && maxDuration > 0))
    throw bad('maxDuration', maxDuration);
  if (minDuration !== undefined && maxDuration !== undefined && minDuration > maxDuration)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `minDuration ${minDuration} s exceeds maxDuration ${maxDuration} s`,
    );
  if (fit) {
    if (!(Number.isFinite(fit.duration) && fit.duration > 0)) throw bad('fit.duration', fit.duration);
    if (fit.pad !== undefined && fit.pad !== 'zeros' && fit.pad !== 'context')
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `fit.pad must be 'zeros' or 'context', got ${String(fit.pad)}`,
      );
  }
}

/** The span to read for a label from `start` to `end` (already inside the recording). */
function place(
  start: number,
  end: number,
  recording: RecordingRef,
  fit: FitOptions | undefined,
): Pick<LabelledSegment, 'start' | 'end' | 'padBefore' | 'padAfter' | 'duration'> {
  if (!fit) return { start, end, padBefore: 0, padAfter: 0, duration: roundTime(end - start) };
  const target = fit.duration;
  const centre = (start + end) / 2;
  if (end - start >= target || fit.pad === 'context') {
    // Crop around the centre; with context, also widen around it, as far as the recording goes.
    const from = centre - target / 2;
    const to = centre + target / 2;
    const s = roundTime(Math.max(0, from));
    const e = roundTime(Math.min(recording.duration, to));
    const padBefore = roundTime(s - from);
    return {
      start: s,
      end: e,
      padBefore,
      padAfter: roundTime(target - padBefore - (e - s)),
      duration: target,
    };
  }
  const padBefore = roundTime((target - (end - start)) / 2);
  return { start, end, padBefore, padAfter: roundTime(target - (end - start) - padBefore), duration: target };
}

/**
 * Turns the labels of one recording into segments, after checking each against the recording:
 * out-of-range labels are clipped or rejected per `policy`, exact duplicates, point labels
 * without `fit`, and labels outside [minDuration, maxDuration] are skipped, and overlapping
 * labels are kept but reported. Every label left out appears in `problems` with the reason.
 */
export function segmentsFromLabels(
  labels: readonly AudacityLabel[],
  recording: RecordingRef,
  labelFile: string,
  options: SegmentOptions = {},
): SegmentResult {
  checkOptions(options);
  const { policy = 'clip', minDuration, maxDuration, fit } = options;
  const tolerance = 1 / recording.sampleRate;
  const segments: LabelledSegment[] = [];
  const problems: AudioProblem[] = [];
  const problem = (
    l: AudacityLabel,
    severity: AudioProblem['severity'],
    code: AudioProblem['code'],
    reason: string,
  ) => problems.push({ file: labelFile, line: l.line, severity, code, reason: `'${l.label}' ${reason}` });
  const seen = new Map<string, number>();
  const dur = recording.duration;
  const at = (t: number) => `${roundTime(t)} s`;

  for (const l of labels) {
    let start = Math.max(0, l.start);
    let end = Math.min(dur, l.end);
    const point = l.start === l.end;
    if (end < start || (end === start && !point) || (point && (l.start < 0 || l.start > dur))) {
      problem(
        l,
        'skipped',
        'out-of-range',
        `${at(l.start)}–${at(l.end)} lies outside the recording (0–${at(dur)})`,
      );
      continue;
    }
    const over = Math.max(0, -l.start) + Math.max(0, l.end - dur);
    if (over > tolerance) {
      const where = `${at(l.start)}–${at(l.end)} crosses the recording's bounds (0–${at(dur)})`;
      if (policy === 'reject') {
        problem(l, 'skipped', 'out-of-range', `${where}; rejected (policy 'reject')`);
        continue;
      }
      problem(l, 'warning', 'clipped', `${where}; clipped to ${at(start)}–${at(end)}`);
    }
    start = roundTime(start);
    end = roundTime(end);
    const key = `${start}\t${end}\t${l.label}`;
    const first = seen.get(key);
    if (first !== undefined) {
      problem(l, 'skipped', 'duplicate', `repeats line ${first} exactly`);
      continue;
    }
    seen.set(key, l.line);
    if (point && !fit) {
      problem(
        l,
        'skipped',
        'point-label',
        `is a point label (${at(l.start)}), it has no duration: set a fixed segment duration to take a window around it`,
      );
      continue;
    }
    const length = end - start;
    if (!point && minDuration !== undefined && length < minDuration) {
      problem(l, 'skipped', 'too-short', `lasts ${at(length)}, less than the minimum ${minDuration} s`);
      continue;
    }
    if (maxDuration !== undefined && length > maxDuration) {
      problem(l, 'skipped', 'too-long', `lasts ${at(length)}, more than the maximum ${maxDuration} s`);
      continue;
    }
    segments.push({
      kind: 'segment',
      recording: recording.file,
      sampleRate: recording.sampleRate,
      label: l.label,
      labelFile,
      line: l.line,
      labelStart: l.start,
      labelEnd: l.end,
      ...place(start, end, recording, fit),
    });
  }

  // Overlaps between kept labels (as annotated, before fitting), found by a sweep over starts.
  const byStart = [...segments].sort((a, b) => a.labelStart - b.labelStart || a.line - b.line);
  for (let i = 0; i < byStart.length; i++) {
    const a = byStart[i]!;
    for (let j = i + 1; j < byStart.length; j++) {
      const b = byStart[j]!;
      const aEnd = Math.min(a.labelEnd, dur);
      if (b.labelStart >= aEnd) break;
      const overlap = Math.min(aEnd, b.labelEnd) - Math.max(a.labelStart, b.labelStart);
      if (overlap > 0)
        problems.push({
          file: labelFile,
          line: b.line,
          severity: 'warning',
          code: 'overlap',
          reason: `'${b.label}' (line ${b.line}) overlaps '${a.label}' (line ${a.line}) by ${at(overlap)}; both kept`,
        });
    }
  }
  return { segments, problems };
}

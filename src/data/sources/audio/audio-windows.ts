import { LoupeError } from '../../../errors/loupe-error.js';
import { roundTime, type AudioProblem, type AudioWindow, type RecordingRef } from './audio-items.js';

export interface WindowOptions {
  /** Window length in seconds. */
  length: number;
  /** Seconds between window starts; default `length` (no overlap). */
  hop?: number;
  /**
   * The end of the recording that full windows do not reach: 'pad' (default) adds one last
   * window there, filled up with silence, so every second of the recording is predicted;
   * 'drop' leaves it out and reports it.
   */
  tail?: 'pad' | 'drop';
}

export interface WindowResult {
  windows: AudioWindow[];
  problems: AudioProblem[];
}

/** Slack for floating-point times (a microsecond, the precision times are kept to). */
const EPSILON = 1e-6;

/**
 * Cuts a recording into windows starting at 0, hop, 2·hop, ... Window k covers
 * [k·hop, k·hop + length] exactly (times to the microsecond), computed from k rather than
 * accumulated so no error builds up along a long recording.
 */
export function windowRecording(recording: RecordingRef, options: WindowOptions): WindowResult {
  const { length, hop = options.length, tail = 'pad' } = options;
  if (!(Number.isFinite(length) && length > 0))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `window length must be a positive number of seconds, got ${length}`,
    );
  if (!(Number.isFinite(hop) && hop > 0))
    throw new LoupeError('INVALID_ARGUMENT', `window hop must be a positive number of seconds, got ${hop}`);
  if (tail !== 'pad' && tail !== 'drop')
    throw new LoupeError('INVALID_ARGUMENT', `window tail must be 'pad' or 'drop', got ${String(tail)}`);
  const { file, duration, sampleRate } = recording;
  const window = (index: number, start: number, end: number): AudioWindow => ({
    kind: 'window',
    recording: file,
    sampleRate,
    index,
    start,
    end,
    padBefore: 0,
    padAfter: roundTime(length - (end - start)),
    duration: length,
  });
  const full = duration + EPSILON >= length ? Math.floor((duration - length) / hop + EPSILON) + 1 : 0;
  const windows: AudioWindow[] = [];
  for (let k = 0; k < full; k++) windows.push(window(k, roundTime(k * hop), roundTime(k * hop + length)));
  const covered = full > 0 ? (full - 1) * hop + length : 0;
  const problems: AudioProblem[] = [];
  // The next window would start here; with hop > length the stretch before it is a gap by design,
  // and with hop < length the last full window may already reach the end.
  const next = roundTime(full * hop);
  const from = Math.max(covered, next);
  if (duration - from > EPSILON) {
    if (tail === 'pad') {
      windows.push(window(full, next, roundTime(duration)));
    } else {
      problems.push({
        file,
        severity: 'skipped',
        code: full === 0 ? 'too-short-for-window' : 'window-tail',
        reason:
          full === 0
            ? `the recording (${roundTime(duration)} s) is shorter than one window (${length} s); tail 'drop' leaves it out`
            : `the last ${roundTime(duration - from)} s (from ${roundTime(from)} s) are in no full window; tail 'drop' leaves them out`,
      });
    }
  }
  return { windows, problems };
}

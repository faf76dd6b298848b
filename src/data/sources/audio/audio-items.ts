/**
 * The plain-data shapes of audio items: spans of a recording to cut (labelled segments and
 * prediction windows) and the problems met while making them. Items hold times, not samples, so
 * they can be listed, hashed into dataset manifests and sent to workers; segment-samples.ts reads
 * their audio when it is needed.
 */

/** What a segment or window needs to know about the recording it comes from. */
export interface RecordingRef {
  /** Path of the WAV file. */
  file: string;
  /** Seconds. */
  duration: number;
  /** The file's own sample rate (Hz). */
  sampleRate: number;
}

/**
 * A stretch of a recording, possibly with silence around it. Its audio is the recording from
 * `start` to `end` seconds, preceded by `padBefore` and followed by `padAfter` seconds of zeros;
 * `duration` is the sum of the three and fixes the sample count: round(duration × rate).
 */
export interface AudioSpan {
  recording: string;
  /** The recording's own sample rate (Hz). */
  sampleRate: number;
  start: number;
  end: number;
  padBefore: number;
  padAfter: number;
  duration: number;
}

export interface LabelledSegment extends AudioSpan {
  kind: 'segment';
  label: string;
  /** The label file and the 1-based line the label came from. */
  labelFile: string;
  line: number;
  /** The label's times as annotated (before clipping, cropping or padding). */
  labelStart: number;
  labelEnd: number;
}

export interface AudioWindow extends AudioSpan {
  kind: 'window';
  /** 0-based position of the window in its recording. */
  index: number;
}

export type AudioProblemCode =
  // label file lines
  | 'bad-line'
  | 'bad-number'
  | 'empty-label'
  | 'end-before-start'
  | 'point-label'
  | 'out-of-range'
  | 'clipped'
  | 'overlap'
  | 'duplicate'
  | 'too-short'
  | 'too-long'
  // windows
  | 'window-tail'
  | 'too-short-for-window'
  // files
  | 'unreadable'
  | 'corrupt-audio'
  | 'unsupported-audio'
  | 'orphan-labels'
  | 'ambiguous-labels'
  | 'empty-labels'
  | 'mixed-sample-rates';

export interface AudioProblem {
  /** The file concerned: a label file for label lines, else the recording or folder. */
  file: string;
  line?: number;
  /** 'skipped': something was left out of the result; 'warning': kept, but look at it. */
  severity: 'skipped' | 'warning';
  code: AudioProblemCode;
  reason: string;
}

/** Times are kept to the microsecond, the precision of Audacity's label files. */
export function roundTime(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6 || 0; // || 0 turns -0 into 0
}

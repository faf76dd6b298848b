import type { Split } from '../versions/manifest.js';

/**
 * Something a source found that may become a dataset item: its bytes are already in the blob
 * store; validation, splitting and the manifest come next.
 */
export interface Candidate {
  kind: 'image' | 'audio';
  blob: string;
  label: string;
  /** Where it came from, for reports and the manifest (relative path, URL, idx://…#i, file.wav#t=…). */
  source: string;
  group?: string;
  split?: Split;
  /** Audio segments: seconds into the recording. */
  start?: number;
  end?: number;
  meta?: Record<string, string | number | boolean>;
}

/** Something a source could not turn into a candidate, and why. */
export interface Rejection {
  source: string;
  reason: string;
  detail?: string;
}

export interface SourceResult {
  candidates: Candidate[];
  rejected: Rejection[];
  /** What the source itself wants recorded (columns used, download counts, ...). */
  details: Record<string, unknown>;
}

export type IngestProgress = (stage: string, done: number, total: number) => void;

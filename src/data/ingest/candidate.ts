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
  /**
   * A person's decision (feedback): when the item is already in the version added to under
   * another label, this label replaces it there instead of being refused as a conflict.
   */
  relabel?: boolean;
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

/** What a source reports besides its candidates. */
export type SourceSummary = Omit<SourceResult, 'candidates'>;

/** Takes each candidate as the source finds it; awaited, so a slow consumer holds the source back. */
export type CandidateSink = (candidate: Candidate) => Promise<void>;

/**
 * A source that hands over its candidates one by one, in its order, instead of returning them
 * all: ingest stages them in the database as they come, so no list of every item is held.
 */
export type CandidateStream = (sink: CandidateSink) => Promise<SourceSummary>;

/** The whole list, for callers that want one (and small sources). */
export async function collectCandidates(stream: CandidateStream): Promise<SourceResult> {
  const candidates: Candidate[] = [];
  const summary = await stream(async (c) => {
    candidates.push(c);
  });
  return { candidates, ...summary };
}

export type IngestProgress = (stage: string, done: number, total: number) => void;

import type { Candidate, CandidateStream, Rejection } from '../../data/ingest/candidate.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import { pendingFeedback, type FeedbackRecord } from './feedback-store.js';

/** Why a pending decision cannot become an item yet. */
export const MISSING_BYTES = 'input bytes not stored';
const NO_SEGMENT = 'audio decision without a segment';

/** Pending decisions about a model's predictions, split by whether they can become items. */
export interface PendingDecisions {
  /** Labelled, with their bytes in the blob store: what the next dataset version takes. */
  usable: FeedbackRecord[];
  /** Labelled but not usable (bytes never stored, an audio decision without a segment), with why. */
  unusable: { record: FeedbackRecord; reason: string }[];
}

/**
 * The bytes of a decision's input, when the blob store has them. The input's hash is its blob's
 * name, so bytes stored by any path (the prediction log, an upload, a dataset) count.
 */
async function storedBlob(blobs: BlobStore, r: FeedbackRecord): Promise<string | undefined> {
  for (const hash of [r.inputBlob, r.inputHash])
    if (hash && /^[0-9a-f]{64}$/.test(hash) && (await blobs.has(hash))) return hash;
  return undefined;
}

/** The model's pending decisions (see pendingFeedback), sorted into usable and not. */
export async function pendingDecisions(
  ws: { db: Database; blobs: BlobStore },
  model: string,
): Promise<PendingDecisions> {
  const out: PendingDecisions = { usable: [], unusable: [] };
  for (const record of await pendingFeedback(ws.db, { model })) {
    if (record.media === 'audio' && !record.segment) out.unusable.push({ record, reason: NO_SEGMENT });
    else if (!(await storedBlob(ws.blobs, record))) out.unusable.push({ record, reason: MISSING_BYTES });
    else out.usable.push(record);
  }
  return out;
}

/**
 * People's decisions as an ingest source: each accepted or corrected input becomes a candidate
 * carrying the decided label, marked `relabel` so that an input already in the dataset under
 * another label takes the person's label. Validation, dedup, leakage checks and splitting then
 * treat them like any other new items. The item's meta names the decision it came from.
 */
export function feedbackCandidates(blobs: BlobStore, decisions: readonly FeedbackRecord[]): CandidateStream {
  return async (sink) => {
    const rejected: Rejection[] = [];
    for (const r of decisions) {
      const source = `feedback:${r.channel}/${r.id}`;
      const blob = await storedBlob(blobs, r);
      if (!blob) {
        rejected.push({ source, reason: MISSING_BYTES, detail: `input ${r.inputHash.slice(0, 12)}` });
        continue;
      }
      const candidate: Candidate = {
        kind: r.media,
        blob,
        label: r.label!,
        source,
        relabel: true,
        meta: { feedback: r.id, channel: r.channel },
      };
      if (r.media === 'audio') {
        if (!r.segment) {
          rejected.push({ source, reason: NO_SEGMENT });
          continue;
        }
        // A recording is the group of its segments, as the audio source has it.
        Object.assign(candidate, { start: r.segment.start, end: r.segment.end, group: blob });
      }
      await sink(candidate);
    }
    const byAction = { accept: 0, correct: 0 };
    for (const r of decisions) if (r.action === 'accept' || r.action === 'correct') byAction[r.action]++;
    return { rejected, details: { feedback: { decisions: decisions.length, ...byAction } } };
  };
}

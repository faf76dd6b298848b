import { ingest, type IngestReport } from '../../data/ingest/ingest.js';
import type { ValidationProgress } from '../../data/validate/validate-columns.js';
import { resolveVersion, type VersionRow } from '../../data/versions/version-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import { markConsumed, type FeedbackRecord } from './feedback-store.js';
import { feedbackCandidates } from './feedback-source.js';

export interface FeedbackDataset {
  /** The version the decisions went into (the latest one when there were none). */
  version: VersionRow;
  /** The decisions offered, now marked as taken by `version`. */
  consumed: number[];
  /** Absent when there was nothing to add. */
  ingest?: IngestReport;
}

/**
 * Adds people's decisions to the dataset's latest version through the ingest path, so they are
 * validated, deduplicated, checked for leakage and split like any new items; a decision about
 * an item already in the dataset relabels it. Each decision is then marked with the version
 * that took it, which makes this idempotent: after a crash between the two, the same decisions
 * give the same version (its id is its content) and are marked then. A decision validation
 * refused (a corrupt file, a copy of a test image) is marked too: the ingest report says why,
 * and offering it again would be refused again.
 */
export async function addFeedbackToDataset(
  ws: Workspace,
  dataset: string,
  decisions: readonly FeedbackRecord[],
  o: { model: string; signal?: AbortSignal; onValidationProgress?: (p: ValidationProgress) => void },
): Promise<FeedbackDataset> {
  if (!decisions.length) return { version: await resolveVersion(ws.db, dataset), consumed: [] };
  const report = await ingest(ws, feedbackCandidates(ws.blobs, decisions), {
    dataset,
    source: `feedback on ${o.model}`,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onValidationProgress ? { onValidationProgress: o.onValidationProgress } : {}),
  });
  const consumed = decisions.map((d) => d.id);
  await markConsumed(ws.db, consumed, report.version);
  return { version: await resolveVersion(ws.db, report.version), consumed, ingest: report };
}

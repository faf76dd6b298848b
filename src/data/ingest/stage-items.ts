import { LoupeError } from '../../errors/loupe-error.js';
import type { ManifestItem } from '../versions/manifest.js';
import { toPendingItem, type PendingItem } from './build-items.js';
import type { Candidate, CandidateStream, Rejection, SourceResult, SourceSummary } from './candidate.js';
import type { IngestStaging } from './ingest-staging.js';

export interface StagedSource {
  /** Items of the version added to. */
  before: number;
  /** Candidates that are already in it, with the same label. */
  alreadyPresent: number;
  /** Items of it that people's decisions (candidates marked relabel) gave another label. */
  relabelled: number;
  /** What the source could not use, and candidates whose label conflicts with the dataset. */
  rejected: { count: number; byReason: Record<string, number>; examples: Rejection[] };
  details: Record<string, unknown>;
  /** Items staged, base and new. */
  staged: number;
}

const BATCH = 100;
const EXAMPLES = 10;
const CONFLICT = 'label conflicts with the dataset';

/**
 * Stages the base version's items, then the source's candidates as the source hands them
 * over. A candidate already in the base stays as it is there; one arriving again under another
 * label is a conflict to report, not a silent no-op — unless it is a person's decision
 * (`relabel`), which gives the base item its label.
 */
export async function stageItems(
  staging: IngestStaging,
  base: AsyncIterable<ManifestItem>,
  found: SourceResult | CandidateStream,
  signal?: AbortSignal,
): Promise<StagedSource> {
  let before = 0;
  let batch: PendingItem[] = [];
  for await (const { fold: _f, ...item } of base) {
    before++;
    batch.push(item);
    if (batch.length === BATCH) {
      await staging.add(batch, true);
      batch = [];
    }
  }
  await staging.add(batch, true);

  let added = 0;
  let alreadyPresent = 0;
  let relabelled = 0;
  let conflicts = 0;
  const conflictExamples: Rejection[] = [];
  let pending: { item: PendingItem; relabel: boolean }[] = [];
  const flush = async () => {
    if (!pending.length) return;
    const existing = await staging.baseLabels(pending.map((p) => p.item.id));
    const relabels = new Map<string, string>();
    const fresh = pending
      .filter(({ item, relabel }) => {
        const label = existing.get(item.id);
        if (label === undefined) return true;
        if (label === item.label) alreadyPresent++;
        else if (relabel) relabels.set(item.id, item.label);
        else if (conflicts++ < EXAMPLES)
          conflictExamples.push({
            source: item.source,
            reason: CONFLICT,
            detail: `already "${label}", given "${item.label}"`,
          });
        return false;
      })
      .map((p) => p.item);
    await staging.relabelBase(relabels);
    relabelled += relabels.size;
    await staging.add(fresh, false);
    added += fresh.length;
    pending = [];
  };
  const sink = async (c: Candidate) => {
    if (signal?.aborted) throw new LoupeError('INTERRUPTED', 'the ingest was interrupted');
    pending.push({ item: toPendingItem(c), relabel: c.relabel === true });
    if (pending.length === BATCH) await flush();
  };
  let summary: SourceSummary;
  if (typeof found === 'function') summary = await found(sink);
  else {
    for (const c of found.candidates) await sink(c);
    summary = found;
  }
  await flush();

  const byReason: Record<string, number> = {};
  for (const r of summary.rejected) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  if (conflicts) byReason[CONFLICT] = (byReason[CONFLICT] ?? 0) + conflicts;
  return {
    before,
    alreadyPresent,
    relabelled,
    rejected: {
      count: summary.rejected.length + conflicts,
      byReason,
      examples: [...summary.rejected.slice(0, EXAMPLES), ...conflictExamples].slice(0, EXAMPLES),
    },
    details: summary.details,
    staged: before + added,
  };
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { Workspace } from '../../workspace/workspace.js';
import { splitOfCode } from '../splits/split-codes.js';
import type { ValidationProgress } from '../validate/validate-columns.js';
import type { ValidationReport } from '../validate/validation-report.js';
import { manifestLine } from '../versions/manifest.js';
import {
  listVersions,
  saveManifest,
  streamVersionItems,
  summarize,
  type VersionRow,
} from '../versions/version-store.js';
import type { CandidateStream, Rejection, SourceResult } from './candidate.js';
import { collectMembers, type Members } from './collect-members.js';
import { IngestStaging } from './ingest-staging.js';
import { readItemColumns, type ItemColumns } from './item-columns.js';
import { splitMembers } from './split-members.js';
import { stageItems } from './stage-items.js';
import { validateStaged } from './validate-staged.js';

export interface IngestOptions {
  dataset: string;
  /** Start from nothing instead of adding to the dataset's latest version. */
  replace?: boolean;
  /** A description of the source for the report ("folder photos/", "csv observations.csv"). */
  source: string;
  onValidationProgress?: (p: ValidationProgress) => void;
  signal?: AbortSignal;
}

export interface IngestReport {
  dataset: string;
  version: string;
  /** False when the result equals an existing version (nothing new was written). */
  created: boolean;
  parent: string | null;
  source: string;
  /** Items before and after this ingest; `relabelled`: base items people's decisions relabelled. */
  items: { before: number; added: number; alreadyPresent: number; relabelled: number; after: number };
  rejectedBySource: { count: number; byReason: Record<string, number>; examples: Rejection[] };
  validation?: ValidationReport;
  sourceDetails: Record<string, unknown>;
  /** Where the JSON form of this report was written. */
  reportFile: string;
}

/** The new version's manifest (manifestChunks), a page of staged items a chunk. */
async function* manifestOf(
  staging: IngestStaging,
  m: Members,
  split: Uint8Array,
  fold: Int32Array,
): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  for await (const page of staging.byId()) {
    let text = '';
    for (const { seq, ...item } of page) {
      const k = m.memberOf[seq - 1]!;
      if (k >= 0)
        text += manifestLine({
          ...item,
          split: splitOfCode(split[k]!)!,
          ...(fold[k]! >= 0 ? { fold: fold[k]! } : {}),
        });
    }
    if (text) yield encoder.encode(text);
  }
}

/** Each member's label and split, for the version's class balance (summarize). */
function* labelsAndSplits(c: ItemColumns, m: Members, split: Uint8Array) {
  for (let k = 0; k < m.item.length; k++)
    yield { label: c.labels[c.label[m.item[k]!]!]!, split: splitOfCode(split[k]!)! };
}

async function ingestStaged(
  ws: Workspace,
  staging: IngestStaging,
  latest: VersionRow | undefined,
  found: SourceResult | CandidateStream,
  o: IngestOptions,
): Promise<IngestReport> {
  const base = latest ? streamVersionItems(ws, latest) : (async function* () {})();
  const staged = await stageItems(staging, base, found, o.signal);
  const numbers = await staging.numberImagesAndGroups();
  const c = await readItemColumns(staging, staged.staged);

  // Images are validated with the base, whose items keep their splits, so leakage and
  // duplicates across old and new show up; audio segments pass straight through.
  const verdicts = await validateStaged(ws, staging, c, {
    onProgress: o.onValidationProgress,
    signal: o.signal,
  });
  const members = await collectMembers(staging, c, (i) => !verdicts?.skipped[i]);
  const { split, fold } = await splitMembers(
    staging,
    c,
    members,
    {
      split: verdicts?.split ?? c.split,
      copyGroup: verdicts?.copyGroup ?? new Int32Array(c.count).fill(-1),
      copyGroups: verdicts?.copyGroups ?? [],
      groups: numbers.groups,
      emptyGroup: numbers.emptyGroup,
    },
    ws.config.data,
  );

  const after = members.item.length;
  if (!after)
    throw new LoupeError(
      'VALIDATION_FAILED',
      `nothing usable was found in ${o.source}; see the report for why`,
    );
  const saved = await saveManifest(
    ws,
    o.dataset,
    {
      chunks: manifestOf(staging, members, split, fold),
      itemCount: after,
      summary: summarize(labelsAndSplits(c, members, split), { source: o.source }),
    },
    latest?.id,
  );
  const reportFile = path.join(ws.stateDir, 'reports', `ingest-${saved.id.slice(0, 12)}.json`);
  return {
    dataset: o.dataset,
    version: saved.id,
    created: saved.created,
    parent: latest?.id ?? null,
    source: o.source,
    items: {
      before: staged.before,
      added: members.item.filter((i) => !c.base[i]).length,
      alreadyPresent: staged.alreadyPresent,
      relabelled: staged.relabelled,
      after,
    },
    rejectedBySource: staged.rejected,
    ...(verdicts ? { validation: verdicts.report } : {}),
    sourceDetails: staged.details,
    reportFile,
  };
}

/**
 * Turns what a source found into a new immutable dataset version: new items join the latest
 * version's (unless replacing), images are validated together with the existing ones (so a
 * copy of a test image arriving in train is caught), new items are split and every train/val
 * item gets a cross-validation fold. The items wait in the database meanwhile (IngestStaging),
 * so memory does not grow with the dataset when the source streams (a CandidateStream). The
 * report is written next to the database.
 */
export async function ingest(
  ws: Workspace,
  found: SourceResult | CandidateStream,
  o: IngestOptions,
): Promise<IngestReport> {
  const latest = o.replace ? undefined : (await listVersions(ws.db, o.dataset))[0];
  const staging = await IngestStaging.create(ws.db);
  let report: IngestReport;
  try {
    report = await ingestStaged(ws, staging, latest, found, o);
  } finally {
    await staging.drop();
  }
  await mkdir(path.dirname(report.reportFile), { recursive: true });
  await writeFileAtomic(report.reportFile, new TextEncoder().encode(`${JSON.stringify(report, null, 1)}\n`));
  return report;
}

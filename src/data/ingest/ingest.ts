import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { LoupeConfig } from '../../config/schema.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { Workspace } from '../../workspace/workspace.js';
import { assignFolds } from '../splits/assign-folds.js';
import { assignSplits } from '../splits/assign-splits.js';
import { validateItems, type ValidationProgress } from '../validate/validate-items.js';
import type { ValidationReport } from '../validate/validation-report.js';
import type { ManifestItem } from '../versions/manifest.js';
import { listVersions, readVersionItems, saveVersion } from '../versions/version-store.js';
import { toPendingItem, type PendingItem } from './build-items.js';
import type { Rejection, SourceResult } from './candidate.js';

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
  /** Items before and after this ingest. */
  items: { before: number; added: number; alreadyPresent: number; after: number };
  rejectedBySource: { count: number; byReason: Record<string, number>; examples: Rejection[] };
  validation?: ValidationReport;
  sourceDetails: Record<string, unknown>;
  /** Where the JSON form of this report was written. */
  reportFile: string;
}

const EXAMPLES = 10;

/**
 * What must share a split: items of one group (observation, recording) and copies of each other
 * (validation's duplicate groups), transitively. Union-find over both kinds of link.
 */
function splitGroups(items: readonly (PendingItem & { duplicateGroup?: string })[]): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const add = (k: string) => parent.has(k) || parent.set(k, k);
  for (const i of items) {
    const keys = [
      i.group !== undefined ? `g:${i.group}` : undefined,
      i.duplicateGroup !== undefined ? `d:${i.duplicateGroup}` : undefined,
    ].filter((k): k is string => k !== undefined);
    keys.forEach(add);
    if (keys.length === 2) parent.set(find(keys[0]!), find(keys[1]!));
  }
  const groupOf = new Map<string, string>();
  for (const i of items) {
    const key =
      i.group !== undefined
        ? `g:${i.group}`
        : i.duplicateGroup !== undefined
          ? `d:${i.duplicateGroup}`
          : undefined;
    if (key) groupOf.set(i.id, find(key));
  }
  return groupOf;
}

function rejectionSummary(rejected: readonly Rejection[]): IngestReport['rejectedBySource'] {
  const byReason: Record<string, number> = {};
  for (const r of rejected) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  return { count: rejected.length, byReason, examples: rejected.slice(0, EXAMPLES) };
}

/**
 * Turns what a source found into a new immutable dataset version: new items join the latest
 * version's (unless replacing), images are validated together with the existing ones (so a
 * copy of a test image arriving in train is caught), new items are split and every train/val
 * item gets a cross-validation fold. The report is written next to the database.
 */
export async function ingest(ws: Workspace, found: SourceResult, o: IngestOptions): Promise<IngestReport> {
  const config: LoupeConfig = ws.config;
  const latest = o.replace ? undefined : (await listVersions(ws.db, o.dataset))[0];
  const base = latest ? await readVersionItems(ws, latest) : [];
  const baseIds = new Set(base.map((i) => i.id));

  // Items already in the dataset stay as they are; one arriving again under another label is a
  // conflict to report (relabelling is what corrections are for), not a silent no-op.
  const baseLabel = new Map(base.map((i) => [i.id, i.label]));
  const pending: PendingItem[] = [];
  const rejected = [...found.rejected];
  let alreadyPresent = 0;
  for (const item of found.candidates.map(toPendingItem)) {
    const existing = baseLabel.get(item.id);
    if (existing === undefined) pending.push(item);
    else if (existing === item.label) alreadyPresent++;
    else
      rejected.push({
        source: item.source,
        reason: 'label conflicts with the dataset',
        detail: `already "${existing}", given "${item.label}"`,
      });
  }

  // Images are validated with the base, whose items keep their splits, so leakage and
  // duplicates across old and new show up; audio segments pass straight through.
  const images = [...base, ...pending].filter((i) => i.kind === 'image');
  let validation: ValidationReport | undefined;
  let keptImages: (PendingItem & { duplicateGroup?: string })[] = [];
  if (images.length) {
    const result = await validateItems(
      // Items of the base version keep their split: a new copy of an old test image moves, not the old item.
      images.map((i) => ({
        ...i,
        hash: i.blob,
        ...(baseIds.has(i.id) ? { fixedSplit: true } : {}),
      })),
      config.data.validation,
      { onProgress: o.onValidationProgress, signal: o.signal, locate: (hash) => ws.blobs.pathOf(hash) },
    );
    validation = result.report;
    keptImages = result.kept.map(({ hash: _h, image: _i, movedFrom: _m, fixedSplit: _x, ...item }) => item);
  }
  const audio = [...base, ...pending].filter((i) => i.kind === 'audio');
  // An id is the content: copies that validation kept (policy `keep`) still become one item.
  const all: (PendingItem & { duplicateGroup?: string })[] = [
    ...new Map([...keptImages, ...audio].map((i) => [i.id, i])).values(),
  ];

  // Splits: the base's and the source's stay, the rest follow the settings. A source that gave
  // a test split but no val split (train/ and test/ folders) has val carved from its train items.
  const given = new Set(all.map((i) => i.split).filter(Boolean));
  const carveVal = given.has('train') && !given.has('val');
  const baseSplit = new Map(base.map((i) => [i.id, i.split]));
  // The splitter and the folds see only what they need, so no second copy of every item lives
  // alongside the first while they work.
  const splitGroup = splitGroups(all);
  const splitOf = new Map(
    assignSplits(
      all.map((i) => {
        const group = splitGroup.get(i.id);
        const keep = i.split && !(carveVal && i.split === 'train' && !baseSplit.has(i.id));
        return { id: i.id, label: i.label, ...(group ? { group } : {}), ...(keep ? { split: i.split } : {}) };
      }),
      {
        ...config.data.split,
        test: given.has('test') ? 0 : config.data.split.test,
        val: given.has('val') ? 0 : config.data.split.val,
      },
    ).map((i) => [i.id, i.split]),
  );
  const foldOf = new Map(
    assignFolds(
      all.map((i) => ({
        id: i.id,
        label: i.label,
        split: splitOf.get(i.id)!,
        ...(i.group !== undefined ? { group: i.group } : {}),
      })),
      config.data.folds.byGroup ? { type: 'group' } : { type: 'kfold', k: config.data.folds.k },
      config.data.split.seed,
    ).map((i) => [i.id, i.fold]),
  );
  const items: ManifestItem[] = all.map(({ duplicateGroup: _d, ...i }) => {
    const fold = foldOf.get(i.id);
    return { ...i, split: splitOf.get(i.id)!, ...(fold !== undefined ? { fold } : {}) };
  });

  if (!items.length)
    throw new LoupeError(
      'VALIDATION_FAILED',
      `nothing usable was found in ${o.source}; see the report for why`,
    );
  const saved = await saveVersion(ws, o.dataset, items, {
    ...(latest ? { parent: latest.id } : {}),
    summary: { source: o.source },
  });
  const reportFile = path.join(ws.stateDir, 'reports', `ingest-${saved.id.slice(0, 12)}.json`);
  const report: IngestReport = {
    dataset: o.dataset,
    version: saved.id,
    created: saved.created,
    parent: latest?.id ?? null,
    source: o.source,
    items: {
      before: base.length,
      added: items.filter((i) => !baseIds.has(i.id)).length,
      alreadyPresent,
      after: items.length,
    },
    rejectedBySource: rejectionSummary(rejected),
    ...(validation ? { validation } : {}),
    sourceDetails: found.details,
    reportFile,
  };
  await mkdir(path.dirname(reportFile), { recursive: true });
  await writeFileAtomic(reportFile, new TextEncoder().encode(`${JSON.stringify(report, null, 1)}\n`));
  return report;
}

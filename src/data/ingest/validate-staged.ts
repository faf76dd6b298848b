import type { Workspace } from '../../workspace/workspace.js';
import { validateColumns, type ValidationProgress } from '../validate/validate-columns.js';
import type { ValidationReport } from '../validate/validation-report.js';
import type { IngestStaging } from './ingest-staging.js';
import type { ItemColumns } from './item-columns.js';

/** Validation's verdicts on the staged images, per staged item (seq - 1). */
export interface StagedVerdicts {
  report: ValidationReport;
  /** 1 when validation left the item out (audio is never left out). */
  skipped: Uint8Array;
  /** Its split now: as staged, or where a leak moved it. */
  split: Uint8Array;
  /** Its copy group (see ColumnVerdicts.duplicateOf), an index into copyGroups; -1 for none. */
  copyGroup: Int32Array;
  /** Each copy group's name, `dup:` and the start of the hash of the image that names it. */
  copyGroups: string[];
}

/**
 * Validates the staged images, the base version's with the source's (so a copy of a test
 * image arriving in train is caught). Items of the base keep their split: a new copy of an
 * old test image moves, not the old item.
 */
export async function validateStaged(
  ws: Pick<Workspace, 'blobs' | 'config'>,
  staging: IngestStaging,
  c: ItemColumns,
  o: { onProgress?: ((p: ValidationProgress) => void) | undefined; signal?: AbortSignal | undefined },
): Promise<StagedVerdicts | undefined> {
  const items = Int32Array.from(c.audio.keys()).filter((i) => !c.audio[i]);
  if (!items.length) return undefined;
  const verdicts = await validateColumns(
    {
      image: items.map((i) => c.image[i]!),
      label: items.map((i) => c.label[i]!),
      labels: c.labels,
      split: Uint8Array.from(items, (i) => c.split[i]!),
      fixed: Uint8Array.from(items, (i) => c.base[i]!),
      images: (async function* () {
        for await (const blob of staging.images()) yield { hash: blob, src: { file: ws.blobs.pathOf(blob) } };
      })(),
      name: async (shown) => {
        const found = await staging.items(shown.map((v) => items[v]! + 1));
        return shown.map((v) => {
          const item = found.get(items[v]! + 1)!;
          return { id: item.id, source: item.source };
        });
      },
    },
    ws.config.data.validation,
    { ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.signal ? { signal: o.signal } : {}) },
  );
  const skipped = new Uint8Array(c.count);
  const split = Uint8Array.from(c.split);
  const copyGroup = new Int32Array(c.count).fill(-1);
  items.forEach((i, v) => {
    skipped[i] = verdicts.skippedBy[v] ? 1 : 0;
    split[i] = verdicts.split[v]!;
  });
  const roots = [...new Set(verdicts.duplicateOf.filter((r) => r >= 0))];
  const blobOf = await staging.imageBlobs(roots.map((r) => c.image[items[r]!]!));
  // Named by 64 bits of a hash: two groups whose names collide are one group to the splitter.
  const copyGroups: string[] = [];
  const named = new Map<string, number>();
  const groupOfRoot = new Map(
    roots.map((r) => {
      const name = `dup:${blobOf.get(c.image[items[r]!]!)!.slice(0, 16)}`;
      if (!named.has(name)) named.set(name, copyGroups.push(name) - 1);
      return [r, named.get(name)!];
    }),
  );
  verdicts.duplicateOf.forEach((r, v) => {
    if (r >= 0) copyGroup[items[v]!] = groupOfRoot.get(r)!;
  });
  return { report: verdicts.report, skipped, split, copyGroup, copyGroups };
}

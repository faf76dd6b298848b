import { z } from 'zod';
import { readVersionItems, resolveVersion } from '../../data/versions/version-store.js';
import type { ManifestItem } from '../../data/versions/manifest.js';
import { itemThumbnail } from '../../eval/item-thumbnails.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ModelVersion } from '../../registry/registry-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import { storedPredictions } from './version-report.js';

export const confusionCellQuerySchema = z.strictObject({
  /** The true class (the matrix's row). */
  true: z.string().min(1),
  /** The predicted class (the column). */
  predicted: z.string().min(1),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100).default(24),
});
export type ConfusionCellQuery = z.output<typeof confusionCellQuerySchema>;

export interface CellItem {
  id: string;
  label: string;
  predicted: string;
  /** Probability of the predicted class. */
  confidence: number;
  source: string;
  span?: [start: number, end: number];
  /** A small PNG as a data URI (the image, or an audio segment's spectrogram); absent when unreadable. */
  thumbnail?: string;
}

export interface ConfusionCell {
  true: string;
  predicted: string;
  /** Items in the cell over all pages: the matrix's number. */
  count: number;
  offset: number;
  /** Most confident first, so the surest mistakes lead. */
  items: CellItem[];
}

/**
 * Dataset versions are immutable (their id is their manifest's hash), so the items of the last
 * one read stay right; one is kept because a person clicks through cells of one version.
 */
let cached: { id: string; byId: Map<string, ManifestItem> } | undefined;

async function itemsById(ws: Workspace, datasetVersion: string): Promise<Map<string, ManifestItem>> {
  if (cached?.id === datasetVersion) return cached.byId;
  const row = await resolveVersion(ws.db, datasetVersion);
  const byId = new Map((await readVersionItems(ws, row)).map((i) => [i.id, i]));
  cached = { id: row.id, byId };
  return byId;
}

/** The items of one confusion-matrix cell of a version's stored evaluation, a page of them with pictures. */
export async function confusionCellItems(
  ws: Workspace,
  version: ModelVersion,
  q: ConfusionCellQuery,
): Promise<ConfusionCell> {
  const predictions = await storedPredictions(ws, version);
  const classes = version.classes;
  const index = (name: string, what: string) => {
    const i = classes.indexOf(name);
    if (i < 0)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${what} "${name}" is not a class of ${version.ref} (${classes.join(', ')})`,
      );
    return i;
  };
  const [t, p] = [index(q.true, 'true class'), index(q.predicted, 'predicted class')];
  const inCell = predictions.ids
    .map((id, i) => ({ id, i }))
    .filter(({ i }) => predictions.labels[i] === t && predictions.predicted[i] === p)
    .sort((a, b) => predictions.confidence[b.i]! - predictions.confidence[a.i]!);
  const page = inCell.slice(q.offset, q.offset + q.limit);
  const byId = page.length
    ? await itemsById(ws, predictions.datasetVersion)
    : new Map<string, ManifestItem>();
  const items: CellItem[] = [];
  for (const { id, i } of page) {
    const item = byId.get(id);
    const thumbnail = item ? await itemThumbnail(item, version.inputs, ws.blobs) : undefined;
    items.push({
      id,
      label: q.true,
      predicted: q.predicted,
      confidence: predictions.confidence[i]!,
      source: item?.source ?? '',
      ...(item?.start !== undefined && item.end !== undefined
        ? { span: [item.start, item.end] as [number, number] }
        : {}),
      ...(thumbnail ? { thumbnail } : {}),
    });
  }
  return { true: q.true, predicted: q.predicted, count: inCell.length, offset: q.offset, items };
}

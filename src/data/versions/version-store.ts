import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import type { DatasetVersionsTable } from '../../store/schema.js';
import {
  manifestChunks,
  manifestId,
  parseManifest,
  parseManifestLine,
  SPLIT_NAMES,
  type ManifestItem,
} from './manifest.js';

export type VersionRow = Omit<DatasetVersionsTable, 'seq'> & { seq: number };

export interface VersionSummary {
  /** Items per class per split. */
  classes: Record<string, Partial<Record<(typeof SPLIT_NAMES)[number], number>>>;
  sources: string[];
  [extra: string]: unknown;
}

export function summarize(
  items: Iterable<Pick<ManifestItem, 'label' | 'split'>>,
  extra: Record<string, unknown> = {},
): VersionSummary {
  const classes: VersionSummary['classes'] = {};
  for (const item of items) {
    const c = (classes[item.label] ??= {});
    c[item.split] = (c[item.split] ?? 0) + 1;
  }
  return { classes, sources: [], ...extra };
}

/** A manifest on its way into the store, and what the version's row says about it. */
export interface ManifestToSave {
  /** The canonical manifest text (manifestChunks), in chunks. */
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  itemCount: number;
  summary: VersionSummary;
}

/**
 * Writes an immutable version: the manifest goes to the blob store, a row to the database. The
 * same items give the same id, so re-ingesting unchanged data creates nothing new.
 */
export async function saveVersion(
  store: { db: Database; blobs: BlobStore },
  dataset: string,
  items: readonly ManifestItem[],
  o: { parent?: string; summary?: Record<string, unknown> } = {},
): Promise<{ id: string; created: boolean; row: VersionRow }> {
  const manifest = {
    chunks: manifestChunks(items),
    itemCount: items.length,
    summary: summarize(items, o.summary),
  };
  return saveManifest(store, dataset, manifest, o.parent);
}

/** saveVersion for a manifest streamed in, so a large dataset is never all in memory. */
export async function saveManifest(
  store: { db: Database; blobs: BlobStore },
  dataset: string,
  manifest: ManifestToSave,
  parent?: string,
): Promise<{ id: string; created: boolean; row: VersionRow }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(dataset)) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `dataset names use letters, digits, '.', '_' and '-': ${JSON.stringify(dataset)}`,
    );
  }
  // The manifest's blob hash is its id: both are the SHA-256 of the canonical text.
  const { hash: id } = await store.blobs.putStream(manifest.chunks);
  const existing = await store.db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (existing) return { id, created: false, row: existing };
  const row = await store.db.transaction().execute(async (tx) => {
    const last = await tx
      .selectFrom('dataset_versions')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    const values = {
      id,
      dataset,
      parent: parent ?? null,
      manifest_blob: id,
      item_count: manifest.itemCount,
      class_count: Object.keys(manifest.summary.classes).length,
      summary: JSON.stringify(manifest.summary),
      created_at: new Date().toISOString(),
      seq: Number(last?.seq ?? 0) + 1,
    };
    await tx.insertInto('dataset_versions').values(values).execute();
    return values;
  });
  return { id, created: true, row };
}

export async function listVersions(db: Database, dataset?: string): Promise<VersionRow[]> {
  let q = db.selectFrom('dataset_versions').selectAll().orderBy('seq', 'desc');
  if (dataset) q = q.where('dataset', '=', dataset);
  return q.execute();
}

/** A version by id, unique id prefix (8+ hex digits), or dataset name (its latest version). */
export async function resolveVersion(db: Database, ref: string): Promise<VersionRow> {
  const byName = await db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('dataset', '=', ref)
    .orderBy('seq', 'desc')
    .executeTakeFirst();
  if (byName) return byName;
  if (/^[0-9a-f]{8,64}$/.test(ref)) {
    const rows = await db
      .selectFrom('dataset_versions')
      .selectAll()
      .where('id', 'like', `${ref}%`)
      .limit(2)
      .execute();
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1)
      throw new LoupeError('INVALID_ARGUMENT', `version prefix ${ref} is ambiguous; give more digits`);
  }
  throw new LoupeError('NOT_FOUND', `no dataset or version "${ref}"; \`loupe data ls\` lists them`);
}

function tampered(row: VersionRow): LoupeError {
  return new LoupeError(
    'CORRUPT_FILE',
    `the manifest of version ${row.id.slice(0, 12)} does not match its id (tampered or damaged)`,
  );
}

export async function readVersionItems(
  store: { blobs: BlobStore },
  row: VersionRow,
): Promise<ManifestItem[]> {
  const text = new TextDecoder().decode(await store.blobs.get(row.manifest_blob));
  if (manifestId(text) !== row.id) throw tampered(row);
  return parseManifest(text, `manifest of ${row.id.slice(0, 12)}`);
}

/** A version's items one at a time, read from the file as they are used. */
export async function* streamVersionItems(
  store: { blobs: BlobStore },
  row: VersionRow,
): AsyncGenerator<ManifestItem> {
  if (!(await store.blobs.has(row.manifest_blob)))
    throw new LoupeError('NOT_FOUND', `blob ${row.manifest_blob} is not in the store`, {
      hash: row.manifest_blob,
    });
  // Checked before a line is used: a damaged manifest must not half-enter anything.
  if (!(await store.blobs.verify(row.manifest_blob))) throw tampered(row);
  const lines = createInterface({
    input: createReadStream(store.blobs.pathOf(row.manifest_blob)),
    crlfDelay: Infinity,
  });
  let n = 0;
  for await (const line of lines)
    if (line.trim()) yield parseManifestLine(line, ++n, `manifest of ${row.id.slice(0, 12)}`);
}

export interface VersionDiff {
  added: ManifestItem[];
  removed: ManifestItem[];
  relabeled: { item: ManifestItem; from: string }[];
  resplit: { item: ManifestItem; from: string }[];
}

export function diffItems(a: readonly ManifestItem[], b: readonly ManifestItem[]): VersionDiff {
  const before = new Map(a.map((i) => [i.id, i]));
  const after = new Map(b.map((i) => [i.id, i]));
  const d: VersionDiff = { added: [], removed: [], relabeled: [], resplit: [] };
  for (const [id, item] of after) {
    const old = before.get(id);
    if (!old) d.added.push(item);
    else {
      if (old.label !== item.label) d.relabeled.push({ item, from: old.label });
      if (old.split !== item.split) d.resplit.push({ item, from: old.split });
    }
  }
  for (const [id, item] of before) if (!after.has(id)) d.removed.push(item);
  return d;
}

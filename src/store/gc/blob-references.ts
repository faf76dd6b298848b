import type { Kysely } from 'kysely';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { streamVersionItems } from '../../data/versions/version-store.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../blob-store.js';
import type { Database } from '../database.js';
import type { FeedbackAction } from '../schema.js';

/**
 * Columns naming blobs. A required one's blob must exist (its absence is data loss). An
 * `input_hash` names the input's blob only if its bytes reached the store by some path (a stored
 * input, an upload, a dataset); the feedback and review code then find them by that name (see
 * feedback-source.ts, prediction-feedback.ts), so such a blob is kept while the row lives, and a
 * hash with no blob is no loss: the server was not keeping inputs.
 */
const LABELLING_ACTIONS = ['accept', 'correct'] as const satisfies readonly FeedbackAction[];

const HASH_COLUMNS: readonly {
  table: string;
  column: string;
  required: boolean;
  /** Only rows whose `action` is one of these name a blob someone needs. */
  actions?: readonly string[];
}[] = [
  { table: 'downloads', column: 'blob_hash', required: true },
  { table: 'dataset_versions', column: 'manifest_blob', required: true },
  { table: 'predictions', column: 'input_blob', required: true },
  { table: 'predictions', column: 'input_hash', required: false },
  // Only decisions that become dataset items need their input. A deletion (the organiser's delete
  // button) or a skip keeps no bytes alive: a person who deleted an upload expects its disk back.
  { table: 'feedback', column: 'input_blob', required: true, actions: LABELLING_ACTIONS },
  { table: 'feedback', column: 'input_hash', required: false, actions: LABELLING_ACTIONS },
  { table: 'organised_images', column: 'blob_hash', required: true },
  { table: 'recordings', column: 'blob', required: true },
  { table: 'recordings', column: 'spectrogram_blob', required: true },
  { table: 'drift_references', column: 'blob', required: true },
  { table: 'review_candidates', column: 'blob', required: true },
  { table: 'review_candidates', column: 'input_hash', required: false },
];

/** JSON columns naming blobs inside: a model version's files, name → { sha256, bytes }. */
const FILES_COLUMN = { table: 'model_versions', column: 'files' } as const;

/**
 * Tables reviewed and found to name no blob. Run artifacts are files under .loupe/runs (their
 * sha256 is a checksum, not a blob name); embeddings and drift checks keep their data inline.
 */
const TABLES_WITHOUT_BLOBS = new Set([
  'api_keys',
  'drift_checks',
  'embeddings',
  'invitations',
  'jobs',
  'login_failures',
  'model_aliases',
  'registered_models',
  'registry_audit',
  'retrain_lock',
  'retrain_steps',
  'review_progress',
  'run_artifacts',
  'run_metrics',
  'runs',
  'segment_feedback',
  'segments',
  'sessions',
  'studies',
  'users',
]);

/** Columns whose names suggest a blob but that hold something else (secrets' and files' hashes). */
const NOT_BLOB_COLUMNS = new Set([
  'api_keys.secret_hash',
  'invitations.code_hash',
  'sessions.id_hash',
  'users.password_hash',
  'run_artifacts.sha256',
]);
const LOOKS_LIKE_BLOB = /blob|hash|sha\d*|manifest/i;

const HASH = /^[0-9a-f]{64}$/;

const filesSchema = z.record(z.string(), z.looseObject({ sha256: z.string().regex(HASH) }));

/** Why gc cannot know every reference, so must not delete anything. */
function unsafe(why: string, details?: Record<string, unknown>, cause?: unknown): LoupeError {
  return new LoupeError(
    'CORRUPT_FILE',
    `gc stopped before deleting anything: ${why}`,
    details,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Refuses a database holding a table or column gc has not been taught about: a newer Loupe (or
 * a migration added since) may keep blob references there, and missing one would delete data.
 * Checked by name, so adding a table or a *_blob / *_hash column means classifying it here.
 */
async function checkKnownSchema(db: Database): Promise<void> {
  const known = new Set<string>([
    ...TABLES_WITHOUT_BLOBS,
    FILES_COLUMN.table,
    ...HASH_COLUMNS.map((c) => c.table),
  ]);
  const classified = new Set([
    ...NOT_BLOB_COLUMNS,
    `${FILES_COLUMN.table}.${FILES_COLUMN.column}`,
    ...HASH_COLUMNS.map((c) => `${c.table}.${c.column}`),
  ]);
  const unknown: string[] = [];
  for (const table of await db.introspection.getTables()) {
    if (!known.has(table.name)) unknown.push(`table ${table.name}`);
    else
      for (const c of table.columns)
        if (LOOKS_LIKE_BLOB.test(c.name) && !classified.has(`${table.name}.${c.name}`))
          unknown.push(`column ${table.name}.${c.name}`);
  }
  if (unknown.length)
    throw new LoupeError(
      'INTERNAL',
      `gc stopped before deleting anything: it does not know ${unknown.join(', ')}, which may name blobs ` +
        '(a newer Loupe made the workspace, or src/store/gc/blob-references.ts needs them classified)',
      { unknown },
    );
}

/** Where a blob is named, and whether it must exist (see HASH_COLUMNS). */
export interface Reference {
  from: string;
  required: boolean;
}

/** Every blob the workspace references, each with the first place found naming it (a required one first). */
export type ReferenceMap = Map<string, Reference>;

export interface MarkOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Rows between looks at the signal and the event loop (better-sqlite3 reads synchronously). */
const YIELD_EVERY = 5000;

/**
 * The mark phase: every blob hash reachable from the database — the hash columns, the model
 * versions' file maps and, followed, the items of every dataset version's manifest (the one kind
 * of blob that names other blobs). A reference gc cannot read (a missing, damaged or unparsable
 * manifest, a malformed file map or hash) aborts it: what that reference names is unknown, so
 * no unreferenced blob could be deleted safely.
 */
export async function markReferences(
  store: { db: Database; blobs: BlobStore },
  o: MarkOptions = {},
): Promise<ReferenceMap> {
  const { db } = store;
  await checkKnownSchema(db);
  const anyDb = db as unknown as Kysely<Record<string, Record<string, string | null>>>;
  const versions = await db.selectFrom('dataset_versions').selectAll().orderBy('seq').execute();
  let total = versions.reduce((n, v) => n + v.item_count, 0);
  for (const { table, column, actions } of [...HASH_COLUMNS, { ...FILES_COLUMN, actions: undefined }]) {
    let count = anyDb
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(column, 'is not', null);
    if (actions) count = count.where('action', 'in', actions);
    const row = await count.executeTakeFirstOrThrow();
    total += Number(row.n);
  }

  const marked: ReferenceMap = new Map();
  let done = 0;
  const step = async () => {
    if (++done % YIELD_EVERY === 0) {
      o.onProgress?.(done, total);
      await nextTurn();
      o.signal?.throwIfAborted();
    }
  };
  const mark = (hash: string, ref: Reference) => {
    const known = marked.get(hash);
    if (!known || (ref.required && !known.required)) marked.set(hash, ref);
  };

  for (const { table, column, required, actions } of HASH_COLUMNS) {
    // One object per column, shared by every hash it names: a million references cost one each.
    const ref = { from: `${table}.${column}`, required };
    let rows = anyDb.selectFrom(table).select(`${column} as v`).where(column, 'is not', null);
    if (actions) rows = rows.where('action', 'in', actions);
    for await (const { v } of rows.stream()) {
      if (HASH.test(v!)) mark(v!, ref);
      else if (required)
        throw unsafe(`${ref.from} holds ${JSON.stringify(v)}, which is not a blob hash`, { table, column });
      await step();
    }
  }

  for await (const row of db.selectFrom('model_versions').select(['model', 'version', 'files']).stream()) {
    const from = `model ${row.model}@${row.version}`;
    let files;
    try {
      files = filesSchema.parse(JSON.parse(row.files));
    } catch (e) {
      throw unsafe(
        `the file list of ${from} (model_versions.files) cannot be read`,
        { model: row.model, version: row.version },
        e,
      );
    }
    for (const [name, file] of Object.entries(files))
      mark(file.sha256, { from: `${from} ${name}`, required: true });
    await step();
  }

  for (const version of versions) {
    const from = `dataset ${version.dataset} @ ${version.id.slice(0, 12)}`;
    const ref = { from, required: true };
    try {
      for await (const item of streamVersionItems(store, version)) {
        mark(item.blob, ref);
        await step();
      }
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw unsafe(
        `the manifest of ${from} cannot be read (${(e as Error).message}), so the items it names are unknown; ` +
          `restore ${store.blobs.pathOf(version.manifest_blob)} from a backup of the workspace, then run loupe gc again`,
        { version: version.id, manifest: version.manifest_blob },
        e,
      );
    }
  }
  o.onProgress?.(total, total);
  return marked;
}

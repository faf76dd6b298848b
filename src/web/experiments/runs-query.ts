import { sql, type Expression, type SqlBool } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../store/database.js';
import { getRun, RUN_STATUSES, type Run } from '../../track/run-store.js';
import { reconcileStaleRuns } from '../../track/stale-runs.js';

const RUN_MODES = ['probe', 'finetune', 'scratch', 'audio'] as const;
const RUN_KINDS = ['train', 'trial', 'cv', 'cv-fold'] as const;

/** A final metric a run's summary holds, sortable by the key the table's column uses. */
const SUMMARY_SORTS = {
  val_f1: 'val.macro_f1',
  val_accuracy: 'val.accuracy',
  test_accuracy: 'test.accuracy',
  test_f1: 'test.macro_f1',
} as const;
const COLUMN_SORTS = {
  started: 'id',
  name: 'name',
  status: 'status',
  mode: 'mode',
  kind: 'kind',
  duration: 'duration_s',
  images_per_s: 'images_per_s',
} as const;
export const RUN_SORTS = [
  ...(Object.keys(COLUMN_SORTS) as (keyof typeof COLUMN_SORTS)[]),
  ...(Object.keys(SUMMARY_SORTS) as (keyof typeof SUMMARY_SORTS)[]),
] as const;

export const runsQuerySchema = z.strictObject({
  status: z.enum(RUN_STATUSES).optional(),
  mode: z.enum(RUN_MODES).optional(),
  kind: z.enum(RUN_KINDS).optional(),
  /** A dataset's name, or a dataset version id or its prefix. */
  dataset: z.string().trim().min(1).max(200).optional(),
  study: z.string().trim().min(1).max(64).optional(),
  /** Part of a run's name, backbone or id. */
  q: z.string().trim().min(1).max(200).optional(),
  sort: z.enum(RUN_SORTS).default('started'),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
export type RunsQuery = z.output<typeof runsQuerySchema>;

/** A row of the runs table: what the list shows, not the whole run. */
export interface RunRow {
  id: string;
  name: string;
  kind: Run['kind'];
  mode: Run['mode'];
  status: Run['status'];
  datasetVersion: string;
  /** The dataset the version belongs to, when the version is in this workspace. */
  dataset: string | null;
  backbone: string | null;
  studyId: string | null;
  parentId: string | null;
  startedAt: string;
  /** Seconds; for a running run, so far. */
  durationS: number;
  imagesPerS: number | null;
  summary: Record<string, number> | null;
}

export interface RunsPage {
  runs: RunRow[];
  /** Runs matching the filters, over all pages. */
  total: number;
  limit: number;
  offset: number;
  /** What the filters can choose from. */
  facets: {
    statuses: readonly string[];
    modes: readonly string[];
    kinds: readonly string[];
    datasets: string[];
  };
}

/** LIKE with the user's text taken literally: % and _ are escaped. */
const likeText = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

function toRow(r: Run, dataset: string | null): RunRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    mode: r.mode,
    status: r.status,
    datasetVersion: r.dataset_version,
    dataset,
    backbone: r.backbone,
    studyId: r.study_id,
    parentId: r.parent_id,
    startedAt: r.started_at,
    durationS: r.duration_s ?? (Date.now() - Date.parse(r.started_at)) / 1000,
    imagesPerS: r.images_per_s,
    summary: r.summary,
  };
}

/**
 * The runs matching a query, one page of them, sorted in SQL so a workspace with thousands of
 * tuning trials pages without reading them all. Runs without the sorted value (a running run's
 * duration, a failed run's metrics) come last either way.
 */
export async function queryRuns(db: Database, query: RunsQuery): Promise<RunsPage> {
  await reconcileStaleRuns(db);
  const filtered = db
    .selectFrom('runs')
    .leftJoin('dataset_versions', 'dataset_versions.id', 'runs.dataset_version')
    .where((eb) => {
      const conditions: Expression<SqlBool>[] = [];
      if (query.status) conditions.push(eb('runs.status', '=', query.status));
      if (query.mode) conditions.push(eb('runs.mode', '=', query.mode));
      if (query.kind) conditions.push(eb('runs.kind', '=', query.kind));
      if (query.study) conditions.push(eb('runs.study_id', 'like', `${likeText(query.study)}%`));
      if (query.dataset)
        conditions.push(
          eb.or([
            eb('dataset_versions.dataset', '=', query.dataset),
            sql<SqlBool>`runs.dataset_version like ${`${likeText(query.dataset.toLowerCase())}%`} escape '\\'`,
          ]),
        );
      if (query.q) {
        const text = `%${likeText(query.q)}%`;
        conditions.push(
          eb.or([
            sql<SqlBool>`runs.name like ${text} escape '\\'`,
            sql<SqlBool>`runs.backbone like ${text} escape '\\'`,
            sql<SqlBool>`runs.id like ${`${likeText(query.q.toLowerCase())}%`} escape '\\'`,
          ]),
        );
      }
      return eb.and(conditions);
    });
  const { total } = await filtered
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .executeTakeFirstOrThrow();
  const key =
    query.sort in SUMMARY_SORTS
      ? sql`json_extract(runs.summary, ${`$."${SUMMARY_SORTS[query.sort as keyof typeof SUMMARY_SORTS]}"`})`
      : sql.ref(`runs.${COLUMN_SORTS[query.sort as keyof typeof COLUMN_SORTS]}`);
  const page = await filtered
    .select(['runs.id', 'dataset_versions.dataset'])
    .orderBy(sql`${key} ${sql.raw(query.order)} nulls last`)
    // Ties (same status, same metric) keep the newest first, so pages do not shuffle.
    .orderBy('runs.id', 'desc')
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  const runs: RunRow[] = [];
  for (const p of page) runs.push(toRow(await getRun(db, p.id), p.dataset));
  const datasets = await db
    .selectFrom('dataset_versions')
    .select('dataset')
    .distinct()
    .orderBy('dataset')
    .execute();
  return {
    runs,
    total: Number(total),
    limit: query.limit,
    offset: query.offset,
    facets: {
      statuses: RUN_STATUSES,
      modes: RUN_MODES,
      kinds: RUN_KINDS,
      datasets: datasets.map((d) => d.dataset),
    },
  };
}

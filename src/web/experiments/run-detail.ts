import type { TopLevelSpec } from 'vega-lite';
import type { Database } from '../../store/database.js';
import { runCurveCharts } from '../../track/run-curves.js';
import { flattenSettings } from '../../track/run-settings.js';
import {
  getRun,
  runArtifacts,
  runMetrics,
  type Run,
  type RunArtifact,
  type RunMetric,
} from '../../track/run-store.js';

/** Where a run came from and what came of it. */
export interface RunLineage {
  dataset: { id: string; name: string; items: number; classes: number } | null;
  parent: { id: string; name: string } | null;
  study: { id: string; name: string } | null;
  /** Folds of a cross-validation run. */
  children: { id: string; name: string; status: Run['status'] }[];
  /** Model versions registered from the run. */
  models: { model: string; version: number; aliases: string[] }[];
}

export interface RunDetail {
  run: Run;
  /** The configuration as dotted keys, in the order the run recorded them. */
  settings: Record<string, string>;
  metrics: RunMetric[];
  artifacts: RunArtifact[];
  lineage: RunLineage;
  /** Loss and quality per epoch, as Vega-Lite specs. */
  charts: TopLevelSpec[];
}

async function lineage(db: Database, run: Run): Promise<RunLineage> {
  const [dataset, parent, study, children, versions, aliases] = await Promise.all([
    db
      .selectFrom('dataset_versions')
      .select(['id', 'dataset', 'item_count', 'class_count'])
      .where('id', '=', run.dataset_version)
      .executeTakeFirst(),
    run.parent_id
      ? db.selectFrom('runs').select(['id', 'name']).where('id', '=', run.parent_id).executeTakeFirst()
      : undefined,
    run.study_id
      ? db.selectFrom('studies').select(['id', 'name']).where('id', '=', run.study_id).executeTakeFirst()
      : undefined,
    db
      .selectFrom('runs')
      .select(['id', 'name', 'status'])
      .where('parent_id', '=', run.id)
      .orderBy('id')
      .execute(),
    db
      .selectFrom('model_versions')
      .select(['model', 'version'])
      .where('run_id', '=', run.id)
      .orderBy('model')
      .orderBy('version')
      .execute(),
    db
      .selectFrom('model_aliases')
      .innerJoin('model_versions', (j) =>
        j
          .onRef('model_versions.model', '=', 'model_aliases.model')
          .onRef('model_versions.version', '=', 'model_aliases.version'),
      )
      .select(['model_aliases.model', 'model_aliases.version', 'model_aliases.alias'])
      .where('model_versions.run_id', '=', run.id)
      .execute(),
  ]);
  return {
    dataset: dataset
      ? { id: dataset.id, name: dataset.dataset, items: dataset.item_count, classes: dataset.class_count }
      : null,
    parent: parent ?? null,
    study: study ?? null,
    children,
    models: versions.map((v) => ({
      ...v,
      aliases: aliases.filter((a) => a.model === v.model && a.version === v.version).map((a) => a.alias),
    })),
  };
}

/** Everything the run page shows: the run, its configuration, curves, artifacts and lineage. */
export async function runDetail(db: Database, idOrPrefix: string): Promise<RunDetail> {
  const run = await getRun(db, idOrPrefix);
  const [metrics, artifacts] = await Promise.all([runMetrics(db, run.id), runArtifacts(db, run.id)]);
  return {
    run,
    settings: flattenSettings(run.config),
    metrics,
    artifacts,
    lineage: await lineage(db, run),
    charts: runCurveCharts(metrics),
  };
}

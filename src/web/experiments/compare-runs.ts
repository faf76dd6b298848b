import type { TopLevelSpec } from 'vega-lite';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import { comparedCurveCharts } from '../../track/run-curves.js';
import { runSettings } from '../../track/run-settings.js';
import { getRun, runMetrics, type Run } from '../../track/run-store.js';

export const MIN_COMPARED = 2;
export const MAX_COMPARED = 4;

/** One row of a side-by-side table: a setting or a metric, with each run's value in run order. */
export interface ComparedRow<T> {
  key: string;
  values: (T | null)[];
  /** Whether the runs disagree on it: only these rows are highlighted. */
  differs: boolean;
}

export interface RunComparison {
  runs: Pick<Run, 'id' | 'name' | 'status' | 'mode' | 'kind' | 'started_at' | 'duration_s'>[];
  /** Every setting any of the runs has (mode, dataset, seed, git commit and config.*). */
  settings: ComparedRow<string>[];
  /** Final metrics of any of the runs. */
  metrics: ComparedRow<number>[];
  /** Validation macro-F1, accuracy and training loss, each run a line. */
  charts: TopLevelSpec[];
}

function rows<T>(records: Record<string, T>[], keys: string[]): ComparedRow<T>[] {
  return keys.map((key) => {
    const values = records.map((r) => (Object.hasOwn(r, key) ? r[key]! : null));
    return { key, values, differs: values.some((v) => v !== values[0]) };
  });
}

/** 2–4 runs side by side: their settings (the differing ones flagged), final metrics and curves overlaid. */
export async function compareRuns(db: Database, refs: readonly string[]): Promise<RunComparison> {
  if (refs.length < MIN_COMPARED || refs.length > MAX_COMPARED)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `compare ${MIN_COMPARED} to ${MAX_COMPARED} runs, not ${refs.length}`,
    );
  const runs: Run[] = [];
  for (const ref of refs) runs.push(await getRun(db, ref));
  if (new Set(runs.map((r) => r.id)).size !== runs.length)
    throw new LoupeError('INVALID_ARGUMENT', 'the same run is named twice; compare different runs');
  const settings = runs.map(runSettings);
  const summaries = runs.map((r) => r.summary ?? {});
  const union = (records: Record<string, unknown>[]) => [...new Set(records.flatMap((r) => Object.keys(r)))];
  const metrics = await Promise.all(runs.map((r) => runMetrics(db, r.id)));
  return {
    runs: runs.map(({ id, name, status, mode, kind, started_at, duration_s }) => ({
      id,
      name,
      status,
      mode,
      kind,
      started_at,
      duration_s,
    })),
    settings: rows(settings, union(settings)),
    metrics: rows(summaries, union(summaries).sort()),
    charts: comparedCurveCharts(runs.map((run, i) => ({ run, metrics: metrics[i]! }))),
  };
}

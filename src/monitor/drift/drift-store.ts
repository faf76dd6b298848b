import type { Database } from '../../store/database.js';
import type { DriftChecksTable, DriftStatus } from '../../store/schema.js';
import type { DriftTestResult, DriftVerdict } from './drift-tests.js';

export type DriftCheckSource = 'cli' | 'schedule';

/** One drift check, as the CLI, the server, the web app's monitoring page and retraining see it. */
export interface DriftCheck {
  id: number;
  at: string;
  model: string;
  version: number | null;
  status: DriftStatus;
  source: DriftCheckSource;
  windowSize: number;
  referenceSize: number;
  datasetVersion: string | null;
  alpha: number;
  tests: DriftTestResult[];
  skipped: DriftVerdict['skipped'];
  message: string;
}

export type DriftCheckInput = Omit<DriftCheck, 'id'>;

/** Records a check; returns its id. */
export async function recordDriftCheck(db: Database, c: DriftCheckInput): Promise<number> {
  const row = await db
    .insertInto('drift_checks')
    .values({
      at: new Date(c.at).toISOString(),
      model: c.model,
      version: c.version,
      status: c.status,
      source: c.source,
      window_size: c.windowSize,
      reference_size: c.referenceSize,
      dataset_version: c.datasetVersion,
      alpha: c.alpha,
      tests: JSON.stringify({ tests: c.tests, skipped: c.skipped }),
      message: c.message,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

type Row = Omit<DriftChecksTable, 'id'> & { id: number };

function toCheck(r: Row): DriftCheck {
  const { tests, skipped } = JSON.parse(r.tests) as Pick<DriftCheck, 'tests' | 'skipped'>;
  return {
    id: r.id,
    at: r.at,
    model: r.model,
    version: r.version,
    status: r.status,
    source: r.source as DriftCheckSource,
    windowSize: r.window_size,
    referenceSize: r.reference_size,
    datasetVersion: r.dataset_version,
    alpha: r.alpha,
    tests,
    skipped,
    message: r.message,
  };
}

/** A model's latest checks, newest first. */
export async function latestDriftChecks(db: Database, model: string, limit = 20): Promise<DriftCheck[]> {
  const rows = await db
    .selectFrom('drift_checks')
    .selectAll()
    .where('model', '=', model)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => toCheck(r as Row));
}

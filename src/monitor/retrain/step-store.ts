import type { Database } from '../../store/database.js';

/**
 * What each retrain step was given (its content key) and what it produced, beside the step's
 * own run: a rerun whose step has the same key reuses the outcome instead of doing the work.
 */
export async function startStepRecord(
  db: Database,
  r: { runId: string; retrainId: string; step: string; key: string },
): Promise<void> {
  await db
    .insertInto('retrain_steps')
    .values({ run_id: r.runId, retrain_id: r.retrainId, step: r.step, key: r.key, outcome: null })
    .execute();
}

export async function finishStepRecord(db: Database, runId: string, outcome: unknown): Promise<void> {
  await db
    .updateTable('retrain_steps')
    .set({ outcome: JSON.stringify(outcome) })
    .where('run_id', '=', runId)
    .execute();
}

/** The latest finished step with this key, and what it produced. */
export async function findFinishedStep<T>(
  db: Database,
  step: string,
  key: string,
): Promise<{ runId: string; outcome: T } | undefined> {
  const row = await db
    .selectFrom('retrain_steps as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .select(['s.run_id', 's.outcome'])
    .where('s.step', '=', step)
    .where('s.key', '=', key)
    .where('r.status', '=', 'finished')
    .where('s.outcome', 'is not', null)
    .orderBy('s.run_id', 'desc')
    .executeTakeFirst();
  return row ? { runId: row.run_id, outcome: JSON.parse(row.outcome!) as T } : undefined;
}

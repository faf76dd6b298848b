import { LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';
import type { StudiesTable, StudyDirection, StudyStatus } from '../store/schema.js';
import { newId, resolveId } from './run-id.js';

export type { StudyDirection, StudyStatus } from '../store/schema.js';

export interface StudyInit {
  name: string;
  direction: StudyDirection;
  /** The summary metric trials are ranked by, e.g. 'val.macro_f1'. */
  metric: string;
  space: Record<string, unknown>;
  sampler: string;
}

/** A studies row with its search space parsed. */
export interface Study extends Omit<StudiesTable, 'space'> {
  space: Record<string, unknown>;
}

const parseStudy = (row: StudiesTable): Study => ({
  ...row,
  space: JSON.parse(row.space) as Record<string, unknown>,
});

export async function createStudy(db: Database, init: StudyInit): Promise<Study> {
  const row: StudiesTable = {
    id: newId(),
    name: init.name,
    created_at: new Date().toISOString(),
    direction: init.direction,
    metric: init.metric,
    space: JSON.stringify(init.space),
    sampler: init.sampler,
    status: 'running',
    best_run_id: null,
  };
  await db.insertInto('studies').values(row).execute();
  return parseStudy(row);
}

/** A study by id or unique id prefix (4+ characters). */
export async function getStudy(db: Database, idOrPrefix: string): Promise<Study> {
  const id = await resolveId(db, 'studies', idOrPrefix);
  return parseStudy(
    await db.selectFrom('studies').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
  );
}

export async function setStudyBest(db: Database, studyId: string, runId: string): Promise<void> {
  const run = await db.selectFrom('runs').select('study_id').where('id', '=', runId).executeTakeFirst();
  if (run?.study_id !== studyId)
    throw new LoupeError('INVALID_ARGUMENT', `run ${runId} is not a trial of study ${studyId}`);
  await db.updateTable('studies').set({ best_run_id: runId }).where('id', '=', studyId).execute();
}

export async function finishStudy(
  db: Database,
  studyId: string,
  status: Exclude<StudyStatus, 'running'> = 'finished',
): Promise<void> {
  const { numUpdatedRows } = await db
    .updateTable('studies')
    .set({ status })
    .where('id', '=', studyId)
    .executeTakeFirst();
  if (numUpdatedRows === 0n) throw new LoupeError('NOT_FOUND', `no study ${studyId}`);
}

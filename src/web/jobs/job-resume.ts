import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import { getRun } from '../../track/run-store.js';
import { trainingRunOf, type Job, type JobKind } from './job-store.js';

/**
 * What carries on a job that stopped: a training run continues from its last checkpoint
 * (`loupe train --resume`); an ingest runs again (downloads are cached and the same items make
 * the same version) and so does a retrain (it skips the steps it finished); a tuning study
 * cannot be continued.
 */
export async function resumeOf(
  db: Database,
  job: Job,
): Promise<{ kind: JobKind; args: Record<string, unknown> }> {
  if (job.status === 'running' || job.status === 'finished')
    throw new LoupeError('CONFLICT', `job ${job.id} is ${job.status}; only a stopped job can be resumed`);
  if (job.kind === 'tune')
    throw new LoupeError('INVALID_ARGUMENT', 'a tuning study cannot be resumed; start a new one');
  if (job.kind !== 'train') return { kind: job.kind, args: job.args };
  const runId = await trainingRunOf(db, job);
  if (!runId) return { kind: 'train', args: job.args };
  const run = await getRun(db, runId);
  if (run.status !== 'killed' && run.status !== 'failed')
    throw new LoupeError(
      'CONFLICT',
      `run ${run.id} is ${run.status}; only a killed or failed run can be resumed`,
    );
  return { kind: 'train', args: { resume: run.id } };
}

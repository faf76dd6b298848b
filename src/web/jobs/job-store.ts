import os from 'node:os';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ProgressLine } from '../../cli/progress.js';
import type { Database } from '../../store/database.js';
import type { JobKind, JobsTable, JobStatus, UserRole } from '../../store/schema.js';
import { isAlive } from '../../track/stale-runs.js';

export { JOB_KINDS, JOB_STATUSES, type JobKind, type JobStatus } from '../../store/schema.js';

/** A jobs row with its JSON columns parsed. */
export interface Job {
  id: string;
  kind: JobKind;
  args: Record<string, unknown>;
  argv: string[];
  status: JobStatus;
  startedBy: string;
  createdAt: string;
  endedAt: string | null;
  pid: number | null;
  progress: ProgressLine | null;
  logTail: string;
  exitCode: number | null;
  runId: string | null;
  resumedFrom: string | null;
}

/** A kind of job as GET /api/jobs/kinds lists it: who may start it, and whether this build can. */
export interface JobKindInfo {
  kind: JobKind;
  role: UserRole;
  /** Whether this build of loupe has the command. */
  available: boolean;
}

function toJob(r: JobsTable): Job {
  return {
    id: r.id,
    kind: r.kind,
    args: JSON.parse(r.args) as Record<string, unknown>,
    argv: JSON.parse(r.argv) as string[],
    status: r.status,
    startedBy: r.started_by,
    createdAt: r.created_at,
    endedAt: r.ended_at,
    pid: r.pid,
    progress: r.progress === null ? null : (JSON.parse(r.progress) as ProgressLine),
    logTail: r.log_tail,
    exitCode: r.exit_code,
    runId: r.run_id,
    resumedFrom: r.resumed_from,
  };
}

export async function insertJob(
  db: Database,
  j: Pick<Job, 'id' | 'kind' | 'args' | 'argv' | 'startedBy' | 'resumedFrom'>,
): Promise<Job> {
  await db
    .insertInto('jobs')
    .values({
      id: j.id,
      kind: j.kind,
      args: JSON.stringify(j.args),
      argv: JSON.stringify(j.argv),
      status: 'running',
      started_by: j.startedBy,
      created_at: new Date().toISOString(),
      ended_at: null,
      server: thisServer(),
      pid: null,
      progress: null,
      log_tail: '',
      exit_code: null,
      run_id: null,
      resumed_from: j.resumedFrom,
    })
    .execute();
  return getJob(db, j.id);
}

/** What a running job reports as it goes, and how it ended. */
export async function updateJob(
  db: Database,
  id: string,
  fields: Partial<
    Pick<JobsTable, 'pid' | 'progress' | 'log_tail' | 'status' | 'ended_at' | 'exit_code' | 'run_id'>
  >,
): Promise<void> {
  await db.updateTable('jobs').set(fields).where('id', '=', id).execute();
}

export async function getJob(db: Database, id: string): Promise<Job> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new LoupeError('NOT_FOUND', `no job "${id}"`);
  return toJob(row);
}

/** Jobs, newest first. */
export async function listJobs(
  db: Database,
  o: { status?: JobStatus; kind?: JobKind; limit: number; offset: number },
): Promise<{ jobs: Job[]; total: number }> {
  let q = db.selectFrom('jobs');
  if (o.status) q = q.where('status', '=', o.status);
  if (o.kind) q = q.where('kind', '=', o.kind);
  const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await q.selectAll().orderBy('id', 'desc').limit(o.limit).offset(o.offset).execute();
  return { jobs: rows.map(toJob), total: Number(total) };
}

/**
 * The training run a train job made or resumed: the one it names to resume, else the run this
 * host recorded with the job's pid since the job began (a cross-validation's parent comes first).
 */
export async function trainingRunOf(
  db: Database,
  job: Pick<Job, 'kind' | 'args' | 'pid' | 'createdAt'>,
): Promise<string | null> {
  if (job.kind !== 'train') return null;
  if (typeof job.args.resume === 'string') return job.args.resume;
  if (job.pid === null) return null;
  const run = await db
    .selectFrom('runs')
    .select('id')
    .where('pid', '=', job.pid)
    .where('host', '=', os.hostname())
    .where('started_at', '>=', job.createdAt)
    .orderBy('id')
    .executeTakeFirst();
  return run?.id ?? null;
}

/** The server a job belongs to: this host and process. */
export const thisServer = (): string => `${os.hostname()}:${process.pid}`;

/**
 * Jobs whose server process is gone: it stopped (or crashed) without seeing their end, and
 * nothing reads their output any more. They become 'interrupted', so the page stops showing
 * them as running and offers to resume them. A job of another live server on this host (two
 * `loupe serve` on one workspace) is left alone; one of another host cannot be checked and is
 * taken as gone. Returns their ids.
 */
export async function markOrphanedJobs(db: Database): Promise<string[]> {
  const host = os.hostname();
  const running = await db
    .selectFrom('jobs')
    .select(['id', 'server'])
    .where('status', '=', 'running')
    .execute();
  const orphans = running
    .filter((j) => {
      const at = j.server.lastIndexOf(':');
      const [jobHost, pid] = [j.server.slice(0, at), Number(j.server.slice(at + 1))];
      return j.server !== thisServer() && (jobHost !== host || !isAlive(pid));
    })
    .map((j) => j.id);
  if (!orphans.length) return [];
  await db
    .updateTable('jobs')
    .set({ status: 'interrupted', ended_at: new Date().toISOString() })
    .where('id', 'in', orphans)
    .where('status', '=', 'running')
    .execute();
  return orphans;
}

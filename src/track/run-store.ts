import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fsError } from '../errors/fs-error.js';
import { isLoupeError, LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';
import type {
  ArtifactKind,
  RunArtifactsTable,
  RunKind,
  RunMetricsTable,
  RunMode,
  RunsTable,
  RunStatus,
} from '../store/schema.js';
import type { Workspace } from '../workspace/workspace.js';
import { gitInfo, libraryVersions, loupeRoot, type LibraryVersions } from './provenance.js';
import { newId, resolveId } from './run-id.js';
import { reconcileStaleRuns } from './stale-runs.js';
import { isWithin } from '../util/is-within.js';

export {
  RUN_STATUSES,
  type ArtifactKind,
  type RunKind,
  type RunMode,
  type RunStatus,
} from '../store/schema.js';

export interface RunInit {
  /** Default: the mode, and the backbone when there is one. */
  name?: string;
  /** Default 'train'. */
  kind?: RunKind;
  /** The cross-validation run a fold belongs to. */
  parentId?: string;
  studyId?: string;
  mode: RunMode;
  /** The resolved configuration: with the dataset version and the seed, what reproduces the run. */
  config: Record<string, unknown>;
  datasetVersion: string;
  backbone?: string;
  seed: number;
}

export interface RunError {
  /** A LoupeError code, else the system error code (ENOENT, ...), else UNEXPECTED. */
  code: string;
  message: string;
}

/** A runs row with its JSON columns parsed. */
export interface Run extends Omit<RunsTable, 'config' | 'git_dirty' | 'versions' | 'error' | 'summary'> {
  config: Record<string, unknown>;
  git_dirty: boolean | null;
  versions: LibraryVersions;
  error: RunError | null;
  summary: Record<string, number> | null;
}

export type RunMetric = RunMetricsTable;
export type RunArtifact = RunArtifactsTable;

export interface RunHandle {
  readonly id: string;
  /** The run's own folder, .loupe/runs/<id>/, for its artifacts. */
  readonly dir: string;
  read(): Promise<Run>;
  /** Values by metric name ('train.loss', 'val.macro_f1', 'lr', ...) at an epoch or step. */
  logMetrics(step: number, values: Record<string, number>): Promise<void>;
  /** Proves the process is alive; writes at most every few seconds, so call it as often as you like. */
  heartbeat(): Promise<void>;
  /** Hashes a file inside the workspace and records it under `name` (replacing an older one). */
  addArtifact(name: string, file: string, kind: ArtifactKind): Promise<RunArtifact>;
  finish(
    summary: Record<string, number>,
    o?: { imagesPerSecond?: number; status?: 'finished' | 'pruned' },
  ): Promise<void>;
  /** Records the error; an INTERRUPTED error (Ctrl-C) marks the run killed rather than failed. */
  fail(error: unknown): Promise<void>;
  markKilled(reason: string): Promise<void>;
}

const HEARTBEAT_EVERY_MS = 5000;

function describeError(e: unknown): RunError {
  const code = isLoupeError(e) ? e.code : (e as NodeJS.ErrnoException | undefined)?.code;
  return {
    code: typeof code === 'string' ? code : 'UNEXPECTED',
    message: e instanceof Error ? e.message : String(e),
  };
}

function parseRun(row: RunsTable): Run {
  return {
    ...row,
    config: JSON.parse(row.config) as Record<string, unknown>,
    git_dirty: row.git_dirty === null ? null : row.git_dirty === 1,
    versions: JSON.parse(row.versions) as LibraryVersions,
    error: row.error === null ? null : (JSON.parse(row.error) as RunError),
    summary: row.summary === null ? null : (JSON.parse(row.summary) as Record<string, number>),
  };
}

async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(createReadStream(file), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    });
  } catch (e) {
    throw fsError(e, file, { what: 'the artifact' });
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Records a run as running (with the code's git commit, library versions, host and pid) and
 * creates its folder. The handle's final call (finish, fail or markKilled) must follow; if the
 * process dies first, the next listing marks the run killed.
 */
export async function startRun(
  ws: Pick<Workspace, 'db' | 'root' | 'stateDir'>,
  init: RunInit,
): Promise<RunHandle> {
  const { db } = ws;
  await reconcileStaleRuns(db);
  const [git, versions] = await Promise.all([gitInfo(loupeRoot), libraryVersions()]);
  const id = newId();
  const dir = path.join(ws.stateDir, 'runs', id);
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw fsError(e, dir);
  });
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  await db
    .insertInto('runs')
    .values({
      id,
      name: init.name ?? [init.mode, init.backbone].filter(Boolean).join(' '),
      kind: init.kind ?? 'train',
      parent_id: init.parentId ?? null,
      study_id: init.studyId ?? null,
      status: 'running',
      mode: init.mode,
      config: JSON.stringify(init.config),
      dataset_version: init.datasetVersion,
      backbone: init.backbone ?? null,
      seed: init.seed,
      git_commit: git.commit,
      git_dirty: git.dirty === null ? null : Number(git.dirty),
      versions: JSON.stringify(versions),
      host: os.hostname(),
      pid: process.pid,
      started_at: startedAt,
      heartbeat_at: startedAt,
      ended_at: null,
      duration_s: null,
      error: null,
      summary: null,
      peak_rss_mib: null,
      images_per_s: null,
    })
    .execute();

  return runHandle(ws, id, started);
}

/**
 * Takes up a run that was killed or failed (`loupe train --resume`): it is running again under
 * this process, and its duration carries on from what it had.
 */
export async function resumeRun(
  ws: Pick<Workspace, 'db' | 'root' | 'stateDir'>,
  idOrPrefix: string,
): Promise<RunHandle> {
  const run = await getRun(ws.db, idOrPrefix);
  if (run.status !== 'killed' && run.status !== 'failed')
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `run ${run.id} is ${run.status}; only a killed or failed run can be resumed`,
    );
  const now = new Date().toISOString();
  await ws.db
    .updateTable('runs')
    .set({
      status: 'running',
      host: os.hostname(),
      pid: process.pid,
      heartbeat_at: now,
      ended_at: null,
      error: null,
    })
    .where('id', '=', run.id)
    .execute();
  return runHandle(ws, run.id, Date.now() - (run.duration_s ?? 0) * 1000);
}

function runHandle(ws: Pick<Workspace, 'db' | 'root' | 'stateDir'>, id: string, started: number): RunHandle {
  const { db } = ws;
  const dir = path.join(ws.stateDir, 'runs', id);
  let lastBeat = Date.now();
  let ended = false;
  const heartbeat = async () => {
    const now = Date.now();
    if (now - lastBeat < HEARTBEAT_EVERY_MS) return;
    lastBeat = now;
    await db
      .updateTable('runs')
      .set({ heartbeat_at: new Date(now).toISOString() })
      .where('id', '=', id)
      .execute();
  };
  const end = async (fields: Pick<RunsTable, 'status' | 'error'> & Partial<RunsTable>) => {
    if (ended) throw new LoupeError('INVALID_ARGUMENT', `run ${id} has already ended`);
    const now = Date.now();
    const at = new Date(now).toISOString();
    await db
      .updateTable('runs')
      .set({
        ...fields,
        heartbeat_at: at,
        ended_at: at,
        duration_s: (now - started) / 1000,
        // maxRSS is in KiB and covers the whole process, so it is this run's peak or an earlier one's.
        peak_rss_mib: process.resourceUsage().maxRSS / 1024,
      })
      // Not filtered on status: if another host's check wrongly marked the run killed, the
      // process's own account of how it ended wins.
      .where('id', '=', id)
      .execute();
    ended = true;
  };

  return {
    id,
    dir,
    read: () => getRun(db, id),
    heartbeat,
    async logMetrics(step, values) {
      const at = new Date().toISOString();
      const rows = Object.entries(values).map(([name, value]) => ({
        run_id: id,
        step,
        name,
        value: Number.isFinite(value) ? value : null,
        at,
      }));
      if (!rows.length) return;
      await db
        .insertInto('run_metrics')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['run_id', 'name', 'step']).doUpdateSet((eb) => ({
            value: eb.ref('excluded.value'),
            at: eb.ref('excluded.at'),
          })),
        )
        .execute();
      await heartbeat();
    },
    async addArtifact(name, file, kind) {
      const absolute = path.resolve(file);
      // Only what is inside the workspace survives it being copied or backed up.
      if (!isWithin(ws.root, absolute)) {
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `the artifact ${file} is outside the workspace ${ws.root}; write it to ${dir}`,
        );
      }
      const artifact: RunArtifact = {
        run_id: id,
        name,
        path: path.relative(ws.root, absolute).split(path.sep).join('/'),
        kind,
        ...(await sha256File(absolute)),
      };
      await db
        .insertInto('run_artifacts')
        .values(artifact)
        .onConflict((oc) =>
          oc.columns(['run_id', 'name']).doUpdateSet((eb) => ({
            path: eb.ref('excluded.path'),
            kind: eb.ref('excluded.kind'),
            bytes: eb.ref('excluded.bytes'),
            sha256: eb.ref('excluded.sha256'),
          })),
        )
        .execute();
      return artifact;
    },
    finish: (summary, o = {}) =>
      end({
        status: o.status ?? 'finished',
        error: null,
        summary: JSON.stringify(summary),
        images_per_s: o.imagesPerSecond ?? null,
      }),
    fail: (e) =>
      end({
        status: isLoupeError(e, 'INTERRUPTED') ? 'killed' : 'failed',
        error: JSON.stringify(describeError(e)),
      }),
    markKilled: (reason) =>
      end({
        status: 'killed',
        error: JSON.stringify({ code: 'INTERRUPTED', message: reason } satisfies RunError),
      }),
  };
}

/** Runs, newest first. A run whose process died is marked killed before it is listed. */
export async function listRuns(
  db: Database,
  filter: { status?: RunStatus; studyId?: string; limit?: number } = {},
): Promise<Run[]> {
  await reconcileStaleRuns(db);
  let q = db.selectFrom('runs').selectAll().orderBy('id', 'desc');
  if (filter.status) q = q.where('status', '=', filter.status);
  if (filter.studyId) q = q.where('study_id', '=', filter.studyId);
  if (filter.limit !== undefined) q = q.limit(filter.limit);
  return (await q.execute()).map(parseRun);
}

/** A run by id or unique id prefix (4+ characters). */
export async function getRun(db: Database, idOrPrefix: string): Promise<Run> {
  await reconcileStaleRuns(db);
  const id = await resolveId(db, 'runs', idOrPrefix);
  return parseRun(await db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
}

/** Every logged value, by step then name. */
export function runMetrics(db: Database, id: string): Promise<RunMetric[]> {
  return db
    .selectFrom('run_metrics')
    .selectAll()
    .where('run_id', '=', id)
    .orderBy('step')
    .orderBy('name')
    .execute();
}

export function runArtifacts(db: Database, id: string): Promise<RunArtifact[]> {
  return db.selectFrom('run_artifacts').selectAll().where('run_id', '=', id).orderBy('name').execute();
}

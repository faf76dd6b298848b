import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ProgressLine } from '../../cli/progress.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { newId } from '../../track/run-id.js';
import type { Workspace } from '../../workspace/workspace.js';
import { ingestPathWithin } from './ingest-roots.js';
import { jobArgsSchemas, jobArgv, type JobArgs } from './job-args.js';
import {
  getJob,
  insertJob,
  markOrphanedJobs,
  trainingRunOf,
  updateJob,
  type Job,
  type JobKind,
  type JobStatus,
} from './job-store.js';

/** bin/loupe.js: the same command a person runs, from src/web/jobs or dist/web/jobs alike. */
export const LOUPE_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/loupe.js');

/** Lines of output a job keeps (in memory, in its row, on the page). */
const TAIL_LINES = 200;
const MAX_LINE = 2000;
/** A running job's row is brought up to date at most this often. */
const SAVE_EVERY_MS = 1000;
/** Long commands on a shared machine: more at once only makes each slower. */
const MAX_RUNNING = 4;
/** On shutdown, how long commands get to stop at a safe point after Ctrl-C. */
const STOP_GRACE_MS = 15_000;

export type JobEvent =
  { type: 'progress'; progress: ProgressLine } | { type: 'log'; line: string } | { type: 'end'; job: Job };

interface Running {
  job: Job;
  child: ChildProcess;
  tail: string[];
  progress: ProgressLine | null;
  /** Why the command is being stopped, when it is: it decides the status it ends with. */
  stopping: 'cancelled' | 'interrupted' | undefined;
  listeners: Set<(e: JobEvent) => void>;
  saveTimer: NodeJS.Timeout | undefined;
  ended: Promise<Job>;
}

/** A ProgressLine printed by LOUPE_PROGRESS=json, or undefined for any other line. */
function progressLine(line: string): ProgressLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const p = JSON.parse(line) as Partial<ProgressLine>;
    return typeof p.stage === 'string' && typeof p.done === 'number' && typeof p.total === 'number'
      ? (p as ProgressLine)
      : undefined;
  } catch {
    return undefined;
  }
}

let commands: Promise<Set<string>> | undefined;
/** The verbs this build of `loupe` has, so a job for a missing one is refused up front. */
export function loupeCommands(): Promise<Set<string>> {
  commands ??= import('../../cli/main.js').then(
    ({ buildProgram }) => new Set(buildProgram().commands.map((c) => c.name())),
  );
  return commands;
}

/**
 * Runs long commands (ingest, train, tune, retrain) for the web app as child `loupe` processes of
 * the workspace, with LOUPE_PROGRESS=json so their progress bars arrive as JSON lines. Each job
 * is a row of the jobs table kept up to date as it runs; listeners (the page's event stream) get
 * its progress and output as they come. Cancelling sends SIGINT, the command's own Ctrl-C, so
 * it stops at a safe point and saves what it can resume from.
 */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  private closed = false;

  constructor(
    private readonly ws: Workspace,
    private readonly o: {
      bin?: string;
      env?: NodeJS.ProcessEnv;
      /** web.jobs.ingestRoots; default the workspace's own setting. */
      ingestRoots?: string[];
    } = {},
  ) {}

  /**
   * An ingest's path as the command gets it: resolved, and refused unless inside an ingest root.
   * The command reads the resolved path, so no link along the way can point it elsewhere later.
   */
  private async confined<K extends JobKind>(kind: K, args: JobArgs[K]): Promise<JobArgs[K]> {
    if (kind !== 'ingest') return args;
    const a = args as JobArgs['ingest'];
    const roots = this.o.ingestRoots ?? this.ws.config.web.jobs.ingestRoots;
    return { ...a, path: await ingestPathWithin(a.path, roots, this.ws.root) } as JobArgs[K];
  }

  /** Marks the jobs of a server that is gone as interrupted; call once before serving. */
  async start(): Promise<string[]> {
    return markOrphanedJobs(this.ws.db);
  }

  async launch<K extends JobKind>(
    kind: K,
    input: unknown,
    o: { startedBy: string; resumedFrom?: string },
  ): Promise<Job> {
    if (this.closed) throw new LoupeError('OVERLOADED', 'the server is shutting down');
    const parsed = jobArgsSchemas[kind].safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${kind}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`,
      );
    }
    if (!(await loupeCommands()).has(kind))
      throw new LoupeError('NOT_FOUND', `this build of loupe has no \`${kind}\` command`);
    if (this.running.size >= MAX_RUNNING)
      throw new LoupeError(
        'CONFLICT',
        `${this.running.size} jobs are running; wait for one to end or cancel one`,
      );
    const args = parsed.data as JobArgs[K];
    const argv = jobArgv(kind, await this.confined(kind, args));
    const job = await insertJob(this.ws.db, {
      id: newId(),
      kind,
      args: args as Record<string, unknown>,
      argv,
      startedBy: o.startedBy,
      resumedFrom: o.resumedFrom ?? null,
    });
    const child = spawn(
      process.execPath,
      [
        this.o.bin ?? LOUPE_BIN,
        '--workspace',
        this.ws.root,
        ...(this.ws.profile ? ['--profile', this.ws.profile] : []),
        ...argv,
      ],
      {
        cwd: this.ws.root,
        env: {
          ...process.env,
          ...this.o.env,
          LOUPE_PROGRESS: 'json',
          // Registry changes the command makes are the signed-in person's, as in the audit log.
          LOUPE_ACTOR: o.startedBy,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const r: Running = {
      job,
      child,
      tail: [],
      progress: null,
      stopping: undefined,
      listeners: new Set(),
      saveTimer: undefined,
      ended: Promise.resolve(job),
    };
    this.running.set(job.id, r);
    r.ended = this.follow(r);
    if (child.pid !== undefined) await updateJob(this.ws.db, job.id, { pid: child.pid });
    return this.current(job.id);
  }

  private follow(r: Running): Promise<Job> {
    const emit = (e: JobEvent) => {
      for (const l of r.listeners) l(e);
    };
    // Progress lines come on stderr only: stdout may carry a command's own JSON (a --json report).
    const onLine = (line: string, stderr: boolean) => {
      const p = stderr ? progressLine(line) : undefined;
      if (p) {
        r.progress = p;
        emit({ type: 'progress', progress: p });
      } else {
        const shown = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
        r.tail.push(shown);
        if (r.tail.length > TAIL_LINES) r.tail.shift();
        emit({ type: 'log', line: shown });
      }
      r.saveTimer ??= setTimeout(() => {
        r.saveTimer = undefined;
        void this.save(r).catch(() => undefined);
      }, SAVE_EVERY_MS);
    };
    const streams = [r.child.stdout!, r.child.stderr!].map((s) => {
      const lines = createInterface({ input: s, crlfDelay: Infinity });
      lines.on('line', (line) => onLine(line, s === r.child.stderr));
      return new Promise<void>((resolve) => lines.once('close', resolve));
    });
    const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      r.child.once('error', (error) => resolve({ code: null, error }));
      r.child.once('exit', (code) => resolve({ code }));
    });
    return (async () => {
      const { code, error } = await exited;
      await Promise.all(streams);
      if (error) r.tail.push(`could not start loupe: ${error.message}`);
      if (r.saveTimer) clearTimeout(r.saveTimer);
      const status: JobStatus = code === 0 ? 'finished' : (r.stopping ?? 'failed');
      await this.save(r, {
        status,
        exit_code: code,
        ended_at: new Date().toISOString(),
        run_id: await trainingRunOf(this.ws.db, { ...r.job, pid: r.child.pid ?? null }),
      });
      this.running.delete(r.job.id);
      const job = await getJob(this.ws.db, r.job.id);
      emit({ type: 'end', job });
      r.listeners.clear();
      return job;
    })();
  }

  private async save(r: Running, end: Parameters<typeof updateJob>[2] = {}): Promise<void> {
    await updateJob(this.ws.db, r.job.id, {
      progress: r.progress ? JSON.stringify(r.progress) : null,
      log_tail: r.tail.join('\n'),
      ...end,
    });
  }

  /** A job as it stands: a running one with its latest progress and output, fresher than its row. */
  async current(id: string): Promise<Job> {
    const job = await getJob(this.ws.db, id);
    const r = this.running.get(id);
    return r ? { ...job, progress: r.progress, logTail: r.tail.join('\n') } : job;
  }

  /** Listens to a running job until it ends; false when it is not running here. */
  subscribe(id: string, listener: (e: JobEvent) => void): (() => void) | false {
    const r = this.running.get(id);
    if (!r) return false;
    r.listeners.add(listener);
    return () => r.listeners.delete(listener);
  }

  /**
   * Ctrl-C for a job: the command stops at its next safe point and saves its state. Asking again
   * sends a second SIGINT, which makes the command exit at once, as a second Ctrl-C does.
   */
  async cancel(id: string): Promise<Job> {
    const r = this.running.get(id);
    if (!r) {
      const job = await getJob(this.ws.db, id);
      throw new LoupeError('CONFLICT', `job ${id} is ${job.status}, not running`);
    }
    r.stopping = 'cancelled';
    r.child.kill('SIGINT');
    return this.current(id);
  }

  /** Waits for a job to end (tests, shutdown); resolves at once for one that is not running. */
  async ended(id: string): Promise<Job> {
    return this.running.get(id)?.ended ?? getJob(this.ws.db, id);
  }

  /**
   * Stops every job as the server shuts down: Ctrl-C first, so each saves its state, then after
   * a grace period SIGKILL. They end 'interrupted', to be resumed after the restart.
   */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    for (const r of all) {
      r.stopping ??= 'interrupted';
      r.child.kill('SIGINT');
    }
    const grace = setTimeout(() => {
      for (const r of all) r.child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    try {
      await Promise.all(all.map((r) => r.ended));
    } finally {
      clearTimeout(grace);
    }
  }
}

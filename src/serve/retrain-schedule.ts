import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pendingDecisions } from '../monitor/feedback/feedback-source.js';
import type { RetrainReport } from '../monitor/retrain/retrain-report.js';
import type { RetrainScheduleConfig } from '../monitor/retrain/retrain-schedule-config.js';
import { latestDrift } from '../monitor/retrain/retrain-trigger.js';
import { CHAMPION } from '../registry/registry-store.js';
import type { Workspace } from '../workspace/workspace.js';
import type { HostLog } from './model-host.js';

/** bin/loupe.js, from src/serve or dist/serve alike. */
const LOUPE_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/loupe.js');
/** After a retrain that failed (not a gate verdict), a model waits this many intervals before the next. */
const FAILURE_BACKOFF_INTERVALS = 10;
/** On shutdown, how long a running retrain gets to stop at a safe point after SIGTERM. */
const STOP_GRACE_MS = 15_000;

export interface ScheduledRetrain {
  model: string;
  args: string[];
  startedAt: string;
  exitCode?: number | null;
  outcome?: RetrainReport['outcome'];
}

/**
 * Starts `loupe retrain` for served models when a trigger fires: enough pending decisions
 * (monitor.retrain.minFeedback) or a new drift check that found drift (onDrift). The retrain
 * runs as a child process, so its crash cannot take the server down and its memory goes with
 * it; the server's hot reload then serves the new champion. One retrain at a time (the
 * workspace's retrain lock also holds off any other process). The child is passed the same
 * triggers, so it checks them again itself and its report says why it ran.
 */
export class RetrainSchedule {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private child: { process: ChildProcess; ended: Promise<void> } | undefined;
  /** The drift check each model last retrained on, so one alarm starts one retrain. */
  private readonly driftActedOn = new Map<string, number>();
  private readonly notBefore = new Map<string, number>();
  readonly history: ScheduledRetrain[] = [];

  constructor(
    private readonly ws: Workspace,
    private readonly config: RetrainScheduleConfig,
    private readonly log: HostLog,
    private readonly o: { bin?: string } = {},
  ) {}

  get enabled(): boolean {
    return this.config.onDrift || this.config.minFeedback > 0;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.config.intervalMs);
    this.timer.unref();
  }

  /** Stops looking; a running retrain is asked to stop (SIGTERM, its Ctrl-C) and waited for. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const running = this.child;
    if (!running) return;
    running.process.kill('SIGTERM');
    const force = setTimeout(() => running.process.kill('SIGKILL'), STOP_GRACE_MS);
    await running.ended;
    clearTimeout(force);
  }

  /** One look at every model with a champion; starts at most one retrain. */
  async tick(): Promise<void> {
    if (this.ticking || this.child) return;
    this.ticking = true;
    try {
      const models = await this.ws.db
        .selectFrom('model_aliases')
        .select('model')
        .where('alias', '=', CHAMPION)
        .orderBy('model')
        .execute();
      for (const { model } of models) {
        if ((this.notBefore.get(model) ?? 0) > Date.now()) continue;
        const args = await this.due(model);
        if (args) {
          this.launch(model, args);
          return;
        }
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'retrain schedule: could not check the triggers');
    } finally {
      this.ticking = false;
    }
  }

  /** The retrain's trigger options when one fires for the model, else undefined. */
  private async due(model: string): Promise<string[] | undefined> {
    const { minFeedback, onDrift } = this.config;
    const args: string[] = [];
    let fired = false;
    if (minFeedback > 0) {
      args.push('--min-feedback', String(minFeedback));
      // A count first: reading every pending decision (and its bytes) each tick costs more.
      const { n } = await this.ws.db
        .selectFrom('feedback')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('dataset_version', 'is', null)
        .where('model', '=', model)
        .executeTakeFirstOrThrow();
      fired =
        Number(n) >= minFeedback && (await pendingDecisions(this.ws, model)).usable.length >= minFeedback;
    }
    if (onDrift) {
      args.push('--if-drift');
      const drift = await latestDrift(this.ws.db, model);
      if (drift?.drifted && this.driftActedOn.get(model) !== drift.id) {
        this.driftActedOn.set(model, drift.id);
        fired = true;
      }
    }
    return fired ? args : undefined;
  }

  private launch(model: string, triggers: string[]): void {
    const args = [
      this.o.bin ?? LOUPE_BIN,
      '--workspace',
      this.ws.root,
      ...(this.ws.profile ? ['--profile', this.ws.profile] : []),
      'retrain',
      model,
      ...triggers,
      '--json',
    ];
    const entry: ScheduledRetrain = { model, args: triggers, startedAt: new Date().toISOString() };
    this.history.push(entry);
    this.log.info({ model, triggers }, 'retrain schedule: starting loupe retrain');
    const child = spawn(process.execPath, args, {
      cwd: this.ws.root,
      env: { ...process.env, LOUPE_RETRAIN_STARTED_BY: 'schedule' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let report: RetrainReport | undefined;
    const stdout = createInterface({ input: child.stdout, crlfDelay: Infinity });
    stdout.on('line', (line) => {
      try {
        report = JSON.parse(line) as RetrainReport;
      } catch {
        // Only the report is JSON on stdout; anything else is not ours to interpret.
      }
    });
    const stderr = createInterface({ input: child.stderr, crlfDelay: Infinity });
    stderr.on('line', (line) => this.log.info({ model, retrain: line }, 'retrain'));
    const ended = new Promise<void>((resolve) => {
      child.once('error', (e) => {
        this.log.warn({ model, err: e.message }, 'retrain schedule: could not start loupe retrain');
        resolve();
      });
      child.once('close', (code) => {
        entry.exitCode = code;
        if (report) entry.outcome = report.outcome;
        // 0: promoted, unchanged or skipped; 5: the gate kept the champion. Others failed.
        if (code !== 0 && code !== 5)
          this.notBefore.set(model, Date.now() + FAILURE_BACKOFF_INTERVALS * this.config.intervalMs);
        this.log.info(
          {
            model,
            exitCode: code,
            outcome: report?.outcome,
            after: report?.after,
            retrainId: report?.retrainId,
          },
          'retrain schedule: loupe retrain ended',
        );
        resolve();
      });
    });
    this.child = {
      process: child,
      ended: ended.then(() => {
        this.child = undefined;
      }),
    };
  }
}

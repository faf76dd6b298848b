import { isLoupeError } from '../../errors/loupe-error.js';
import type { RunMode } from '../../store/schema.js';
import { writeRunMetadata } from '../../track/metadata.js';
import { startRun, type RunHandle } from '../../track/run-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { FailedStep, RetrainEvent, StepName, StepReport } from './retrain-report.js';
import { finishStepRecord, startStepRecord } from './step-store.js';

export interface StepContext {
  ws: Workspace;
  retrain: RunHandle;
  mode: RunMode;
  seed: number;
  /** Every step's report, in order, as each ends (a failed one too). */
  steps: (StepReport | FailedStep)[];
  onEvent?: (e: RetrainEvent) => void;
}

/** What a step's work hands back: its report, and the figures its run records as its summary. */
export type StepResult<R extends StepReport> = Omit<R, 'runId' | 'seconds'> & {
  figures?: Record<string, number>;
};

type ReportOf<S extends StepName> = Extract<StepReport, { step: S }>;

/**
 * Runs one step of a retrain as its own recorded run (kind retrain-step, a child of the
 * retrain's run): the step's content key and inputs are the run's config, its figures the run's
 * summary, and its report goes to retrain_steps (where a rerun finds it by key) and to the run's
 * metadata.json. A step that throws is recorded as failed (killed when interrupted), its
 * report saying why, before the error goes on.
 */
export async function runStep<S extends StepName>(
  ctx: StepContext,
  step: S,
  o: {
    key: string;
    inputs: Record<string, unknown>;
    datasetVersion: string;
    /** What the step is about to do, shown as it starts. */
    detail: string;
  },
  work: (run: RunHandle) => Promise<StepResult<ReportOf<S>>>,
): Promise<ReportOf<S>> {
  const started = performance.now();
  const run = await startRun(ctx.ws, {
    kind: 'retrain-step',
    name: step,
    parentId: ctx.retrain.id,
    mode: ctx.mode,
    config: { step, key: o.key, ...o.inputs },
    datasetVersion: o.datasetVersion,
    seed: ctx.seed,
  });
  await startStepRecord(ctx.ws.db, { runId: run.id, retrainId: ctx.retrain.id, step, key: o.key });
  ctx.onEvent?.({ type: 'step-start', step, detail: o.detail });
  const seconds = () => (performance.now() - started) / 1000;
  let report: ReportOf<S>;
  try {
    const { figures, ...result } = await work(run);
    report = { ...result, runId: run.id, seconds: seconds() } as ReportOf<S>;
    await run.finish(figures ?? {});
    await finishStepRecord(ctx.ws.db, run.id, report);
  } catch (e) {
    await run.fail(e);
    const failed: FailedStep = {
      step,
      status: 'failed',
      detail: isLoupeError(e) ? `${e.message} [${e.code}]` : String(e),
      runId: run.id,
      seconds: seconds(),
    };
    ctx.steps.push(failed);
    ctx.onEvent?.({ type: 'step', report: failed });
    throw e;
  }
  await writeRunMetadata(run, { step: report });
  ctx.steps.push(report);
  ctx.onEvent?.({ type: 'step', report });
  return report;
}

import path from 'node:path';
import { formatRef } from '../../registry/model-ref.js';
import { aliasTarget, CHAMPION } from '../../registry/registry-store.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { startRun, type RunHandle } from '../../track/run-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import { pendingDecisions } from '../feedback/feedback-source.js';
import { acquireRetrainLock, type RetrainLock } from './retrain-lock.js';
import { retrainInputs, type RetrainInputs } from './retrain-inputs.js';
import { planRetrain } from './retrain-plan.js';
import type {
  DatasetStep,
  RetrainEvent,
  RetrainOutcome,
  RetrainReport,
  TrainStep,
} from './retrain-report.js';
import {
  datasetStep,
  gateStep,
  promoteStep,
  registerStep,
  trainStep,
  type RetrainContext,
} from './retrain-steps.js';
import { decideTrigger, pendingCounts, type TriggerOptions } from './retrain-trigger.js';

export interface RetrainOptions extends TriggerOptions {
  model: string;
  /** The alias the candidate is judged against and promoted to; default champion. */
  alias?: string;
  /** Run the workspace's hyperparameter search (tune: in loupe.yaml) instead of the reference's recipe. */
  tune?: boolean;
  /** Say what would happen; change nothing. */
  dryRun?: boolean;
  /** Who the registry's audit log names; default LOUPE_ACTOR or the OS user. */
  actor?: string;
  /** What started it ('hand', 'schedule', 'ci'), for the report and the audit reason. */
  startedBy?: string;
  signal?: AbortSignal;
  onEvent?: (e: RetrainEvent) => void;
}

const HEARTBEAT_EVERY_MS = 5000;

async function aliasRef(ws: Workspace, model: string, alias: string): Promise<string | null> {
  const v = await aliasTarget(ws.db, model, alias);
  return v === undefined ? null : formatRef(model, v);
}

/**
 * Retrains a model: people's pending decisions go into a new version of its dataset (on top of
 * the latest one, so data ingested since the champion was trained is in too), a candidate is
 * trained with the champion's recipe (or a search), registered (calibrated and evaluated),
 * judged by the gate against the champion and promoted when it passes; otherwise the champion
 * stays and the report says which rules failed. Every step is a recorded run under the
 * retrain's run; a step whose inputs are unchanged reuses the earlier result. One retrain runs
 * at a time per workspace (a lock that survives crashes), and the registry changes only in the
 * register and promote steps' own transactions, so a retrain stopped anywhere leaves the
 * champion where it was.
 */
export async function retrain(ws: Workspace, o: RetrainOptions): Promise<RetrainReport> {
  const started = Date.now();
  const alias = o.alias ?? CHAMPION;
  const inputs = await retrainInputs(ws, o.model, alias);
  const decision = await decideTrigger(ws.db, o.model, await pendingDecisions(ws, o.model), o);
  o.onEvent?.({ type: 'trigger', decision });
  const before = await aliasRef(ws, o.model, alias);
  const report: RetrainReport = {
    model: o.model,
    alias,
    retrainId: null,
    outcome: 'skipped',
    trigger: decision,
    before,
    after: before,
    steps: [],
    startedAt: new Date(started).toISOString(),
    seconds: 0,
  };
  const ended = (r: RetrainReport) => ({ ...r, seconds: (Date.now() - started) / 1000 });
  if (!decision.fired) return ended(report);
  if (o.dryRun)
    return ended({ ...report, outcome: 'planned', plan: await planRetrain(ws, inputs, o.tune ?? false) });

  const lock = await acquireRetrainLock(ws.db, { model: o.model });
  try {
    return ended(await underLock(ws, o, alias, lock, report));
  } finally {
    await lock.release();
  }
}

async function underLock(
  ws: Workspace,
  o: RetrainOptions,
  alias: string,
  lock: RetrainLock,
  report: RetrainReport,
): Promise<RetrainReport> {
  // Read again under the lock: a retrain that held it may have moved the alias or taken the decisions.
  const inputs = await retrainInputs(ws, o.model, alias);
  const pending = await pendingDecisions(ws, o.model);
  report.trigger = { ...report.trigger, pending: pendingCounts(pending) };
  if (lock.tookOver)
    report.tookOverLockFrom = {
      pid: lock.tookOver.pid,
      host: lock.tookOver.host,
      retrainId: lock.tookOver.retrainId,
    };
  const run = await startRun(ws, {
    kind: 'retrain',
    name: `retrain ${o.model}`,
    mode: inputs.mode,
    config: {
      model: o.model,
      alias,
      startedBy: o.startedBy ?? 'hand',
      trigger: report.trigger.reasons,
      tune: o.tune ?? false,
      reference: inputs.reference.ref,
      configFrom: inputs.configFrom,
    },
    datasetVersion: inputs.base.id,
    seed: inputs.config.seed,
  });
  await lock.attach(run.id);
  report.retrainId = run.id;
  const beat = setInterval(() => void run.heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  beat.unref();
  const ctx: RetrainContext = {
    ws,
    retrain: run,
    mode: inputs.mode,
    seed: inputs.config.seed,
    steps: report.steps,
    inputs,
    retrainId: run.id,
    startedBy: o.startedBy ?? 'hand',
    tune: o.tune ?? false,
    ...(o.actor ? { actor: o.actor } : {}),
    signal: o.signal ? AbortSignal.any([o.signal, lock.lost]) : lock.lost,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  };
  try {
    Object.assign(report, await runSteps(ctx, inputs, pending));
    report.after = await aliasRef(ws, o.model, alias);
    await writeReport(run, report);
    await run.finish(figures(report));
    return report;
  } catch (e) {
    report.outcome = 'failed';
    await writeReport(run, report).catch(() => undefined);
    await run.fail(e);
    throw e;
  } finally {
    clearInterval(beat);
  }
}

async function runSteps(
  ctx: RetrainContext,
  inputs: RetrainInputs,
  pending: Awaited<ReturnType<typeof pendingDecisions>>,
): Promise<Pick<RetrainReport, 'outcome' | 'failedRules'>> {
  const dataset = await datasetStep(ctx, pending);
  const train = await trainStep(ctx, dataset.version);
  const { candidate } = await registerStep(ctx, train.trainRunId, dataset.version);
  const held = await aliasTarget(ctx.ws.db, inputs.model, inputs.alias);
  const policy = { ...ctx.ws.config.gate, against: inputs.alias };
  const gate = await gateStep(ctx, candidate, held, policy);
  const promoted = await promoteStep(ctx, candidate, gate, {
    held,
    policy,
    feedbackUsed: dataset.feedback.used,
    trainRunId: train.trainRunId,
  });
  const failedRules = gate.gate?.rules
    .filter((r) => r.verdict === 'fail')
    .map((r) => ({
      rule: r.rule,
      detail: r.detail,
      ...(r.value !== undefined ? { value: r.value } : {}),
      ...(r.threshold !== undefined ? { threshold: r.threshold } : {}),
    }));
  const outcome: RetrainOutcome =
    promoted.status === 'done' ? 'promoted' : gate.passed === null ? 'unchanged' : 'kept';
  return { outcome, ...(failedRules?.length ? { failedRules } : {}) };
}

/** The report as JSON in the retrain's run folder, recorded as its artifact. */
async function writeReport(run: RunHandle, report: RetrainReport): Promise<void> {
  report.seconds = (Date.now() - Date.parse(report.startedAt)) / 1000;
  report.reportFile = path.join(run.dir, 'report.json');
  await writeFileAtomic(report.reportFile, new TextEncoder().encode(`${JSON.stringify(report, null, 1)}\n`));
  await run.addArtifact('report.json', report.reportFile, 'report');
}

/** The retrain run's summary: what it did, and the candidate's figures. */
function figures(r: RetrainReport): Record<string, number> {
  const dataset = r.steps.find((s): s is DatasetStep => s.step === 'dataset' && s.status !== 'failed');
  const train = r.steps.find((s): s is TrainStep => s.step === 'train' && s.status !== 'failed');
  return {
    promoted: r.outcome === 'promoted' ? 1 : 0,
    feedback_used: dataset?.feedback.used ?? 0,
    ...train?.summary,
  };
}

import { isLoupeError } from '../../errors/loupe-error.js';
import { describeRule, type GateConfig } from '../../registry/gate/gate-policy.js';
import { runGate } from '../../registry/gate/run-gate.js';
import { formatRef } from '../../registry/model-ref.js';
import { promote } from '../../registry/promote.js';
import { registerRun } from '../../registry/register-model.js';
import { getVersion, type ModelVersion } from '../../registry/registry-store.js';
import { getRun } from '../../track/run-store.js';
import { contentHash } from '../../util/canonical-json.js';
import { addFeedbackToDataset } from '../feedback/feedback-dataset.js';
import type { PendingDecisions } from '../feedback/feedback-source.js';
import type { RetrainInputs } from './retrain-inputs.js';
import type { DatasetStep, GateStep, PromoteStep, RegisterStep, TrainStep } from './retrain-report.js';
import { pendingCounts } from './retrain-trigger.js';
import { runStep, type StepContext } from './run-step.js';
import { findFinishedStep } from './step-store.js';
import { reusableTraining, trainCandidate, trainingKey } from './train-candidate.js';

/** What every step of one retrain shares. */
export interface RetrainContext extends StepContext {
  inputs: RetrainInputs;
  retrainId: string;
  startedBy: string;
  tune: boolean;
  actor?: string;
  signal: AbortSignal;
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(3));
const short = (id: string) => id.slice(0, 12);
const progressOf = (ctx: RetrainContext) => (stage: string, done: number, total: number) =>
  ctx.onEvent?.({ type: 'progress', stage, done, total });

/**
 * The pending decisions on top of the dataset's latest version (so data ingested since the
 * reference was trained is in too); with none, that version as it is.
 */
export function datasetStep(ctx: RetrainContext, pending: PendingDecisions): Promise<DatasetStep> {
  const { inputs } = ctx;
  const { base } = inputs;
  const counts = pendingCounts(pending);
  const trainedOn = inputs.reference.datasetVersion;
  return runStep(
    ctx,
    'dataset',
    {
      key: contentHash({ base: base.id, decisions: pending.usable.map((d) => [d.id, d.label]) }),
      inputs: { dataset: inputs.dataset, base: base.id, decisions: pending.usable.map((d) => d.id) },
      datasetVersion: base.id,
      detail: counts.usable
        ? `adding ${counts.usable} decisions (${counts.corrections} corrections, ${counts.accepts} accepts) to ${inputs.dataset} @ ${short(base.id)}`
        : `no pending decisions; ${inputs.dataset} @ ${short(base.id)}`,
    },
    async () => {
      const added = await addFeedbackToDataset(ctx.ws, inputs.dataset, pending.usable, {
        model: inputs.model,
        signal: ctx.signal,
        onValidationProgress: (p) => progressOf(ctx)(p.phase, p.done, p.total),
      });
      const r = added.ingest;
      const common = {
        step: 'dataset' as const,
        dataset: inputs.dataset,
        base: base.id,
        version: added.version.id,
        referenceVersion: trainedOn,
        feedback: {
          used: added.consumed.length,
          corrections: counts.corrections,
          accepts: counts.accepts,
          unusable: counts.unusable,
        },
        figures: {
          feedback_used: added.consumed.length,
          items: added.version.item_count,
          ...(r ? { items_added: r.items.added, items_relabelled: r.items.relabelled } : {}),
        },
      };
      if (!r) {
        const since = base.id === trainedOn ? 'the version' : 'newer than the version';
        return {
          ...common,
          status: 'reused',
          detail: `no pending decisions: ${inputs.dataset} @ ${short(base.id)} as it is (${base.item_count} items, ${since} ${inputs.reference.ref} was trained on)`,
        };
      }
      return {
        ...common,
        status: r.created ? 'done' : 'reused',
        items: r.items,
        reportFile: r.reportFile,
        detail: `${r.created ? 'new version' : 'the same items as version'} ${short(r.version)}: ${r.items.after} items (${r.items.added} added, ${r.items.relabelled} relabelled, ${r.items.alreadyPresent} already there) from ${added.consumed.length} decisions${r.rejectedBySource.count ? `; ${r.rejectedBySource.count} not usable (see the report)` : ''}`,
      };
    },
  );
}

/**
 * The reference's recipe on the version (or, with tune, the workspace's search around it),
 * unless a finished run already trained exactly these items with exactly these settings.
 */
export function trainStep(ctx: RetrainContext, data: string): Promise<TrainStep> {
  const { inputs, ws } = ctx;
  const { plan, key } = trainingKey(ws, inputs, data, ctx.tune);
  return runStep(
    ctx,
    'train',
    {
      key,
      inputs: { data, configFrom: inputs.configFrom, tune: ctx.tune },
      datasetVersion: data,
      detail: `${ctx.tune ? 'searching around' : 'training'} ${inputs.mode} with the settings of ${inputs.configFrom} on ${short(data)}`,
    },
    async () => {
      const common = { step: 'train' as const, configFrom: inputs.configFrom, configKey: plan.key };
      const reusable = await reusableTraining(ws, inputs, data, ctx.tune);
      if (reusable) {
        const summary = (await getRun(ws.db, reusable.runId)).summary ?? {};
        return {
          ...common,
          status: 'reused',
          trainRunId: reusable.runId,
          reusedFrom: reusable.runId,
          summary,
          figures: summary,
          detail: reusable.why,
        };
      }
      const trained = await trainCandidate(ws, {
        config: plan.config,
        key: plan.key,
        parentId: ctx.retrainId,
        name: `retrain ${inputs.model}`,
        tune: ctx.tune,
        signal: ctx.signal,
        onEvent: (event) => ctx.onEvent?.({ type: 'train', event }),
        onTrial: (trial) => ctx.onEvent?.({ type: 'trial', trial }),
      });
      return {
        ...common,
        status: 'done',
        trainRunId: trained.runId,
        ...(trained.resumed ? { resumed: true } : {}),
        ...(trained.studyId ? { studyId: trained.studyId } : {}),
        summary: trained.summary,
        figures: trained.summary,
        detail: trained.studyId
          ? `study ${trained.studyId}: best trial run ${trained.runId}`
          : trained.resumed
            ? `run ${trained.runId} continued from its last checkpoint (a stopped retrain left it)`
            : `run ${trained.runId}: test macro-F1 ${fmt(trained.summary['test.macro_f1'])}`,
      };
    },
  );
}

/** The run as the model's next version (packaged, calibrated, evaluated), unless it is one already. */
export async function registerStep(
  ctx: RetrainContext,
  trainRunId: string,
  data: string,
): Promise<{ step: RegisterStep; candidate: ModelVersion }> {
  const { ws, inputs } = ctx;
  let candidate: ModelVersion | undefined;
  const step = await runStep(
    ctx,
    'register',
    {
      key: contentHash({ model: inputs.model, run: trainRunId }),
      inputs: { model: inputs.model, run: trainRunId },
      datasetVersion: data,
      detail: `registering run ${trainRunId} as the next version of ${inputs.model}`,
    },
    async () => {
      const existing = await ws.db
        .selectFrom('model_versions')
        .select('version')
        .where('model', '=', inputs.model)
        .where('run_id', '=', trainRunId)
        .orderBy('version', 'desc')
        .executeTakeFirst();
      candidate = existing
        ? await getVersion(ws.db, { model: inputs.model, version: existing.version })
        : (
            await registerRun(ws, trainRunId, {
              name: inputs.model,
              reason: `retrain ${ctx.retrainId}`,
              ...(ctx.actor ? { actor: ctx.actor } : {}),
              signal: ctx.signal,
              onProgress: progressOf(ctx),
            })
          ).version;
      const m = candidate.metrics;
      return {
        step: 'register',
        status: existing ? 'reused' : 'done',
        version: candidate.ref,
        metrics: m,
        figures: { version: candidate.version, ...m },
        detail: `${candidate.ref}${existing ? ` is run ${trainRunId} already` : ''}: macro-F1 ${fmt(m.macro_f1)}, accuracy ${fmt(m.accuracy)}, ECE ${fmt(m.ece)}`,
      };
    },
  );
  return { step, candidate: candidate! };
}

/** The candidate against the alias's version under the gate policy; a verdict on the same pair and policy is reused. */
export function gateStep(
  ctx: RetrainContext,
  candidate: ModelVersion,
  held: number | undefined,
  policy: GateConfig,
): Promise<GateStep> {
  const { ws, inputs } = ctx;
  const key = contentHash({ candidate: candidate.ref, against: held ?? null, policy });
  const against = held === undefined ? `no ${inputs.alias} yet` : formatRef(inputs.model, held);
  return runStep(
    ctx,
    'gate',
    {
      key,
      inputs: { candidate: candidate.ref, against: held ?? null, rules: policy.rules.map(describeRule) },
      datasetVersion: candidate.datasetVersion ?? inputs.base.id,
      detail:
        held === candidate.version
          ? `${candidate.ref} holds ${inputs.alias} already`
          : `judging ${candidate.ref} against ${against}`,
    },
    async () => {
      if (held === candidate.version)
        return {
          step: 'gate',
          status: 'skipped',
          passed: null,
          detail: `${candidate.ref} is ${inputs.alias} already: nothing new to judge`,
        };
      const cached = await findFinishedStep<GateStep>(ws.db, 'gate', key);
      const gate = cached?.outcome.gate ?? (await runGate(ws, candidate, policy, { signal: ctx.signal }));
      const failed = gate.rules.filter((r) => r.verdict === 'fail');
      return {
        step: 'gate',
        status: cached ? 'reused' : 'done',
        passed: gate.passed,
        gate,
        ...(cached ? { reusedFrom: cached.runId } : {}),
        figures: { passed: gate.passed ? 1 : 0, failed_rules: failed.length },
        detail: gate.passed
          ? `passed against ${against}`
          : `FAILED against ${against}: ${failed.map((r) => `${r.rule} (${r.detail})`).join('; ')}`,
      };
    },
  );
}

/**
 * Moves the alias to a candidate that passed, in the registry's one audited transaction (which
 * reuses the gate step's verdict while the alias still holds the champion it was judged against,
 * and judges again if it moved meanwhile); otherwise records why not.
 */
export function promoteStep(
  ctx: RetrainContext,
  candidate: ModelVersion,
  gate: GateStep,
  o: { held: number | undefined; policy: GateConfig; feedbackUsed: number; trainRunId: string },
): Promise<PromoteStep> {
  const { inputs } = ctx;
  const { alias, model } = inputs;
  const from = o.held === undefined ? null : formatRef(model, o.held);
  const skip = (detail: string) => ({
    step: 'promote' as const,
    status: 'skipped' as const,
    alias,
    from,
    to: from,
    detail,
  });
  return runStep(
    ctx,
    'promote',
    {
      key: contentHash({ candidate: candidate.ref, alias, from }),
      inputs: { candidate: candidate.ref, alias, from, gatePassed: gate.passed },
      datasetVersion: candidate.datasetVersion ?? inputs.base.id,
      detail: gate.passed ? `promoting ${candidate.ref} to ${alias}` : `${alias} stays ${from ?? 'unset'}`,
    },
    async () => {
      if (gate.passed === null) return skip(`${candidate.ref} holds ${alias} already`);
      if (!gate.passed) return skip(`the gate failed; ${alias} stays ${from ?? 'unset'}`);
      const reason = `retrain ${ctx.retrainId} (${ctx.startedBy}): ${o.feedbackUsed} decisions, run ${o.trainRunId}; gate passed against ${from ?? `no ${alias}`}`;
      try {
        const p = await promote(
          ctx.ws,
          { model, version: candidate.version },
          {
            alias,
            reason,
            policy: o.policy,
            ...(gate.gate ? { judged: gate.gate } : {}),
            signal: ctx.signal,
            ...(ctx.actor ? { actor: ctx.actor } : {}),
          },
        );
        return {
          step: 'promote',
          status: 'done',
          alias,
          from,
          to: candidate.ref,
          figures: { from: p.from ?? 0, to: candidate.version },
          detail: `${model}:${alias} → ${candidate.ref}${from ? ` (was ${from})` : ''}`,
        };
      } catch (e) {
        // Judged again at the move when the alias moved since the gate step, and may fail then.
        if (!isLoupeError(e, 'GATE_FAILED')) throw e;
        return skip(`refused at the move: ${e.message}`);
      }
    },
  );
}

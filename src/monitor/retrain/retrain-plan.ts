import { describeRule } from '../../registry/gate/gate-policy.js';
import { formatRef } from '../../registry/model-ref.js';
import type { Workspace } from '../../workspace/workspace.js';
import { pendingDecisions } from '../feedback/feedback-source.js';
import type { RetrainInputs } from './retrain-inputs.js';
import type { RetrainPlan } from './retrain-report.js';
import { reusableTraining } from './train-candidate.js';

/**
 * What a retrain would start from, read without changing anything (`--dry-run`). Whether
 * training would be reused is known only when no decision would change the data.
 */
export async function planRetrain(ws: Workspace, inputs: RetrainInputs, tune: boolean): Promise<RetrainPlan> {
  const decisions = (await pendingDecisions(ws, inputs.model)).usable.length;
  const reuses = decisions
    ? null
    : ((await reusableTraining(ws, inputs, inputs.base.id, tune))?.runId ?? null);
  const policy = ws.config.gate;
  return {
    dataset: {
      dataset: inputs.dataset,
      base: inputs.base.id,
      referenceVersion: inputs.reference.datasetVersion,
      decisions,
    },
    train: { configFrom: inputs.configFrom, tune, reuses },
    gate: {
      against: inputs.champion ? formatRef(inputs.model, inputs.champion.version) : null,
      rules: policy.rules.map(describeRule),
    },
  };
}

import path from 'node:path';
import { latestCheckpoint } from '../../engine/checkpoint.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { getRun, type Run } from '../../track/run-store.js';
import { reconcileStaleRuns } from '../../track/stale-runs.js';
import type { TrainConfig } from '../../train/config/train-config.js';
import { resumeTraining, trainModel, type TrainEvent } from '../../train/train-run.js';
import { tuneModel } from '../../train/tune-run.js';
import type { TrialResult } from '../../train/tune/study.js';
import type { Workspace } from '../../workspace/workspace.js';
import { contentHash } from '../../util/canonical-json.js';
import { runConfigKey, trainingPlan, type RetrainInputs } from './retrain-inputs.js';
import { findFinishedStep } from './step-store.js';

/** Training runs on a dataset version whose recorded config has this content key, newest first. */
async function runsWithKey(ws: Workspace, data: string, key: string, status: Run['status']): Promise<Run[]> {
  await reconcileStaleRuns(ws.db);
  const rows = await ws.db
    .selectFrom('runs')
    .select('id')
    .where('dataset_version', '=', data)
    .where('kind', 'in', ['train', 'trial'])
    .where('status', '=', status)
    .orderBy('id', 'desc')
    .execute();
  const runs = await Promise.all(rows.map((r) => getRun(ws.db, r.id)));
  return runs.filter((r) => runConfigKey(r.config) === key);
}

/** A finished run trained on exactly these items with exactly these settings, by anyone. */
async function finishedRunWithKey(ws: Workspace, data: string, key: string): Promise<Run | undefined> {
  return (await runsWithKey(ws, data, key, 'finished'))[0];
}

/**
 * The train step's content key: the run config's hash, with the search's settings when tuning.
 * The plan is what a new run would be given.
 */
export function trainingKey(
  ws: Workspace,
  inputs: RetrainInputs,
  data: string,
  tune: boolean,
): { plan: ReturnType<typeof trainingPlan>; key: string } {
  const plan = trainingPlan(inputs, data);
  return { plan, key: tune ? contentHash({ run: plan.key, tune: ws.config.tune }) : plan.key };
}

/**
 * A finished run the train step can take instead of training: one with the same key; with tune,
 * also the reference's own run when it was trained on these very items (a search around it has
 * nothing new to learn from, as the same run would be reused without tune).
 */
export async function reusableTraining(
  ws: Workspace,
  inputs: RetrainInputs,
  data: string,
  tune: boolean,
): Promise<{ runId: string; why: string } | undefined> {
  const { plan, key } = trainingKey(ws, inputs, data, tune);
  const same = (runId: string) => ({
    runId,
    why: `run ${runId} already trained these items with these settings`,
  });
  if (!tune) {
    const run = await finishedRunWithKey(ws, data, plan.key);
    return run ? same(run.id) : undefined;
  }
  const searched = await findFinishedStep<{ trainRunId: string }>(ws.db, 'train', key);
  if (searched) return same(searched.outcome.trainRunId);
  const { reference } = inputs;
  if (reference.datasetVersion === data && reference.runId)
    return {
      runId: reference.runId,
      why: `${reference.ref} (run ${reference.runId}) was trained on these very items: nothing new to search with`,
    };
  return undefined;
}

/** A killed run with these inputs (a crashed retrain's) that left a checkpoint to continue from. */
async function resumableRunWithKey(ws: Workspace, data: string, key: string): Promise<Run | undefined> {
  for (const run of await runsWithKey(ws, data, key, 'killed')) {
    const found = await latestCheckpoint(path.join(ws.stateDir, 'runs', run.id, 'checkpoints')).catch(
      () => undefined,
    );
    if (found) return run;
  }
  return undefined;
}

export interface TrainedCandidate {
  runId: string;
  resumed: boolean;
  studyId?: string;
  summary: Record<string, number>;
}

/**
 * Trains the candidate: continues a killed run with the same inputs from its last checkpoint
 * (what a crashed retrain left), else starts a run; with `tune`, runs the workspace's search
 * (tune: in loupe.yaml) around the configuration and takes its best trial.
 */
export async function trainCandidate(
  ws: Workspace,
  o: {
    config: TrainConfig;
    key: string;
    parentId: string;
    name: string;
    tune: boolean;
    signal?: AbortSignal;
    onEvent?: (e: TrainEvent) => void;
    onTrial?: (t: TrialResult & { runId?: string }) => void;
  },
): Promise<TrainedCandidate> {
  const data = o.config.data!;
  if (o.tune) {
    const outcome = await tuneModel(ws, {
      config: o.config,
      tune: ws.config.tune,
      name: o.name,
      ...(o.onTrial ? { onTrial: o.onTrial } : {}),
      ...(o.onEvent
        ? { onPrepare: (stage, done, total) => o.onEvent!({ type: 'prepare', stage, done, total }) }
        : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    if (!outcome.bestRunId)
      throw new LoupeError(
        o.signal?.aborted ? 'INTERRUPTED' : 'INTERNAL',
        `the search (study ${outcome.studyId}) finished no trial, so there is no candidate`,
      );
    const best = await getRun(ws.db, outcome.bestRunId);
    return { runId: best.id, resumed: false, studyId: outcome.studyId, summary: best.summary ?? {} };
  }
  const resumable = await resumableRunWithKey(ws, data, o.key);
  const options = { ...(o.onEvent ? { onEvent: o.onEvent } : {}), ...(o.signal ? { signal: o.signal } : {}) };
  const outcome = resumable
    ? await resumeTraining(ws, resumable.id, options)
    : await trainModel(ws, { config: o.config, name: o.name, parentId: o.parentId, ...options });
  return { runId: outcome.runId, resumed: resumable !== undefined, summary: outcome.summary };
}

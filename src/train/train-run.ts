import path from 'node:path';
import type { Workspace } from '../workspace/workspace.js';
import {
  latestCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
  type CheckpointState,
} from '../engine/checkpoint.js';
import { writeOnnxFile } from '../engine/onnx/export-onnx.js';
import { loadWeights, saveWeights } from '../engine/weights-file.js';
import { classificationMetrics } from '../eval/classification-metrics.js';
import { LoupeError } from '../errors/loupe-error.js';
import {
  readVersionItems,
  resolveVersion,
  listVersions,
  type VersionRow,
} from '../data/versions/version-store.js';
import { writeRunMetadata } from '../track/metadata.js';
import { resumeRun, startRun, getRun, type RunHandle, type RunKind } from '../track/run-store.js';
import { trainConfigSchema, type TrainConfig, type TrainMode } from './config/train-config.js';
import { resolveTrainSettings, type TrainSettings } from './config/mode-defaults.js';
import { trainingItems, type TrainingItems } from './data/training-items.js';
import { assignFolds, type FoldScheme } from '../data/splits/assign-folds.js';
import { evaluate, fit, type EpochResult, type FitProgress } from './fit.js';
import { buildPlan } from './modes/build-plan.js';
import { inverseFrequencyWeights, type TrainingPlan } from './modes/training-plan.js';
import { writeCurves } from './training-curves.js';
import { heldOutProbabilities, writeOutOfFold } from './out-of-fold.js';
import type { ManifestItem } from '../data/versions/manifest.js';

export type TrainEvent =
  | {
      type: 'start';
      runId: string;
      mode: TrainMode;
      classes: string[];
      counts: { train: number; val: number; test: number };
      parameters: number;
      epochs: number;
      resumedAt?: number;
    }
  | { type: 'prepare'; stage: string; done: number; total: number }
  | { type: 'phase'; name: string; epochs: number }
  | { type: 'progress'; phase: string; progress: FitProgress }
  | { type: 'epoch'; phase: string; epoch: number; epochs: number; result: EpochResult; best: boolean }
  | { type: 'early-stop'; epoch: number; bestEpoch: number };

export interface TrainRunOptions {
  /** The train section of loupe.yaml, with any command-line overrides applied. */
  config: TrainConfig;
  name?: string;
  kind?: RunKind;
  parentId?: string;
  studyId?: string;
  /** Cross-validation: the items' folds under this scheme; the fold validates, the others train. */
  cv?: { scheme: FoldScheme; fold: number };
  onEvent?: (e: TrainEvent) => void;
  /** Tuning: sees each epoch's validation macro-F1; 'prune' ends the run as pruned. */
  onEpochValue?: (epoch: number, value: number) => 'continue' | 'prune' | Promise<'continue' | 'prune'>;
  signal?: AbortSignal;
}

export interface TrainOutcome {
  runId: string;
  status: 'finished' | 'pruned';
  summary: Record<string, number>;
  history: EpochRecord[];
}

/** One epoch as the run records it, numbered across phases. */
export interface EpochRecord extends EpochResult {
  phase: string;
  globalEpoch: number;
}

/** What the trainer keeps in each checkpoint beside the weights. */
interface TrainerState extends CheckpointState {
  phase: number;
  phaseEpoch: number;
  history: EpochRecord[];
  best: number;
  bestEpoch: number;
  sinceBest: number;
  stopped: boolean;
}

class Pruned extends Error {}

/** The version a run trains on: the one named, or the latest of the workspace's only dataset. */
export async function trainingVersion(ws: Workspace, ref: string | undefined): Promise<VersionRow> {
  if (ref) return resolveVersion(ws.db, ref);
  const datasets = [...new Set((await listVersions(ws.db)).map((v) => v.dataset))];
  if (datasets.length === 1) return resolveVersion(ws.db, datasets[0]!);
  throw new LoupeError(
    'INVALID_ARGUMENT',
    datasets.length
      ? `the workspace has several datasets (${datasets.join(', ')}); name one with --data or train.data`
      : 'the workspace has no dataset yet; `loupe ingest` one first',
  );
}

/** A version's items for one run: as split at ingest, or re-folded for cross-validation. */
async function itemsOf(
  ws: Workspace,
  version: VersionRow,
  seed: number,
  cv: TrainRunOptions['cv'],
): Promise<TrainingItems> {
  const all = await readVersionItems(ws, version);
  if (!cv) return trainingItems(all);
  return trainingItems(assignFolds(all, cv.scheme, seed), { fold: cv.fold });
}

/** Starts a tracked training run and carries it through to its artifacts. */
export async function trainModel(ws: Workspace, o: TrainRunOptions): Promise<TrainOutcome> {
  const version = await trainingVersion(ws, o.config.data);
  const items = await itemsOf(ws, version, o.config.seed, o.cv);
  const mode: TrainMode =
    o.config.mode === 'auto' ? (items.kind === 'audio' ? 'audio' : 'probe') : o.config.mode;
  const settings = resolveTrainSettings(o.config, mode);
  const backbone =
    mode === 'probe' ? settings.probe.backbone : mode === 'finetune' ? settings.finetune.backbone : undefined;
  const run = await startRun(ws, {
    mode,
    config: { ...settings, data: version.id, ...(o.cv ? { cv: o.cv } : {}) },
    datasetVersion: version.id,
    seed: settings.seed,
    kind: o.kind ?? 'train',
    ...(o.name ? { name: o.name } : {}),
    ...(backbone ? { backbone } : {}),
    ...(o.parentId ? { parentId: o.parentId } : {}),
    ...(o.studyId ? { studyId: o.studyId } : {}),
  });
  return execute(ws, run, settings, items, o);
}

/** Continues a killed or failed run from its last checkpoint (`loupe train --resume RUN`). */
export async function resumeTraining(
  ws: Workspace,
  runRef: string,
  o: Omit<TrainRunOptions, 'config' | 'cv' | 'kind' | 'parentId' | 'studyId' | 'name'> = {},
): Promise<TrainOutcome> {
  const before = await getRun(ws.db, runRef);
  const { cv, mode, ...stored } = before.config as Record<string, unknown>;
  const config = trainConfigSchema.parse({ ...stored, mode });
  const settings = resolveTrainSettings(config, mode as TrainMode);
  const version = await resolveVersion(ws.db, before.dataset_version);
  const items = await itemsOf(ws, version, config.seed, cv as TrainRunOptions['cv']);
  const run = await resumeRun(ws, before.id);
  return execute(ws, run, settings, items, { ...o, config });
}

async function execute(
  ws: Workspace,
  run: RunHandle,
  settings: TrainSettings,
  items: TrainingItems,
  o: TrainRunOptions,
): Promise<TrainOutcome> {
  let plan: TrainingPlan | undefined;
  let state: TrainerState | undefined;
  try {
    plan = await buildPlan(settings, items, {
      db: ws.db,
      blobs: ws.blobs,
      onPrepare: (stage, done, total) => o.onEvent?.({ type: 'prepare', stage, done, total }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const checkpoints = path.join(run.dir, 'checkpoints');
    const found = await latestCheckpoint(checkpoints);
    const totalEpochs = plan.phases.reduce((a, p) => a + p.epochs, 0);
    if (found) {
      const saved = found.state as TrainerState;
      const phase = plan.phases[saved.phase]!;
      await phase.prepare?.(plan.model);
      await plan.model.configureOptimizer(optimizerFor(settings, phase.lr));
      state = (await restoreCheckpoint(found.dir, plan.model)) as TrainerState;
    }
    state ??= {
      epoch: 0,
      phase: 0,
      phaseEpoch: 0,
      history: [],
      best: -Infinity,
      bestEpoch: 0,
      sinceBest: 0,
      stopped: false,
    };
    o.onEvent?.({
      type: 'start',
      runId: run.id,
      mode: settings.mode,
      classes: plan.classes,
      counts: { train: plan.train.count, val: plan.val?.count ?? 0, test: plan.test?.count ?? 0 },
      parameters: plan.model.spec.parameterCount,
      epochs: totalEpochs,
      ...(found ? { resumedAt: state.epoch } : {}),
    });
    await trainPhases(run, plan, settings, state, o);
    return await finishRun(run, plan, settings, state, 'finished', o.cv ? items.val : undefined);
  } catch (e) {
    if (e instanceof Pruned && plan && state) return await finishRun(run, plan, settings, state, 'pruned');
    await run.fail(e);
    throw e;
  } finally {
    await plan?.dispose();
    await plan?.model.dispose();
  }
}

function optimizerFor(settings: TrainSettings, lr: number) {
  const { type, weightDecay, momentum, nesterov } = settings.optimizer;
  return { type, lr, weightDecay, momentum, nesterov };
}

async function trainPhases(
  run: RunHandle,
  plan: TrainingPlan,
  settings: TrainSettings,
  state: TrainerState,
  o: TrainRunOptions,
): Promise<void> {
  const { model } = plan;
  const bestFile = path.join(run.dir, 'best.safetensors');
  const patience = settings.earlyStopping.patience;
  const classWeights =
    settings.imbalance === 'weights'
      ? inverseFrequencyWeights(plan.train.labels, plan.classes.length)
      : undefined;
  let offset = plan.phases.slice(0, state.phase).reduce((a, p) => a + p.epochs, 0);
  const totalEpochs = plan.phases.reduce((a, p) => a + p.epochs, 0);
  for (let index = state.phase; index < plan.phases.length && !state.stopped; index++) {
    const phase = plan.phases[index]!;
    const resuming = index === state.phase && state.phaseEpoch > 0;
    const startEpoch = resuming ? state.phaseEpoch : 0;
    if (startEpoch < phase.epochs) {
      if (!resuming) await phase.prepare?.(model);
      o.onEvent?.({ type: 'phase', name: phase.name, epochs: phase.epochs });
      const phaseOffset = offset;
      await fit(model, plan.train, {
        epochs: phase.epochs,
        startEpoch,
        keepOptimizer: resuming,
        batchSize: settings.batchSize,
        optimizer: optimizerFor(settings, phase.lr),
        schedule: {
          schedule: settings.schedule,
          warmupSteps: Math.round(
            settings.schedule.warmupEpochs * Math.ceil(plan.train.count / settings.batchSize),
          ),
        },
        labelSmoothing: settings.labelSmoothing,
        clipGradNorm: settings.clipGradNorm || undefined,
        seed: settings.seed + index,
        ...(classWeights ? { classWeights } : {}),
        sampling: settings.imbalance === 'sampler' ? 'balanced' : 'shuffle',
        ...(plan.augment ? { augment: plan.augment } : {}),
        ...(plan.val ? { validation: plan.val } : {}),
        trainMetricsSample: settings.trainMetricsSample,
        signal: o.signal,
        onProgress: (progress) => {
          o.onEvent?.({ type: 'progress', phase: phase.name, progress });
          void run.heartbeat();
        },
        onEpoch: async (result) => {
          const globalEpoch = phaseOffset + result.epoch;
          const record: EpochRecord = { ...result, phase: phase.name, globalEpoch };
          state.history.push(record);
          await run.logMetrics(globalEpoch, epochMetrics(result));
          // Without validation data, the last epoch is the model.
          const score = result.val ? result.val.macroF1 : globalEpoch;
          const improved = score > state.best + settings.earlyStopping.minDelta;
          if (improved) {
            state.best = score;
            state.bestEpoch = globalEpoch;
            state.sinceBest = 0;
            await saveWeights(model, bestFile);
          } else state.sinceBest++;
          state.epoch = globalEpoch;
          state.phase = index;
          state.phaseEpoch = result.epoch;
          state.stopped = Boolean(result.val && patience > 0 && state.sinceBest >= patience);
          o.onEvent?.({
            type: 'epoch',
            phase: phase.name,
            epoch: globalEpoch,
            epochs: totalEpochs,
            result,
            best: improved,
          });
          const verdict = result.val ? await o.onEpochValue?.(globalEpoch, result.val.macroF1) : undefined;
          if (result.epoch === phase.epochs && index + 1 < plan.phases.length) {
            // The next phase starts afresh: a resume from here begins it rather than finishing this one.
            state.phase = index + 1;
            state.phaseEpoch = 0;
          }
          await saveCheckpoint(path.join(run.dir, 'checkpoints'), model, state, {
            keep: settings.keepCheckpoints,
          });
          if (verdict === 'prune') throw new Pruned();
          if (state.stopped) {
            o.onEvent?.({ type: 'early-stop', epoch: globalEpoch, bestEpoch: state.bestEpoch });
            return 'stop';
          }
          return undefined;
        },
      });
    }
    offset += phase.epochs;
  }
}

function epochMetrics(r: EpochResult): Record<string, number> {
  return {
    'train.loss': r.trainLoss,
    ...(r.train ? { 'train.accuracy': r.train.accuracy, 'train.macro_f1': r.train.macroF1 } : {}),
    ...(r.val
      ? { 'val.loss': r.val.loss, 'val.accuracy': r.val.accuracy, 'val.macro_f1': r.val.macroF1 }
      : {}),
    lr: r.lr,
    images_per_s: r.imagesPerSecond,
    epoch_s: r.seconds,
  };
}

/** The best epoch's weights, evaluated on test, written out as weights, ONNX, curves and metadata. */
async function finishRun(
  run: RunHandle,
  plan: TrainingPlan,
  settings: TrainSettings,
  state: TrainerState,
  status: 'finished' | 'pruned',
  /** A cross-validation fold's held-out items, whose probabilities the fold records. */
  heldOut?: readonly ManifestItem[],
): Promise<TrainOutcome> {
  const { model } = plan;
  const bestFile = path.join(run.dir, 'best.safetensors');
  if (state.bestEpoch && state.bestEpoch !== state.epoch) await loadWeights(model, bestFile);
  const best = state.history.find((h) => h.globalEpoch === state.bestEpoch);
  const summary: Record<string, number> = {
    epochs: state.epoch,
    best_epoch: state.bestEpoch,
    ...(best?.val
      ? { 'val.accuracy': best.val.accuracy, 'val.macro_f1': best.val.macroF1, 'val.loss': best.val.loss }
      : {}),
  };
  if (status === 'finished' && plan.test) {
    const e = await evaluate(model, plan.test);
    const m = classificationMetrics(e.predictions, plan.test.labels, plan.classes.length);
    Object.assign(summary, { 'test.accuracy': m.accuracy, 'test.macro_f1': m.macroF1, 'test.loss': e.loss });
  }
  if (heldOut?.length && plan.val) {
    const probs = await heldOutProbabilities(model, plan.val);
    await writeOutOfFold(run, { classes: plan.classes, ids: heldOut.map((i) => i.id), probs: [...probs] });
  }
  const metadata = {
    classes: plan.classes,
    inputs: plan.inputs,
    mode: settings.mode,
    ...(plan.backbone ? { backbone: plan.backbone } : {}),
  };
  const strings = {
    classes: JSON.stringify(plan.classes),
    inputs: JSON.stringify(plan.inputs),
  };
  const weightsFile = path.join(run.dir, 'model.safetensors');
  await saveWeights(model, weightsFile, strings);
  await run.addArtifact('model.safetensors', weightsFile, 'weights');
  const onnxFile = path.join(run.dir, 'model.onnx');
  await writeOnnxFile(onnxFile, model.spec, await model.getWeights(), { metadata: strings, taps: [] });
  await run.addArtifact('model.onnx', onnxFile, 'onnx');
  if (state.history.length) {
    const curves = path.join(run.dir, 'curves.png');
    await writeCurves(state.history, curves);
    await run.addArtifact('curves.png', curves, 'plot');
  }
  const rates = state.history.map((h) => h.imagesPerSecond);
  await run.finish(summary, {
    status,
    ...(rates.length ? { imagesPerSecond: rates.reduce((a, b) => a + b, 0) / rates.length } : {}),
  });
  await writeRunMetadata(run, metadata);
  return { runId: run.id, status, summary, history: state.history };
}

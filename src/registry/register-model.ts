import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { readVersionItems, resolveVersion, type VersionRow } from '../data/versions/version-store.js';
import type { Evaluation } from '../eval/evaluate-classifier.js';
import { evaluateModel } from '../eval/evaluate-model.js';
import { metricsSummary, writeEvalReport } from '../eval/report/write-eval-report.js';
import type { Workspace } from '../workspace/workspace.js';
import { MODEL_FILE, storeFiles } from './model-files.js';
import { checkModelName } from './model-ref.js';
import { importOnnx } from './import-onnx.js';
import { fitTemperatureOn, packageRun } from './package-run.js';
import { addVersion, type ModelVersion } from './registry-store.js';

/** Per-item predictions of the version's own evaluation, which gates compare item by item. */
export const PREDICTIONS_FILE = 'eval/predictions.json';
export const EVAL_REPORT_FILE = 'eval/eval_report.json';

export interface RegisterProgress {
  (stage: string, done: number, total: number): void;
}

export interface Registered {
  version: ModelVersion;
  evaluation?: Evaluation;
  /** The evaluation report's folder (report.html, plots, metrics.json). */
  reportDir?: string;
}

export function modelDir(ws: Workspace, model: string, version: number): string {
  return path.join(ws.stateDir, 'models', model, String(version));
}

/** Evaluates into a scratch folder and returns the report files as version files under eval/. */
async function evaluateForRegistry(
  ws: Workspace,
  onnx: Uint8Array,
  data: VersionRow,
  o: {
    model: string;
    split?: string;
    calibratedOn?: { split: string; n: number };
    scratch: string;
    onProgress?: RegisterProgress;
    signal?: AbortSignal;
  },
): Promise<{ evaluation: Evaluation; files: Record<string, Uint8Array> }> {
  const evaluation = await evaluateModel(ws, onnx, data, {
    model: o.model,
    ...(o.split ? { split: o.split } : {}),
    ...(o.calibratedOn ? { calibratedOn: o.calibratedOn } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const { files } = await writeEvalReport(evaluation.report, o.scratch);
  const out: Record<string, Uint8Array> = {
    [PREDICTIONS_FILE]: Buffer.from(JSON.stringify(evaluation.predictions)),
  };
  for (const [name, file] of Object.entries(files)) out[`eval/${name}`] = await readFile(file);
  return { evaluation, files: out };
}

/** The headline figures a version row keeps (and `models ls` shows) from its evaluation's summary. */
function headline(evaluation: Evaluation): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [key, value] of Object.entries(metricsSummary(evaluation.report)))
    if (typeof value === 'number') flat[key] = value;
  return flat;
}

async function register(
  ws: Workspace,
  o: {
    model: string;
    onnx: Uint8Array;
    data?: VersionRow;
    split?: string;
    calibratedOn?: { split: string; n: number };
    extras: Record<string, Uint8Array>;
    version: Omit<Parameters<typeof addVersion>[1], 'model' | 'files' | 'metrics'>;
    onProgress?: RegisterProgress;
    signal?: AbortSignal;
  },
): Promise<Registered> {
  const scratch = path.join(ws.stateDir, 'tmp', `register-${process.pid}-${Date.now()}`);
  try {
    const evaluated = o.data
      ? await evaluateForRegistry(ws, o.onnx, o.data, { ...o, model: o.model, scratch })
      : undefined;
    const files = await storeFiles(ws.blobs, {
      [MODEL_FILE]: o.onnx,
      ...o.extras,
      ...(evaluated?.files ?? {}),
    });
    const version = await addVersion(ws.db, {
      ...o.version,
      model: o.model,
      files,
      metrics: evaluated ? headline(evaluated.evaluation) : {},
    });
    let reportDir: string | undefined;
    if (evaluated) {
      reportDir = path.join(modelDir(ws, o.model, version.version), 'eval');
      await mkdir(path.dirname(reportDir), { recursive: true });
      await rm(reportDir, { recursive: true, force: true });
      await rename(scratch, reportDir);
    }
    return {
      version,
      ...(evaluated ? { evaluation: evaluated.evaluation } : {}),
      ...(reportDir ? { reportDir } : {}),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Registers a finished run as the next version of a model (by default named after its
 * dataset): packaged into one calibrated ONNX file, evaluated on its dataset version's test
 * split, and stored with its weights, evaluation and lineage.
 */
export async function registerRun(
  ws: Workspace,
  runRef: string,
  o: {
    name?: string;
    split?: string;
    actor?: string;
    reason?: string;
    onProgress?: RegisterProgress;
    signal?: AbortSignal;
  } = {},
): Promise<Registered> {
  // A bad name is refused before minutes of packaging and evaluation, not after.
  if (o.name !== undefined) checkModelName(o.name);
  const pkg = await packageRun(ws, runRef, o);
  const data = await resolveVersion(ws.db, pkg.run.dataset_version);
  return register(ws, {
    model: checkModelName(o.name ?? data.dataset),
    onnx: pkg.onnx,
    data,
    ...(o.split ? { split: o.split } : {}),
    ...(pkg.calibratedOn ? { calibratedOn: pkg.calibratedOn } : {}),
    extras: pkg.extras,
    version: {
      source: 'run',
      runId: pkg.run.id,
      datasetVersion: data.id,
      classes: pkg.classes,
      inputs: pkg.inputs,
      temperature: pkg.temperature,
      lineage: pkg.lineage,
      ...(o.actor ? { actor: o.actor } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
    },
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

export interface OnnxImport {
  /** The model's name in the registry. */
  name: string;
  /** Class names in the order of the model's score output. */
  labels: string[];
  /** A dataset version to calibrate on (its val split) and evaluate on (its test split). */
  data?: string;
  split?: string;
  /** What the score output holds; models ending in a softmax give probabilities. */
  scores?: 'logits' | 'probs';
  /** The score output's name, when the model has several outputs. */
  output?: string;
  /** How to feed it, when neither its metadata nor a preprocessor_config.json beside it says. */
  preprocessing?: unknown;
  actor?: string;
  reason?: string;
  onProgress?: RegisterProgress;
  signal?: AbortSignal;
}

/**
 * Registers an image classifier trained elsewhere: packaged like Loupe's own (calibrated probs,
 * the embedding when it ends in a linear layer, labels and preprocessing in its metadata), so
 * evaluation, gates, promotion and serving treat it like any other version.
 */
export async function registerOnnx(ws: Workspace, file: string, o: OnnxImport): Promise<Registered> {
  const model = checkModelName(o.name);
  const imported = await importOnnx(file, o);
  const data = o.data ? await resolveVersion(ws.db, o.data) : undefined;
  const val = data ? (await readVersionItems(ws, data)).filter((i) => i.split === 'val') : [];
  const temperature = await fitTemperatureOn(ws, imported.package(1), val, {
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (done, total) => o.onProgress?.('calibrate', done, total),
  });
  const lineage = { importedFrom: path.resolve(file), sha256: imported.sha256, scores: o.scores ?? 'logits' };
  return register(ws, {
    model,
    onnx: imported.package(temperature, lineage),
    ...(data ? { data } : {}),
    ...(o.split ? { split: o.split } : {}),
    ...(val.length ? { calibratedOn: { split: 'val', n: val.length } } : {}),
    extras: { 'labels.json': Buffer.from(`${JSON.stringify(o.labels)}\n`) },
    version: {
      source: 'onnx',
      ...(data ? { datasetVersion: data.id } : {}),
      classes: o.labels,
      inputs: imported.inputs,
      temperature,
      lineage,
      ...(o.actor ? { actor: o.actor } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
    },
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

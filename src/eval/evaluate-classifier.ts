import type { ManifestItem } from '../data/versions/manifest.js';
import type { Classifier } from '../inference/classifier.js';
import { itemInputs } from '../inference/item-inputs.js';
import { predictItems } from '../inference/predict-items.js';
import { labelIndices } from '../inference/label-indices.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CalibrationReport, EvalReport, ItemFinding, LatencyReport } from './evaluation.js';
import { classificationReport } from './metrics/classification-report.js';
import { hardestMistakes } from './metrics/hardest-mistakes.js';
import { findLabelIssues } from './metrics/label-issues.js';
import { negativeLogLikelihood } from './metrics/proper-scores.js';
import { reliability } from './metrics/reliability.js';
import { predictedClasses } from './metrics/row-argmax.js';
import { softmaxWithTemperature } from './metrics/temperature-scaling.js';
import { itemThumbnail } from './item-thumbnails.js';

const FINDINGS = 24;
const LATENCY_SAMPLES = 50;
const LATENCY_WARMUP = 3;
const BINS = 15;

export interface EvaluateOptions {
  /** What is evaluated, for the report: name@version or a run id. */
  model: string;
  datasetVersion: string;
  split: string;
  /** The split the classifier's temperature was fitted on, when it was. */
  calibratedOn?: { split: string; n: number };
  /** Measure batch-1 latency (skip it where timings would mean nothing, as in tests of other things). */
  latency?: boolean;
  /** Out-of-fold probabilities over more of the dataset (a cross-validation run), for label issues. */
  outOfFold?: { source: string; classes: string[]; items: ManifestItem[]; probs: Float32Array };
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Per-item results kept with an evaluation, so a gate can compare two models item by item. */
export interface StoredPredictions {
  datasetVersion: string;
  split: string;
  ids: string[];
  labels: number[];
  predicted: number[];
  /** Probability of the predicted class. */
  confidence: number[];
}

export interface Evaluation {
  report: EvalReport;
  predictions: StoredPredictions;
}

/** p50/p95 by nearest rank. */
function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Batch-1 end-to-end milliseconds per item (read, decode, preprocess, infer), as one request would pay. */
async function measureLatency(
  classifier: Classifier,
  items: readonly ManifestItem[],
  blobs: BlobStore,
): Promise<LatencyReport | undefined> {
  if (!items.length) return undefined;
  const step = Math.max(1, Math.floor(items.length / LATENCY_SAMPLES));
  const sample = items.filter((_, i) => i % step === 0).slice(0, LATENCY_SAMPLES);
  const once = async (item: ManifestItem) => {
    const started = performance.now();
    await classifier.run(await itemInputs([item], classifier.inputs, blobs), 1);
    return performance.now() - started;
  };
  for (let i = 0; i < LATENCY_WARMUP; i++) await once(sample[i % sample.length]!);
  const times: number[] = [];
  for (const item of sample) times.push(await once(item));
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 0.5),
    p95: percentile(times, 0.95),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    samples: times.length,
  };
}

async function findings(
  classifier: Classifier,
  blobs: BlobStore,
  classes: readonly string[],
  items: readonly ManifestItem[],
  list: readonly { index: number; predicted: number; confidence: number; givenProbability: number }[],
): Promise<ItemFinding[]> {
  const out: ItemFinding[] = [];
  for (const f of list) {
    const item = items[f.index]!;
    const thumbnail = await itemThumbnail(item, classifier.inputs, blobs);
    out.push({
      id: item.id,
      given: item.label,
      predicted: classes[f.predicted]!,
      confidence: f.confidence,
      givenProbability: f.givenProbability,
      source: item.source,
      ...(item.start !== undefined && item.end !== undefined
        ? { span: [item.start, item.end] as [number, number] }
        : {}),
      ...(thumbnail ? { thumbnail } : {}),
    });
  }
  return out;
}

/** Likely label errors by confident learning, as findings; `classes` name the probabilities' columns. */
async function labelIssueFindings(
  classifier: Classifier,
  blobs: BlobStore,
  classes: readonly string[],
  items: readonly ManifestItem[],
  probs: Float32Array,
): Promise<ItemFinding[]> {
  const k = classes.length;
  const issues = findLabelIssues(probs, labelIndices(items, classes), k, { maxIssues: FINDINGS });
  return findings(
    classifier,
    blobs,
    classes,
    items,
    issues.map((i) => ({
      index: i.index,
      predicted: i.suggested,
      confidence: probs[i.index * k + i.suggested]!,
      givenProbability: i.selfConfidence,
    })),
  );
}

/**
 * Evaluates a packaged classifier on dataset items: every metric of the report on its
 * calibrated probabilities, calibration before and after, latency, the most confident
 * mistakes and likely label errors (confident learning on the split's out-of-sample
 * probabilities, or on out-of-fold ones over the dataset when a cross-validation gave them).
 */
export async function evaluateClassifier(
  classifier: Classifier,
  items: readonly ManifestItem[],
  blobs: BlobStore,
  o: EvaluateOptions,
): Promise<Evaluation> {
  const classes = classifier.classes;
  const k = classes.length;
  const labels = labelIndices(items, classes);
  const { logits, probs } = await predictItems(classifier, items, blobs, {
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const metrics = classificationReport(probs, labels, classes, { bins: BINS });

  let calibration: CalibrationReport | undefined;
  if (o.calibratedOn) {
    const raw = softmaxWithTemperature(logits, k, 1);
    calibration = {
      temperature: classifier.temperature,
      fittedOn: o.calibratedOn,
      eceBefore: reliability(raw, labels, k, BINS).ece,
      nllBefore: negativeLogLikelihood(raw, labels, k),
    };
  }
  const latency = o.latency ? await measureLatency(classifier, items, blobs) : undefined;
  const mistakes = await findings(
    classifier,
    blobs,
    classes,
    items,
    hardestMistakes(probs, labels, k, FINDINGS),
  );
  const labelIssues = o.outOfFold
    ? {
        source: o.outOfFold.source,
        items: await labelIssueFindings(
          classifier,
          blobs,
          o.outOfFold.classes,
          o.outOfFold.items,
          o.outOfFold.probs,
        ),
      }
    : {
        source: `out-of-sample predictions on the ${o.split} split`,
        items: await labelIssueFindings(classifier, blobs, classes, items, probs),
      };

  const predicted = predictedClasses(probs, k, items.length);
  return {
    report: {
      model: o.model,
      datasetVersion: o.datasetVersion,
      split: o.split,
      createdAt: new Date().toISOString(),
      metrics,
      ...(calibration ? { calibration } : {}),
      ...(latency ? { latency } : {}),
      hardestMistakes: mistakes,
      labelIssues,
    },
    predictions: {
      datasetVersion: o.datasetVersion,
      split: o.split,
      ids: items.map((i) => i.id),
      labels: [...labels],
      predicted: [...predicted],
      confidence: Array.from(predicted, (c, i) => probs[i * k + c]!),
    },
  };
}

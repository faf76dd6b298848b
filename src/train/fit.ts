import { gather, sampleSize, type ImageSet } from '../data/image-set.js';
import { LoupeError } from '../errors/loupe-error.js';
import type { Model, OptimizerOptions } from '../engine/model.js';
import { learningRateAt, type ScheduleOptions } from './lr-schedule.js';
import { seededRandom, shuffledIndices } from './random.js';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerOptions;
  schedule?: ScheduleOptions;
  labelSmoothing?: number;
  clipGradNorm?: number;
  /** Seeds the shuffling; the model's own seed fixes its initial weights and dropout. */
  seed?: number;
  /** Per-class loss weights (for imbalanced data). */
  classWeights?: Float32Array;
  /** Evaluated after every epoch. */
  validation?: ImageSet;
  onProgress?: (p: FitProgress) => void;
  onEpoch?: (e: EpochResult) => void;
  /** Stops after the batch in flight; fit then rejects with the abort reason. */
  signal?: AbortSignal;
}

export interface FitProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean training loss over the epoch so far. */
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  valAccuracy?: number;
  seconds: number;
  imagesPerSecond: number;
  lr: number;
}

/**
 * Trains a model on an in-memory set. The next batch is gathered while the engine works on the
 * current one (engine calls are asynchronous), so the data pipeline stays off the critical path.
 */
export async function fit(model: Model, train: ImageSet, o: FitOptions): Promise<EpochResult[]> {
  if (train.shape.join() !== model.inputShape.join()) {
    throw new LoupeError(
      'SHAPE_MISMATCH',
      `the data is [${train.shape.join(', ')}] per image but the model takes [${model.inputShape.join(', ')}]`,
    );
  }
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new LoupeError('INVALID_ARGUMENT', `epochs must be ≥ 1, got ${o.epochs}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new LoupeError('INVALID_ARGUMENT', `batch size must be ≥ 1, got ${o.batchSize}`);
  if (train.count < 1) throw new LoupeError('INVALID_ARGUMENT', 'the training set is empty');

  await model.configureOptimizer(o.optimizer);
  const random = seededRandom(o.seed ?? 0);
  const batches = Math.ceil(train.count / o.batchSize);
  const totalSteps = batches * o.epochs;
  const history: EpochResult[] = [];

  const makeBatch = (order: Uint32Array, b: number) => {
    const batch = gather(
      train,
      order.subarray(b * o.batchSize, Math.min(train.count, (b + 1) * o.batchSize)),
    );
    const weights = o.classWeights
      ? Float32Array.from(batch.labels, (l) => o.classWeights![l] ?? 1)
      : undefined;
    return { x: batch.x, labels: batch.labels, size: batch.labels.length, weights };
  };

  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const started = performance.now();
    const order = shuffledIndices(train.count, random);
    let lossSum = 0;
    let seen = 0;
    let lr = o.optimizer.lr;
    let next = makeBatch(order, 0);
    for (let b = 0; b < batches; b++) {
      if (o.signal?.aborted)
        throw o.signal.reason ?? new LoupeError('INTERRUPTED', 'training was interrupted');
      const step = (epoch - 1) * batches + b;
      const stepLr = learningRateAt(o.optimizer.lr, step, batches, totalSteps, o.schedule);
      // Calls on a model run in the order they are made, so the new rate applies to this step.
      const lrSet = stepLr !== lr || step === 0 ? model.setLearningRate(stepLr) : undefined;
      lr = stepLr;
      const current = next;
      const stepDone = model.trainBatch(current, {
        labelSmoothing: o.labelSmoothing,
        clipGradNorm: o.clipGradNorm,
      });
      if (b + 1 < batches) next = makeBatch(order, b + 1);
      await lrSet;
      lossSum += (await stepDone) * current.size;
      seen += current.size;
      o.onProgress?.({
        epoch,
        epochs: o.epochs,
        batch: b + 1,
        batches,
        loss: lossSum / seen,
        lr,
        imagesPerSecond: seen / ((performance.now() - started) / 1000),
      });
    }
    const seconds = (performance.now() - started) / 1000;
    const result: EpochResult = {
      epoch,
      trainLoss: lossSum / seen,
      seconds,
      imagesPerSecond: seen / seconds,
      lr,
    };
    if (o.validation) result.valAccuracy = (await evaluate(model, o.validation)).accuracy;
    history.push(result);
    o.onEpoch?.(result);
  }
  return history;
}

export interface Evaluation {
  accuracy: number;
  /** Predicted class of every sample. */
  predictions: Int32Array;
  imagesPerSecond: number;
}

/** Computes the logits of n samples; lets one evaluation serve libtorch models and ONNX sessions. */
export type LogitsFn = (x: Float32Array, n: number) => Promise<Float32Array>;

/** Accuracy of a model (or any logits function) on a set, batched, in eval mode. */
export async function evaluate(model: Model | LogitsFn, set: ImageSet, batchSize = 256): Promise<Evaluation> {
  const logitsOf: LogitsFn =
    typeof model === 'function' ? model : async (x, n) => (await model.forward(x, n, 'logits')).data;
  const size = sampleSize(set);
  const predictions = new Int32Array(set.count);
  const started = performance.now();
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    const logits = await logitsOf(set.x.subarray(start * size, (start + n) * size), n);
    const classes = logits.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
      predictions[start + i] = best;
      if (best === set.labels[start + i]) correct++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { accuracy: set.count ? correct / set.count : 0, predictions, imagesPerSecond: set.count / seconds };
}

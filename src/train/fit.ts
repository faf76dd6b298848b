import { gather, sampleSize, subset, type ImageSet } from '../data/image-set.js';
import { argmaxRows, classificationMetrics, crossEntropy } from '../eval/classification-metrics.js';
import { LoupeError } from '../errors/loupe-error.js';
import type { Model, OptimizerOptions } from '../engine/model.js';
import { learningRateAt, type ScheduleOptions } from './lr-schedule.js';
import { seededRandom, shuffledIndices } from './random.js';
import { balancedEpochSize, balancedOrder } from './sampling.js';

/**
 * Turns a gathered batch into the one the engine sees (augmentation); must return new memory.
 * `indices` are the batch's items in the training set, for transforms that go back to a
 * richer source than the set's tensors (waveforms, cached augmented embeddings).
 */
export type BatchTransform = (
  x: Float32Array,
  shape: [number, number, number, number],
  random: () => number,
  indices: Uint32Array,
) => Float32Array;

export interface FitOptions {
  /** The last epoch to train (1-based); a resumed run trains startEpoch+1 … epochs. */
  epochs: number;
  /** Epochs already done (a resumed run); the schedule and shuffles carry on from there. */
  startEpoch?: number;
  batchSize: number;
  optimizer: OptimizerOptions;
  /** Leave the optimizer as it is (a resumed run has restored its state). */
  keepOptimizer?: boolean;
  schedule?: ScheduleOptions;
  labelSmoothing?: number;
  clipGradNorm?: number;
  /** Seeds the shuffling and augmentation; the model's own seed fixes its initial weights and dropout. */
  seed?: number;
  /** Per-class loss weights (for imbalanced data). */
  classWeights?: Float32Array;
  /** `balanced`: every epoch draws as many items of each class (with replacement for small ones). */
  sampling?: 'shuffle' | 'balanced';
  augment?: BatchTransform;
  /** Evaluated after every epoch. */
  validation?: ImageSet;
  /** Items of the training set measured (in eval mode) after each epoch for train metrics; 0: none. */
  trainMetricsSample?: number;
  onProgress?: (p: FitProgress) => void;
  /** Called after each epoch; resolving to 'stop' ends training (early stopping). */
  onEpoch?: (e: EpochResult) => void | 'stop' | Promise<void | 'stop'>;
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

export interface SetMetrics {
  loss: number;
  accuracy: number;
  macroF1: number;
}

export interface EpochResult {
  epoch: number;
  /** Mean loss of the training steps (augmented data, dropout on). */
  trainLoss: number;
  /** Eval-mode metrics on a fixed sample of the training set. */
  train?: SetMetrics;
  val?: SetMetrics;
  seconds: number;
  imagesPerSecond: number;
  lr: number;
}

/** Seeds each epoch on its own, so a resumed run shuffles and augments exactly as an uninterrupted one. */
const epochRandom = (seed: number, epoch: number) => seededRandom((seed * 1_000_003 + epoch) >>> 0);

/**
 * Trains a model on an in-memory set. The next batch is gathered (and augmented) while the
 * engine works on the current one (engine calls are asynchronous), so the data pipeline stays
 * off the critical path.
 */
export async function fit(model: Model, train: ImageSet, o: FitOptions): Promise<EpochResult[]> {
  if (train.shape.join() !== model.inputShape.join()) {
    throw new LoupeError(
      'SHAPE_MISMATCH',
      `the data is [${train.shape.join(', ')}] per image but the model takes [${model.inputShape.join(', ')}]`,
    );
  }
  const startEpoch = o.startEpoch ?? 0;
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new LoupeError('INVALID_ARGUMENT', `epochs must be ≥ 1, got ${o.epochs}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new LoupeError('INVALID_ARGUMENT', `batch size must be ≥ 1, got ${o.batchSize}`);
  if (train.count < 1) throw new LoupeError('INVALID_ARGUMENT', 'the training set is empty');

  if (!o.keepOptimizer) await model.configureOptimizer(o.optimizer);
  const seed = o.seed ?? 0;
  const epochSize = o.sampling === 'balanced' ? balancedEpochSize(train.labels) : train.count;
  const batches = Math.ceil(epochSize / o.batchSize);
  const totalSteps = batches * o.epochs;
  const history: EpochResult[] = [];
  const trainSample = sampleOf(train, o.trainMetricsSample ?? 0, seed);

  const makeBatch = (order: Uint32Array, b: number, random: () => number) => {
    const indices = order.subarray(b * o.batchSize, Math.min(order.length, (b + 1) * o.batchSize));
    const batch = gather(train, indices);
    const size = batch.labels.length;
    const x = o.augment ? o.augment(batch.x, [size, ...train.shape], random, indices) : batch.x;
    const weights = o.classWeights
      ? Float32Array.from(batch.labels, (l) => o.classWeights![l] ?? 1)
      : undefined;
    return { x, labels: batch.labels, size, weights };
  };

  for (let epoch = startEpoch + 1; epoch <= o.epochs; epoch++) {
    const started = performance.now();
    const random = epochRandom(seed, epoch);
    const order =
      o.sampling === 'balanced'
        ? balancedOrder(train.labels, train.classes.length, random)
        : shuffledIndices(train.count, random);
    let lossSum = 0;
    let seen = 0;
    let lr = NaN;
    let next = makeBatch(order, 0, random);
    for (let b = 0; b < batches; b++) {
      if (o.signal?.aborted)
        throw o.signal.reason ?? new LoupeError('INTERRUPTED', 'training was interrupted');
      const step = (epoch - 1) * batches + b;
      const stepLr = learningRateAt(o.optimizer.lr, step, batches, totalSteps, o.schedule);
      // Calls on a model run in the order they are made, so the new rate applies to this step.
      const lrSet = stepLr !== lr ? model.setLearningRate(stepLr) : undefined;
      lr = stepLr;
      const current = next;
      const stepDone = model.trainBatch(current, {
        labelSmoothing: o.labelSmoothing,
        clipGradNorm: o.clipGradNorm,
      });
      if (b + 1 < batches) next = makeBatch(order, b + 1, random);
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
    const trainSeconds = (performance.now() - started) / 1000;
    const result: EpochResult = {
      epoch,
      trainLoss: lossSum / seen,
      seconds: trainSeconds,
      imagesPerSecond: seen / trainSeconds,
      lr,
    };
    if (trainSample) result.train = setMetrics(await evaluate(model, trainSample), trainSample);
    if (o.validation) result.val = setMetrics(await evaluate(model, o.validation), o.validation);
    history.push(result);
    if ((await o.onEpoch?.(result)) === 'stop') break;
  }
  return history;
}

/** A fixed, seeded sample of a set (the whole set when it is no larger). */
function sampleOf(set: ImageSet, n: number, seed: number): ImageSet | undefined {
  if (n <= 0) return undefined;
  if (set.count <= n) return set;
  return subset(set, shuffledIndices(set.count, seededRandom(seed ^ 0x5eed)).subarray(0, n));
}

function setMetrics(e: Evaluation, set: ImageSet): SetMetrics {
  return {
    loss: e.loss,
    accuracy: e.accuracy,
    macroF1: classificationMetrics(e.predictions, set.labels, set.classes.length).macroF1,
  };
}

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy of the logits. */
  loss: number;
  /** Predicted class of every sample. */
  predictions: Int32Array;
  imagesPerSecond: number;
}

/** Computes the logits of n samples; lets one evaluation serve libtorch models and ONNX sessions. */
export type LogitsFn = (x: Float32Array, n: number) => Promise<Float32Array>;

/** Accuracy and loss of a model (or any logits function) on a set, batched, in eval mode. */
export async function evaluate(model: Model | LogitsFn, set: ImageSet, batchSize = 256): Promise<Evaluation> {
  const logitsOf: LogitsFn =
    typeof model === 'function' ? model : async (x, n) => (await model.forward(x, n, 'logits')).data;
  const size = sampleSize(set);
  const predictions = new Int32Array(set.count);
  const started = performance.now();
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    const logits = await logitsOf(set.x.subarray(start * size, (start + n) * size), n);
    const labels = set.labels.subarray(start, start + n);
    predictions.set(argmaxRows(logits, n), start);
    lossSum += crossEntropy(logits, labels) * n;
    for (let i = 0; i < n; i++) if (predictions[start + i] === labels[i]) correct++;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    accuracy: set.count ? correct / set.count : 0,
    loss: set.count ? lossSum / set.count : 0,
    predictions,
    imagesPerSecond: set.count / seconds,
  };
}

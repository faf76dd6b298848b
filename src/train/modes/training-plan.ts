import type { ImageSet } from '../../data/image-set.js';
import type { LayerSpecInput } from '../../engine/spec/schema.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { Model } from '../../engine/model.js';
import type { BatchTransform } from '../fit.js';

/** One stretch of training with its own trainable layers and learning rate. */
export interface TrainingPhase {
  name: string;
  /** Epochs in this phase. */
  epochs: number;
  lr: number;
  /** Freezes or unfreezes layers before the phase starts or resumes. */
  prepare?: (model: Model) => Promise<void>;
}

/**
 * What a training mode hands the trainer: a model to train, the data as tensors, how to
 * augment a batch, the phases, and what must be recorded for the model to be used later.
 */
export interface TrainingPlan {
  model: Model;
  classes: string[];
  train: ImageSet;
  val?: ImageSet;
  test?: ImageSet;
  augment?: BatchTransform;
  phases: TrainingPhase[];
  /** How inputs become the model's tensors (image preprocessing, audio front end, feature extractor), for metadata. */
  inputs: Record<string, unknown>;
  /** The backbone or feature extractor, when there is one. */
  backbone?: string;
  /** Releases what the plan holds besides the model (feature extractors). */
  dispose(): Promise<void>;
}

/** Per-class loss weights inverse to class frequency, normalised to mean 1 over present classes. */
export function inverseFrequencyWeights(labels: Int32Array, numClasses: number): Float32Array {
  const counts = new Float64Array(numClasses);
  for (const l of labels) counts[l]!++;
  const present = counts.filter((c) => c > 0).length;
  const weights = new Float32Array(numClasses);
  counts.forEach((c, i) => (weights[i] = c > 0 ? labels.length / (present * c) : 0));
  return weights;
}

/** A classifier on pooled features: an optional hidden layer, dropout, one score per class. */
export function headLayers(head: TrainSettings['probe']['head'], classes: number): LayerSpecInput[] {
  const layers: LayerSpecInput[] = [{ type: 'flatten', name: 'flatten' }];
  if (head.hidden > 0)
    layers.push({ type: 'linear', name: 'hidden', out: head.hidden }, { type: 'relu', name: 'hidden_relu' });
  if (head.dropout > 0) layers.push({ type: 'dropout', name: 'dropout', p: head.dropout });
  layers.push({ type: 'linear', name: 'classifier', out: classes });
  return layers;
}

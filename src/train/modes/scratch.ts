import { Model } from '../../engine/model.js';
import { vggSpec } from '../../engine/spec/families/vgg.js';
import { imagePreprocessingSchema } from '../../features/image/image-preprocessing.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import {
  channelStats,
  imageAugmentation,
  loadTrainingImages,
  standardizeInPlace,
  typicalInput,
} from './image-sets.js';
import type { TrainingPlan } from './training-plan.js';

/** Filter counts and widths times the config's width multiplier (at least one unit each). */
export const scaled = (sizes: number[], width: number) =>
  sizes.map((s) => Math.max(1, Math.round(s * width)));

/**
 * A VGG-style CNN trained from random weights on the images themselves. The inputs are
 * standardised with the training set's own channel statistics, recorded in the preprocessing
 * so prediction feeds the model the same way.
 */
export async function scratchPlan(
  items: TrainingItems,
  settings: TrainSettings,
  blobs: BlobStore,
): Promise<TrainingPlan> {
  const o = settings.scratch;
  const input =
    o.input === 'auto' ? await typicalInput(items.train.map((i) => blobs.pathOf(i.blob))) : o.input;
  const plain = imagePreprocessingSchema.parse({
    width: input.size,
    height: input.size,
    channelOrder: input.channels === 1 ? 'gray' : 'rgb',
    fit: 'cover',
    resize: { method: 'sharp', kernel: 'linear' },
  });
  const sets = await loadTrainingImages(items, blobs, plain);
  const stats = channelStats(sets.train);
  for (const set of [sets.train, sets.val, sets.test]) if (set) standardizeInPlace(set, stats);
  // Pixels are scaled to [0, 1] first, so the standardisation folds into mean/std directly.
  const rgb = (v: number[]) => [v[0]!, v[1] ?? v[0]!, v[2] ?? v[0]!] as [number, number, number];
  const preprocessing = { ...plain, mean: rgb(stats.mean), std: rgb(stats.std) };

  const spec = vggSpec({
    name: 'scratch-vgg',
    input: { channels: input.channels, height: input.size, width: input.size },
    numClasses: items.classes.length,
    filters: scaled(o.filters, o.width),
    convsPerBlock: o.convsPerBlock,
    classifier: scaled(o.classifier, o.width),
    batchnorm: o.batchnorm,
    dropout: o.dropout,
    // Beyond small inputs a flattened last block would make the classifier enormous.
    globalPool: input.size > 32,
  });
  const model = await Model.create(spec, { seed: settings.seed });
  return {
    model,
    classes: items.classes,
    ...sets,
    augment: imageAugmentation(settings, stats),
    phases: [{ name: 'train', epochs: settings.epochs, lr: settings.optimizer.lr }],
    inputs: { kind: 'image', preprocessing },
    dispose: async () => undefined,
  };
}

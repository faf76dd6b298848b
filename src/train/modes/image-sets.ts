import sharp from 'sharp';
import type { ImageSet } from '../../data/image-set.js';
import { loadImageSets } from '../../data/versions/load-image-sets.js';
import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';
import type { BlobStore } from '../../store/blob-store.js';
import { augmentBatch, scaledImageAugment, type Normalization } from '../../features/image/augment.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import type { BatchTransform } from '../fit.js';

export interface ImageSets {
  train: ImageSet;
  val?: ImageSet;
  test?: ImageSet;
}

/**
 * Decodes the run's images with the given preprocessing into one set per split. Class indices
 * follow `items.classes`, so a fold or a split missing a class still agrees with the model.
 */
export async function loadTrainingImages(
  items: TrainingItems,
  blobs: BlobStore,
  preprocessing: ImagePreprocessing,
): Promise<ImageSets> {
  const { sets } = await loadImageSets(
    [
      ...items.train.map((i) => ({ ...i, split: 'train' as const })),
      ...items.val.map((i) => ({ ...i, split: 'val' as const })),
      ...items.test,
    ],
    blobs,
    preprocessing,
    items.classes,
  );
  return {
    train: sets.train!,
    ...(sets.val ? { val: sets.val } : {}),
    ...(sets.test ? { test: sets.test } : {}),
  };
}

/** Per-channel mean and standard deviation of a set's values. */
export function channelStats(set: ImageSet): { mean: number[]; std: number[] } {
  const [c, h, w] = set.shape;
  const plane = h * w;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  for (let i = 0; i < set.count; i++)
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * plane;
      for (let p = 0; p < plane; p++) {
        const v = set.x[base + p]!;
        sum[ch]! += v;
        sq[ch]! += v * v;
      }
    }
  const n = set.count * plane;
  const mean = [...sum].map((s) => s / n);
  const std = [...sq].map((s, ch) => Math.sqrt(Math.max(1e-12, s / n - mean[ch]! ** 2)));
  return { mean, std };
}

/** (x - mean) / std per channel, in place. */
export function standardizeInPlace(set: ImageSet, stats: { mean: number[]; std: number[] }): void {
  const [c, h, w] = set.shape;
  const plane = h * w;
  for (let i = 0; i < set.count; i++)
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * plane;
      const m = stats.mean[ch]!;
      const s = stats.std[ch]!;
      for (let p = 0; p < plane; p++) set.x[base + p] = (set.x[base + p]! - m) / s;
    }
}

/**
 * The input a from-scratch CNN should take for these images: their typical (median) shorter
 * side capped at `maxSide`, and one channel when every sampled image is greyscale. Samples a
 * few dozen images; decoding headers only.
 */
export async function typicalInput(
  files: readonly string[],
  maxSide = 64,
  sample = 48,
): Promise<{ size: number; channels: 1 | 3 }> {
  const step = Math.max(1, Math.floor(files.length / sample));
  const picked = files.filter((_, i) => i % step === 0).slice(0, sample);
  const metas = await Promise.all(picked.map((f) => sharp(f, { failOn: 'none' }).metadata()));
  const sides = metas.map((m) => Math.min(m.width ?? 0, m.height ?? 0)).sort((a, b) => a - b);
  const median = sides[Math.floor(sides.length / 2)] ?? maxSide;
  const grey = metas.every((m) => m.channels === 1 || m.space === 'b-w' || m.space === 'grey16');
  return { size: Math.max(8, Math.min(maxSide, median)), channels: grey ? 1 : 3 };
}

/** The settings' image augmentation (scaled by its strength) on batches normalised as given. */
export function imageAugmentation(settings: TrainSettings, normalization: Normalization): BatchTransform {
  const augment = scaledImageAugment(settings.augment.image, settings.augment.strength);
  return (x, shape, random) => augmentBatch(x, shape, augment, random, normalization);
}

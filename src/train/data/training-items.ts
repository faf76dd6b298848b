import type { ManifestItem } from '../../data/versions/manifest.js';
import { LoupeError } from '../../errors/loupe-error.js';

/** A dataset version's items as one training run sees them. */
export interface TrainingItems {
  kind: 'image' | 'audio';
  /** Sorted labels of the whole version: class indices mean the same in every split and fold. */
  classes: string[];
  train: ManifestItem[];
  val: ManifestItem[];
  test: ManifestItem[];
}

/**
 * Splits a version for training. With a fold, the train and val items are re-divided for
 * cross-validation: the fold's items validate, the others train; test stays untouched.
 */
export function trainingItems(items: readonly ManifestItem[], o: { fold?: number } = {}): TrainingItems {
  const kinds = new Set(items.map((i) => i.kind));
  if (kinds.size > 1)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      'the version mixes images and audio; train on a dataset of one kind',
    );
  const kind = items[0]?.kind ?? 'image';
  const classes = [...new Set(items.map((i) => i.label))].sort();
  const test = items.filter((i) => i.split === 'test');
  const pool = items.filter((i) => i.split !== 'test');
  const fold = o.fold;
  const [train, val] =
    fold === undefined
      ? [pool.filter((i) => i.split === 'train'), pool.filter((i) => i.split === 'val')]
      : [pool.filter((i) => i.fold !== fold), pool.filter((i) => i.fold === fold)];
  if (!train.length) throw new LoupeError('INVALID_ARGUMENT', 'the version has no training items');
  return { kind, classes, train, val, test };
}

/** The distinct folds of a version's train and val items, in order. */
export function foldsOf(items: readonly ManifestItem[]): number[] {
  return [
    ...new Set(items.filter((i) => i.split !== 'test' && i.fold !== undefined).map((i) => i.fold!)),
  ].sort((a, b) => a - b);
}

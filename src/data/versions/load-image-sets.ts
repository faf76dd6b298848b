import type { ImagePreprocessingInput } from '../../features/image/image-preprocessing.js';
import { preprocessImages } from '../../features/image/preprocess.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { ImageSet } from '../image-set.js';
import { SPLIT_NAMES, type ManifestItem, type Split } from './manifest.js';

/**
 * Decodes a version's images into one in-memory set per split, for training on data that fits
 * in memory. Class indices follow the sorted class names of the whole version, so every split
 * (and the exported model) agrees on them.
 */
export async function loadImageSets(
  items: readonly ManifestItem[],
  blobs: BlobStore,
  preprocessing: ImagePreprocessingInput,
  /** The class list to index by (a run's, which may know classes these items lack); default: these items' labels, sorted. */
  classList?: readonly string[],
): Promise<{ classes: string[]; sets: Partial<Record<Split, ImageSet>> }> {
  const images = items.filter((i) => i.kind === 'image');
  const classes = classList ? [...classList] : [...new Set(images.map((i) => i.label))].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  const sets: Partial<Record<Split, ImageSet>> = {};
  for (const split of SPLIT_NAMES) {
    const mine = images.filter((i) => i.split === split);
    if (!mine.length) continue;
    const batch = await preprocessImages(
      mine.map((i) => blobs.pathOf(i.blob)),
      preprocessing,
    );
    const [, c, h, w] = batch.shape;
    sets[split] = {
      shape: [c, h, w],
      count: batch.size,
      x: batch.x,
      labels: Int32Array.from(mine, (i) => index.get(i.label)!),
      classes,
    };
  }
  return { classes, sets };
}

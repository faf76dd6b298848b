import type { ManifestItem } from '../data/versions/manifest.js';
import { LoupeError } from '../errors/loupe-error.js';

/** Each item's label as the index of a model's class; labels the model does not know are an error, listed. */
export function labelIndices(items: readonly ManifestItem[], classes: readonly string[]): Int32Array {
  const index = new Map(classes.map((c, i) => [c, i]));
  const unknown = [...new Set(items.map((i) => i.label).filter((l) => !index.has(l)))];
  if (unknown.length)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the data has labels the model does not know: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}` +
        ` (the model's classes: ${classes.join(', ')})`,
    );
  return Int32Array.from(items, (i) => index.get(i.label)!);
}

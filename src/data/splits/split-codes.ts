import { SPLIT_NAMES, type Split } from '../versions/manifest.js';

/** A split as a small number, for per-item typed arrays: 0 for none, then train, val, test. */
export function splitCode(split: Split | null | undefined): number {
  return split ? SPLIT_NAMES.indexOf(split) + 1 : 0;
}

export function splitOfCode(code: number): Split | undefined {
  return SPLIT_NAMES[code - 1];
}

import { LoupeError } from '../../errors/loupe-error.js';
import type { Split } from '../versions/manifest.js';
import { stableSort } from './stable-order.js';

export type FoldScheme = { type: 'kfold'; k: number } | { type: 'group' };

/**
 * Cross-validation folds over the train and val items (test stays untouched). k-fold deals each
 * class's units round-robin over k folds in seeded order, so folds are stratified; groups stay
 * whole. Leave-one-group-out gives every group its own fold.
 */
export function assignFolds<T extends { id: string; label: string; group?: string; split: Split }>(
  items: readonly T[],
  scheme: FoldScheme,
  seed: number,
): (T & { fold?: number })[] {
  const pool = items.filter((i) => i.split !== 'test');
  const unitOf = (i: T) => (i.group ? `g:${i.group}` : `i:${i.id}`);
  const foldOf = new Map<string, number>();
  if (scheme.type === 'group') {
    const groups = [...new Set(pool.map((i) => i.group))];
    if (groups.includes(undefined))
      throw new LoupeError('INVALID_ARGUMENT', 'leave-one-group-out needs a group on every item');
    stableSort(seed, groups as string[]).forEach((g, i) => foldOf.set(`g:${g}`, i));
  } else {
    if (!Number.isInteger(scheme.k) || scheme.k < 2)
      throw new LoupeError('INVALID_ARGUMENT', `k-fold needs k ≥ 2, got ${scheme.k}`);
    const byClass = new Map<string, Set<string>>();
    for (const i of pool) byClass.set(i.label, (byClass.get(i.label) ?? new Set()).add(unitOf(i)));
    for (const units of byClass.values()) {
      stableSort(
        seed,
        [...units].filter((u) => !foldOf.has(u)),
      ).forEach((u, i) => foldOf.set(u, i % scheme.k));
    }
  }
  return items.map((i) => (i.split === 'test' ? { ...i } : { ...i, fold: foldOf.get(unitOf(i))! }));
}

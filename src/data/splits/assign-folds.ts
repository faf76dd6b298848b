import { LoupeError } from '../../errors/loupe-error.js';
import type { Split } from '../versions/manifest.js';
import { bucket, bucketBy, keyCount, numberValues } from '../columns.js';
import { digestCount, orderByDigest, orderDigests, writeOrderDigest } from './stable-order.js';

export type FoldScheme = { type: 'kfold'; k: number } | { type: 'group' };

export function checkFoldScheme(scheme: FoldScheme): void {
  if (scheme.type === 'kfold' && (!Number.isInteger(scheme.k) || scheme.k < 2))
    throw new LoupeError('INVALID_ARGUMENT', `k-fold needs k ≥ 2, got ${scheme.k}`);
}

export const NO_GROUP_FOR_LOGO = 'leave-one-group-out needs a group on every item';

/**
 * Stratified k-fold over units given as columns: per pooled item its label and unit, per unit
 * its seeded order digest. Each class in order of first appearance deals its units not dealt
 * yet round-robin over the k folds in digest order, so folds are stratified and units stay
 * whole. Returns each unit's fold.
 */
export function kFoldUnits(label: Int32Array, unit: Int32Array, digests: Uint8Array, k: number): Int32Array {
  const units = digestCount(digests);
  const classes = keyCount(label);
  const firstSeen = new Int32Array(classes).fill(-1);
  label.forEach((l, i) => {
    if (firstSeen[l] === -1) firstSeen[l] = i;
  });
  const classOrder = [...firstSeen.keys()]
    .filter((l) => firstSeen[l] !== -1)
    .sort((a, b) => firstSeen[a]! - firstSeen[b]!);
  const byClass = bucketBy(label, classes);
  const fold = new Int32Array(units).fill(-1);
  const seenIn = new Int32Array(units).fill(-1);
  for (const l of classOrder) {
    const dealt: number[] = [];
    for (const i of bucket(byClass, l)) {
      const u = unit[i]!;
      if (seenIn[u] === l || fold[u] !== -1) continue;
      seenIn[u] = l;
      dealt.push(u);
    }
    orderByDigest(digests, Int32Array.from(dealt)).forEach((u, n) => (fold[u] = n % k));
  }
  return fold;
}

/** Leave-one-group-out: every group its own fold, numbered in digest order. */
export function groupFolds(digests: Uint8Array): Int32Array {
  const groups = digestCount(digests);
  const fold = new Int32Array(groups);
  orderByDigest(
    digests,
    Int32Array.from({ length: groups }, (_, g) => g),
  ).forEach((g, n) => (fold[g] = n));
  return fold;
}

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
    if (groups.includes(undefined)) throw new LoupeError('INVALID_ARGUMENT', NO_GROUP_FOR_LOGO);
    const digests = orderDigests(groups.length);
    groups.forEach((g, n) => writeOrderDigest(seed, g!, digests, n));
    groupFolds(digests).forEach((fold, n) => foldOf.set(`g:${groups[n]}`, fold));
  } else {
    checkFoldScheme(scheme);
    const unitIndex = new Map<string, number>();
    const unit = Int32Array.from(pool, (i) => {
      const key = unitOf(i);
      let u = unitIndex.get(key);
      if (u === undefined) unitIndex.set(key, (u = unitIndex.size));
      return u;
    });
    const digests = orderDigests(unitIndex.size);
    for (const [key, u] of unitIndex) writeOrderDigest(seed, key, digests, u);
    const fold = kFoldUnits(numberValues(pool.map((i) => i.label)).index, unit, digests, scheme.k);
    for (const [key, u] of unitIndex) foldOf.set(key, fold[u]!);
  }
  return items.map((i) => (i.split === 'test' ? { ...i } : { ...i, fold: foldOf.get(unitOf(i))! }));
}

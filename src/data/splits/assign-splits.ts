import type { SplitConfig } from '../../config/schema.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Split } from '../versions/manifest.js';
import { splitCode, splitOfCode } from './split-codes.js';
import { bucket, bucketBy, keyCount, numberValues } from '../columns.js';
import { orderByDigest, orderDigests, writeOrderDigest } from './stable-order.js';

export interface SplitInput {
  id: string;
  label: string;
  group?: string;
  /** A split the source already decided (train/ val/ test/ folders); kept as is. */
  split?: Split;
}

/**
 * Each unit's class: the most common label of its items (ties to the first label in string
 * order). `unit` is per item, -1 for items that are no unit's.
 */
export function majorityLabels(
  unit: Int32Array,
  label: Int32Array,
  labels: readonly string[],
  units: number,
): Int32Array {
  const byUnit = bucketBy(unit, units);
  const count = new Int32Array(labels.length);
  const major = new Int32Array(units);
  for (let u = 0; u < units; u++) {
    const members = bucket(byUnit, u);
    let best = label[members[0]!]!;
    for (const i of members) count[label[i]!]!++;
    for (const i of members) {
      const l = label[i]!;
      if (count[l]! > count[best]! || (count[l] === count[best] && labels[l]! < labels[best]!)) best = l;
    }
    for (const i of members) count[label[i]!] = 0;
    major[u] = best;
  }
  return major;
}

/**
 * Splits units (items, or whole groups) given as columns: per unit its stratum (its class, or
 * one stratum for all) and its seeded order digest. Within each stratum units are ranked by
 * digest and the first `test` fraction goes to test, the next `val` fraction to validation,
 * the rest to train. Returns each unit's split (see split-codes).
 */
export function splitUnits(
  stratum: Int32Array,
  digests: Uint8Array,
  o: Pick<SplitConfig, 'val' | 'test'>,
): Uint8Array {
  if (o.val + o.test >= 1)
    throw new LoupeError(
      'INVALID_CONFIG',
      `val (${o.val}) + test (${o.test}) must leave something to train on`,
    );
  const strata = keyCount(stratum);
  const byStratum = bucketBy(stratum, strata);
  const split = new Uint8Array(stratum.length);
  for (let s = 0; s < strata; s++) {
    const ranked = orderByDigest(digests, bucket(byStratum, s));
    const n = ranked.length;
    // Rounding per class, but a class of three or more units keeps at least one unit in each
    // held-out split asked for: a tiny class with no test item cannot be evaluated at all.
    const atLeastOne = (f: number) => (f > 0 && n >= 3 ? Math.max(1, Math.round(n * f)) : Math.round(n * f));
    const nTest = atLeastOne(o.test);
    const nVal = atLeastOne(o.val);
    ranked.forEach((u, i) => (split[u] = splitCode(i < nTest ? 'test' : i < nTest + nVal ? 'val' : 'train')));
  }
  return split;
}

/**
 * Assigns train/val/test. Units are items, or whole groups when grouping is on and items have
 * one (so an observation or a user never straddles two splits). Within each class (a group's
 * class is its most common label) units are ranked by a seeded hash and the first `test`
 * fraction goes to test, the next `val` fraction to validation, the rest to train.
 */
export function assignSplits<T extends SplitInput>(
  items: readonly T[],
  o: SplitConfig,
): (T & { split: Split })[] {
  const byGroup = o.groupBy === 'group';
  const unitOf = new Map<string, number>();
  const unit = Int32Array.from(items, (item) => {
    if (item.split) return -1;
    const key = byGroup && item.group ? `g:${item.group}` : `i:${item.id}`;
    let u = unitOf.get(key);
    if (u === undefined) unitOf.set(key, (u = unitOf.size));
    return u;
  });
  const labels = numberValues(items.map((item) => item.label));
  const digests = orderDigests(unitOf.size);
  for (const [key, u] of unitOf) writeOrderDigest(o.seed, key, digests, u);
  const stratum = o.stratify
    ? majorityLabels(unit, labels.index, labels.distinct, unitOf.size)
    : new Int32Array(unitOf.size);
  const splitOf = splitUnits(stratum, digests, o);
  return items.map((item, i) => ({ ...item, split: item.split ?? splitOfCode(splitOf[unit[i]!]!)! }));
}

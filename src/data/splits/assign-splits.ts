import type { SplitConfig } from '../../config/schema.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Split } from '../versions/manifest.js';
import { stableSort } from './stable-order.js';

export interface SplitInput {
  id: string;
  label: string;
  group?: string;
  /** A split the source already decided (train/ val/ test/ folders); kept as is. */
  split?: Split;
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
  if (o.val + o.test >= 1)
    throw new LoupeError(
      'INVALID_CONFIG',
      `val (${o.val}) + test (${o.test}) must leave something to train on`,
    );
  const byGroup = o.groupBy === 'group';
  const unitOf = (item: T) => (byGroup && item.group ? `g:${item.group}` : `i:${item.id}`);

  // A unit's labels: one string while it has one (every ungrouped item), counts once it has more.
  const units = new Map<string, string | Map<string, number>>();
  for (const item of items) {
    if (item.split) continue;
    const key = unitOf(item);
    const seen = units.get(key);
    if (seen === undefined) units.set(key, item.label);
    else {
      const counts = typeof seen === 'string' ? new Map([[seen, 1]]) : seen;
      counts.set(item.label, (counts.get(item.label) ?? 0) + 1);
      units.set(key, counts);
    }
  }
  const strata = new Map<string, string[]>();
  for (const [key, labels] of units) {
    const major = !o.stratify
      ? '*'
      : typeof labels === 'string'
        ? labels
        : [...labels].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    const stratum = strata.get(major);
    if (stratum) stratum.push(key);
    else strata.set(major, [key]);
  }
  const splitOf = new Map<string, Split>();
  for (const keys of strata.values()) {
    const ranked = stableSort(o.seed, keys);
    const n = ranked.length;
    // Rounding per class, but a class of three or more units keeps at least one unit in each
    // held-out split asked for: a tiny class with no test item cannot be evaluated at all.
    const atLeastOne = (f: number) => (f > 0 && n >= 3 ? Math.max(1, Math.round(n * f)) : Math.round(n * f));
    const nTest = atLeastOne(o.test);
    const nVal = atLeastOne(o.val);
    ranked.forEach((key, i) => splitOf.set(key, i < nTest ? 'test' : i < nTest + nVal ? 'val' : 'train'));
  }
  return items.map((item) => ({ ...item, split: item.split ?? splitOf.get(unitOf(item))! }));
}

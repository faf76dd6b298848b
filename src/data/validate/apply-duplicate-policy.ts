import { SPLIT_NAMES, type Split } from '../versions/manifest.js';
import type { ValidationItem } from './validation-item.js';
import type { CheckName, ValidationPolicy } from './validation-policy.js';
import { sourceOf, type RelatedItem, type ReportBuilder } from './validation-report.js';

/** Where an item stands while the checks run. */
export interface ItemState {
  /** The check that left it out, if one did. */
  skippedBy?: CheckName;
  /** Its split now (leakage may have moved it). */
  split?: Split;
}

export interface DuplicateContext {
  items: readonly ValidationItem[];
  states: ItemState[];
  policy: ValidationPolicy;
  report: ReportBuilder;
  /** Perceptual distance between two items (near groups only). */
  distance?: (a: number, b: number) => number;
}

const CHECKS = {
  exact: {
    conflict: 'exactConflict',
    leakage: 'exactLeakage',
    duplicate: 'exactDuplicate',
    copies: 'identical copies',
  },
  near: {
    conflict: 'nearConflict',
    leakage: 'nearLeakage',
    duplicate: 'nearDuplicate',
    copies: 'near-identical images',
  },
} as const;

const RELATED_SHOWN = 3;

/**
 * Applies the policy to one group of copies (byte-identical, or perceptually near), in this
 * order: conflicting labels first (skipped copies no longer leak), then leakage across splits
 * (after a move the copies share a split), then copies within one class and split.
 */
export function applyDuplicatePolicy(
  kind: 'exact' | 'near',
  members: readonly number[],
  ctx: DuplicateContext,
): void {
  const { items, states, policy, report } = ctx;
  const checks = CHECKS[kind];
  const alive = () => members.filter((i) => !states[i]!.skippedBy);
  const related = (i: number, group: readonly number[]): RelatedItem[] =>
    group
      .filter((j) => j !== i)
      .slice(0, RELATED_SHOWN)
      .map((j) => {
        const split = states[j]!.split;
        const distance = ctx.distance?.(i, j);
        return {
          id: items[j]!.id,
          source: sourceOf(items[j]!),
          label: items[j]!.label,
          ...(split ? { split } : {}),
          ...(distance !== undefined ? { distance } : {}),
        };
      });

  let group = alive();
  const labels = [...new Set(group.map((i) => items[i]!.label))];
  if (labels.length > 1) {
    report.group(checks.conflict);
    const action = policy.checks[checks.conflict];
    for (const i of group) {
      const message = `${group.length} ${checks.copies} labelled ${labels.join(', ')}`;
      report.flag(checks.conflict, i, message, states[i]!.split, related(i, group), i === group[0]);
      if (action === 'skip') {
        states[i]!.skippedBy = checks.conflict;
        report.skipped(checks.conflict, i);
      }
    }
  }

  group = alive();
  const splits = new Set<string>(group.map((i) => states[i]!.split ?? 'unassigned'));
  // Copies go to the earliest split (train, val, test) among those already settled, if any.
  const settled = group.filter((i) => items[i]!.fixedSplit && states[i]!.split).map((i) => states[i]!.split!);
  const candidates: ReadonlySet<string> = settled.length ? new Set(settled) : splits;
  const target = SPLIT_NAMES.find((s) => candidates.has(s));
  if (splits.size > 1 && target) {
    report.group(checks.leakage);
    const action = policy.checks[checks.leakage];
    const where = [...SPLIT_NAMES, 'unassigned'].filter((s) => splits.has(s)).join(', ');
    // The example is a copy that leaked (not one in the split they all go to).
    const shown = group.find((i) => states[i]!.split !== target);
    for (const i of group) {
      const from = states[i]!.split;
      const verb = action === 'move' ? `; moved to ${target}` : action === 'skip' ? '; skipped' : '';
      const message =
        from === target
          ? `${checks.copies} in ${where}; this copy stays in ${target}`
          : `${checks.copies} in ${where}${verb}`;
      report.flag(checks.leakage, i, message, from, related(i, group), i === shown);
      // Items of an existing version stay where they are (reported); only new copies follow them.
      if (from === target || items[i]!.fixedSplit) continue;
      if (action === 'move') {
        states[i]!.split = target;
        report.moved(checks.leakage);
      } else if (action === 'skip') {
        states[i]!.skippedBy = checks.leakage;
        report.skipped(checks.leakage, i);
      }
    }
  }

  const byClassAndSplit = new Map<string, number[]>();
  for (const i of alive()) {
    const key = `${items[i]!.label}\0${states[i]!.split ?? ''}`;
    const copies = byClassAndSplit.get(key);
    if (copies) copies.push(i);
    else byClassAndSplit.set(key, [i]);
  }
  const settledFirst = (a: number, b: number) =>
    Number(!!items[b]!.fixedSplit) - Number(!!items[a]!.fixedSplit) || a - b;
  for (const unordered of byClassAndSplit.values()) {
    if (unordered.length < 2) continue;
    // The copy that stays is one already in a version, else the first in input order.
    const copies = unordered.sort(settledFirst);
    report.group(checks.duplicate);
    const skip = policy.checks[checks.duplicate] === 'skip';
    copies.forEach((i, n) => {
      const outcome = skip ? (n === 0 ? '; this one is kept' : '; this copy is skipped') : '';
      const message = `${copies.length} ${checks.copies} of one class${outcome}`;
      report.flag(checks.duplicate, i, message, states[i]!.split, related(i, copies), n === 1);
      if (skip && n > 0) {
        states[i]!.skippedBy = checks.duplicate;
        report.skipped(checks.duplicate, i);
      }
    });
  }
}

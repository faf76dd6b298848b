import { SPLIT_NAMES } from '../versions/manifest.js';
import { splitCode, splitOfCode } from '../splits/split-codes.js';
import { CHECK_NAMES, type CheckName, type ValidationPolicy } from './validation-policy.js';
import type { RelatedRef, ReportBuilder } from './validation-report.js';

/** Where each item stands while the checks run, by index. */
export interface ItemStates {
  /** The check that left it out (CHECK_NAMES index + 1), 0 while it is in. */
  skippedBy: Uint8Array;
  /** Its split now, leakage may have moved it (see split-codes). */
  split: Uint8Array;
}

export interface DuplicateContext {
  /** Per item: its label, an index into `labels`. */
  label: Int32Array;
  labels: readonly string[];
  /** Per item: 1 when its split is settled (fixedSplit). */
  fixed: Uint8Array;
  states: ItemStates;
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

export function skip(states: ItemStates, i: number, check: CheckName, report: ReportBuilder): void {
  states.skippedBy[i] = CHECK_NAMES.indexOf(check) + 1;
  report.skipped(check, i);
}

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
  const { label, labels, fixed, states, policy, report } = ctx;
  const checks = CHECKS[kind];
  const alive = () => members.filter((i) => !states.skippedBy[i]);
  const splitOf = (i: number) => splitOfCode(states.split[i]!);
  const related = (i: number, group: readonly number[]): RelatedRef[] =>
    group
      .filter((j) => j !== i)
      .slice(0, RELATED_SHOWN)
      .map((j) => {
        const split = splitOf(j);
        const distance = ctx.distance?.(i, j);
        return { item: j, ...(split ? { split } : {}), ...(distance !== undefined ? { distance } : {}) };
      });

  let group = alive();
  const names = [...new Set(group.map((i) => labels[label[i]!]!))];
  if (names.length > 1) {
    report.group(checks.conflict);
    const action = policy.checks[checks.conflict];
    for (const i of group) {
      const message = `${group.length} ${checks.copies} labelled ${names.join(', ')}`;
      report.flag(checks.conflict, i, message, splitOf(i), related(i, group), i === group[0]);
      if (action === 'skip') skip(states, i, checks.conflict, report);
    }
  }

  group = alive();
  const splits = new Set<string>(group.map((i) => splitOf(i) ?? 'unassigned'));
  // Copies go to the earliest split (train, val, test) among those already settled, if any.
  const settled = group.filter((i) => fixed[i] && splitOf(i)).map((i) => splitOf(i)!);
  const candidates: ReadonlySet<string> = settled.length ? new Set(settled) : splits;
  const target = SPLIT_NAMES.find((s) => candidates.has(s));
  if (splits.size > 1 && target) {
    report.group(checks.leakage);
    const action = policy.checks[checks.leakage];
    const where = [...SPLIT_NAMES, 'unassigned'].filter((s) => splits.has(s)).join(', ');
    // The example is a copy that leaked (not one in the split they all go to).
    const shown = group.find((i) => splitOf(i) !== target);
    for (const i of group) {
      const from = splitOf(i);
      const verb = action === 'move' ? `; moved to ${target}` : action === 'skip' ? '; skipped' : '';
      const message =
        from === target
          ? `${checks.copies} in ${where}; this copy stays in ${target}`
          : `${checks.copies} in ${where}${verb}`;
      report.flag(checks.leakage, i, message, from, related(i, group), i === shown);
      // Items of an existing version stay where they are (reported); only new copies follow them.
      if (from === target || fixed[i]) continue;
      if (action === 'move') {
        states.split[i] = splitCode(target);
        report.moved(checks.leakage);
      } else if (action === 'skip') skip(states, i, checks.leakage, report);
    }
  }

  const byClassAndSplit = new Map<number, number[]>();
  for (const i of alive()) {
    const key = label[i]! * 4 + states.split[i]!;
    const copies = byClassAndSplit.get(key);
    if (copies) copies.push(i);
    else byClassAndSplit.set(key, [i]);
  }
  const settledFirst = (a: number, b: number) => fixed[b]! - fixed[a]! || a - b;
  for (const unordered of byClassAndSplit.values()) {
    if (unordered.length < 2) continue;
    // The copy that stays is one already in a version, else the first in input order.
    const copies = unordered.sort(settledFirst);
    report.group(checks.duplicate);
    const skipCopies = policy.checks[checks.duplicate] === 'skip';
    copies.forEach((i, n) => {
      const outcome = skipCopies ? (n === 0 ? '; this one is kept' : '; this copy is skipped') : '';
      const message = `${copies.length} ${checks.copies} of one class${outcome}`;
      report.flag(checks.duplicate, i, message, splitOf(i), related(i, copies), n === 1);
      if (skipCopies && n > 0) skip(states, i, checks.duplicate, report);
    });
  }
}

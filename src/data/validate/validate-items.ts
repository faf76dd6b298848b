import { availableParallelism } from 'node:os';
import { LoupeError } from '../../errors/loupe-error.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { applyDuplicatePolicy, type ItemState } from './apply-duplicate-policy.js';
import { inspectImage } from './inspect-image.js';
import { nearDuplicateGroups } from './near-duplicate-groups.js';
import { hammingDistance, perceptualHashFromHex, type PerceptualHash } from './perceptual-hash.js';
import type { ImageInspection, ValidatedItem, ValidationItem } from './validation-item.js';
import {
  validationPolicySchema,
  type ValidationPolicy,
  type ValidationPolicyInput,
} from './validation-policy.js';
import { ReportBuilder, type NearDuplicateSummary, type ValidationReport } from './validation-report.js';

export interface ValidationProgress {
  phase: 'inspect' | 'duplicates' | 'classes';
  done: number;
  total: number;
}

export interface ValidateOptions {
  onProgress?: (p: ValidationProgress) => void;
  /** Images decoded at once; default: the number of cores. */
  concurrency?: number;
  /** Stops between images with an INTERRUPTED error. */
  signal?: AbortSignal;
  /**
   * Where the image of a hash is, for items with neither file nor bytes: a store of many items
   * is validated without a path string held per item.
   */
  locate?: (hash: string) => string;
}

export interface ValidationResult<T extends ValidationItem> {
  /** The items that go into the version, in input order, with their (possibly moved) split. */
  kept: ValidatedItem<T>[];
  report: ValidationReport;
}

const seconds = (since: number) => Math.round(performance.now() - since) / 1000;

/** Decodes each distinct image once (copies share a hash, so they share the verdict). */
async function inspectAll(
  items: readonly ValidationItem[],
  policy: ValidationPolicy,
  o: ValidateOptions,
): Promise<Map<string, ImageInspection>> {
  const firstOf = new Map<string, ValidationItem>();
  const copies = new Map<string, number>();
  for (const item of items) {
    if (item.file === undefined && item.bytes === undefined && !o.locate) {
      throw new LoupeError('INVALID_ARGUMENT', `item ${item.id} has neither a file nor bytes to validate`);
    }
    if (!firstOf.has(item.hash)) firstOf.set(item.hash, item);
    copies.set(item.hash, (copies.get(item.hash) ?? 0) + 1);
  }
  const result = new Map<string, ImageInspection>();
  const nd = policy.nearDuplicates;
  const hashMinSide = nd.enabled ? nd.minSide : Number.POSITIVE_INFINITY;
  let done = 0;
  await mapConcurrent([...firstOf.values()], o.concurrency ?? availableParallelism(), async (item) => {
    if (o.signal?.aborted) throw new LoupeError('INTERRUPTED', 'validation was interrupted');
    const src =
      item.bytes !== undefined ? { bytes: item.bytes } : { file: item.file ?? o.locate!(item.hash) };
    result.set(item.hash, await inspectImage(src, item.hash, { ...policy, hashMinSide }));
    done += copies.get(item.hash)!;
    o.onProgress?.({ phase: 'inspect', done, total: items.length });
  });
  return result;
}

/** Skips or keeps each item by the image checks it failed or the conversions it needs. */
function applyImagePolicy(
  items: readonly ValidationItem[],
  inspections: Map<string, ImageInspection>,
  states: ItemState[],
  policy: ValidationPolicy,
  report: ReportBuilder,
): void {
  items.forEach((item, i) => {
    for (const reason of inspections.get(item.hash)!.reasons) {
      report.flag(reason.check, i, reason.message, item.split);
      if (policy.checks[reason.check] === 'skip' && !states[i]!.skippedBy) {
        states[i]!.skippedBy = reason.check;
        report.skipped(reason.check, i);
      }
    }
  });
}

/** Perceptual near duplicates among the usable images, one representative per distinct image. */
function checkNearDuplicates(
  items: readonly ValidationItem[],
  inspections: Map<string, ImageInspection>,
  states: ItemState[],
  policy: ValidationPolicy,
  report: ReportBuilder,
  unite: (members: readonly number[]) => void,
): NearDuplicateSummary {
  const started = performance.now();
  const o = policy.nearDuplicates;
  const summary: NearDuplicateSummary = {
    enabled: o.enabled,
    maxDistance: o.maxDistance,
    compared: 0,
    tooSmallToCompare: 0,
    pairs: 0,
    groups: 0,
    largestGroup: 0,
    oversizedGroups: 0,
    seconds: 0,
  };
  if (!o.enabled) return summary;
  const hashes: PerceptualHash[] = [];
  const itemsOfHash: number[][] = [];
  const slotOf = new Map<string, number>();
  const phashOf: (PerceptualHash | undefined)[] = [];
  items.forEach((item, i) => {
    const image = inspections.get(item.hash)!;
    if (states[i]!.skippedBy) return;
    if (Math.min(image.width ?? 0, image.height ?? 0) < o.minSide) {
      summary.tooSmallToCompare++;
      return;
    }
    // A broken image that the policy keeps has no hash.
    if (!image.phash) return;
    let slot = slotOf.get(item.hash);
    if (slot === undefined) {
      slot = hashes.length;
      slotOf.set(item.hash, slot);
      hashes.push(perceptualHashFromHex(image.phash));
      itemsOfHash.push([]);
    }
    itemsOfHash[slot]!.push(i);
    phashOf[i] = hashes[slot];
  });
  summary.compared = hashes.length;
  const { groups, pairs } = nearDuplicateGroups(hashes, o.maxDistance);
  summary.pairs = pairs;
  const distance = (a: number, b: number) => hammingDistance(phashOf[a]!, phashOf[b]!);
  for (const slots of groups) {
    const members = slots.flatMap((s) => itemsOfHash[s]!).sort((a, b) => a - b);
    summary.groups++;
    summary.largestGroup = Math.max(summary.largestGroup, members.length);
    if (members.length > o.maxGroupSize) {
      summary.oversizedGroups++;
      continue;
    }
    applyDuplicatePolicy('near', members, { items, states, policy, report, distance });
    unite(members);
  }
  summary.seconds = seconds(started);
  return summary;
}

function checkClassMinimum(
  items: readonly ValidationItem[],
  states: ItemState[],
  policy: ValidationPolicy,
  report: ReportBuilder,
): void {
  const usable = new Map<string, number[]>();
  for (const label of Object.keys(report.classes)) usable.set(label, []);
  items.forEach((item, i) => {
    if (!states[i]!.skippedBy) usable.get(item.label)!.push(i);
  });
  for (const [label, members] of usable) {
    if (members.length >= policy.minPerClass) continue;
    const total = report.classes[label]!.items;
    const action = policy.checks.classMinimum;
    const outcome = action === 'skip' && members.length ? '; the class is left out' : '';
    report.flagClass(
      'classMinimum',
      label,
      `${label}: ${members.length} usable of ${total} items, fewer than the minimum of ${policy.minPerClass}${outcome}`,
    );
    if (action !== 'skip') continue;
    for (const i of members) {
      states[i]!.skippedBy = 'classMinimum';
      report.skipped('classMinimum', i);
    }
  }
}

function failure(report: ValidationReport): LoupeError {
  const lines = report.failed.map((check) => {
    const c = report.checks[check];
    const shown = c.examples.map((e) => `    ${e.source ? `${e.source}: ` : ''}${e.message}`);
    return [`  ${check}: ${c.found} found`, ...shown].join('\n');
  });
  return new LoupeError(
    'VALIDATION_FAILED',
    `validation failed: ${report.failed.join(', ')} ${report.failed.length > 1 ? 'are' : 'is'} set to fail\n${lines.join('\n')}\n` +
      `Fix the data, or set data.validation.checks.<check> to skip or keep in loupe.yaml.`,
    { report },
  );
}

/**
 * Validates items before they become a dataset version: decodes every image (checks for
 * empty, unreadable, non-image, undecodable, too small, too large content and notes the
 * conversions the decoder makes), finds exact and perceptual duplicates (within a class, with
 * conflicting labels, across splits), then checks class sizes; applies the policy to each
 * finding. Nothing is dropped without being counted in the report. Throws VALIDATION_FAILED,
 * with the full report in its details, when a check set to `fail` found anything.
 */
export async function validateItems<T extends ValidationItem>(
  items: readonly T[],
  policyInput: ValidationPolicyInput = {},
  options: ValidateOptions = {},
): Promise<ValidationResult<T>> {
  const started = performance.now();
  const policy = validationPolicySchema.parse(policyInput);
  const report = new ReportBuilder(items, policy);
  const states: ItemState[] = items.map((item) => (item.split ? { split: item.split } : {}));

  const inspections = await inspectAll(items, policy, options);
  const inspectSeconds = seconds(started);
  applyImagePolicy(items, inspections, states, policy, report);

  options.onProgress?.({ phase: 'duplicates', done: 0, total: items.length });
  const duplicatesStarted = performance.now();
  // Items that are copies of each other, for the splitter (see ValidatedItem.duplicateGroup).
  const parent = Int32Array.from({ length: items.length }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  const unite = (members: readonly number[]) => {
    for (const m of members) parent[find(m)] = find(members[0]!);
  };
  const byHash = new Map<string, number[]>();
  items.forEach((item, i) => {
    if (states[i]!.skippedBy) return;
    const members = byHash.get(item.hash);
    if (members) members.push(i);
    else byHash.set(item.hash, [i]);
  });
  for (const members of byHash.values()) {
    if (members.length < 2) continue;
    applyDuplicatePolicy('exact', members, { items, states, policy, report });
    unite(members);
  }
  const nearDuplicates = checkNearDuplicates(items, inspections, states, policy, report, unite);
  const duplicatesSeconds = seconds(duplicatesStarted);
  options.onProgress?.({ phase: 'duplicates', done: items.length, total: items.length });

  checkClassMinimum(items, states, policy, report);
  options.onProgress?.({ phase: 'classes', done: items.length, total: items.length });

  const groupSize = new Map<number, number>();
  items.forEach((_, i) => {
    if (!states[i]!.skippedBy) groupSize.set(find(i), (groupSize.get(find(i)) ?? 0) + 1);
  });
  const kept: ValidatedItem<T>[] = [];
  let normalised = 0;
  let moved = 0;
  items.forEach((item, i) => {
    const state = states[i]!;
    if (state.skippedBy) return;
    const image = inspections.get(item.hash)!;
    const cls = report.classOf(item.label);
    cls.kept++;
    if (image.status === 'normalised') {
      normalised++;
      cls.normalised++;
    }
    const wasMoved = state.split !== item.split;
    if (wasMoved) {
      moved++;
      cls.moved++;
    }
    const root = find(i);
    const duplicateGroup =
      !state.split && groupSize.get(root)! > 1 ? `dup:${items[root]!.hash.slice(0, 16)}` : undefined;
    kept.push({
      ...item,
      ...(state.split ? { split: state.split } : {}),
      image,
      ...(wasMoved && item.split ? { movedFrom: item.split } : {}),
      ...(duplicateGroup ? { duplicateGroup } : {}),
    });
  });

  const result: ValidationReport = {
    items: items.length,
    kept: kept.length,
    skipped: items.length - kept.length,
    normalised,
    moved,
    checks: report.checks,
    classes: report.classes,
    nearDuplicates,
    failed: report.failed(),
    seconds: { inspect: inspectSeconds, duplicates: duplicatesSeconds, total: seconds(started) },
  };
  if (result.failed.length) throw failure(result);
  return { kept, report: result };
}

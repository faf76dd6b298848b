import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { LoupeError } from '../../errors/loupe-error.js';
import { bucket, bucketBy, keyCount, type Buckets } from '../columns.js';
import { splitOfCode } from '../splits/split-codes.js';
import {
  applyDuplicatePolicy,
  skip,
  type DuplicateContext,
  type ItemStates,
} from './apply-duplicate-policy.js';
import { inspectImage, type ImageSource } from './inspect-image.js';
import { nearDuplicateGroups } from './near-duplicate-groups.js';
import { perceptualHashFromHex, popcount32 } from './perceptual-hash.js';
import type { ImageInspection } from './validation-item.js';
import {
  validationPolicySchema,
  type ImageCheck,
  type ValidationPolicy,
  type ValidationPolicyInput,
} from './validation-policy.js';
import {
  ReportBuilder,
  type ItemName,
  type NearDuplicateSummary,
  type ValidationReport,
} from './validation-report.js';

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

/**
 * The items to validate as columns, one entry per item in input order: a few bytes an item
 * rather than an object, so a large dataset validates in little memory.
 */
export interface ValidationColumns {
  /** Its image: items with the same bytes share one, numbered from 0 by first appearance. */
  image: Int32Array;
  /** Its label, an index into `labels`. */
  label: Int32Array;
  labels: readonly string[];
  /** The split it comes with (see split-codes), 0 when the splitter decides later. */
  split: Uint8Array;
  /** 1 when its split is settled (see ValidationItem.fixedSplit). */
  fixed: Uint8Array;
  /** Every distinct image once, in order, as inspectImage reads it. */
  images: AsyncIterable<{ hash: string; src: ImageSource }>;
  /** Ids and sources of the few items the report's examples show. */
  name(items: readonly number[]): Promise<ItemName[]>;
  /** Sees each image's inspection as it is made (a caller that wants them all keeps them). */
  onInspected?: (image: number, inspection: ImageInspection) => void;
}

/** What validation decided, per item. */
export interface ColumnVerdicts {
  report: ValidationReport;
  /** The check that left it out (CHECK_NAMES index + 1), 0 when kept. */
  skippedBy: Uint8Array;
  /** Its split now (a leak may have moved it). */
  split: Uint8Array;
  /**
   * For a kept item without a split that has copies (exact or near): the item whose image
   * names the copies' group (see ValidatedItem.duplicateGroup); -1 otherwise.
   */
  duplicateOf: Int32Array;
}

const STATUS = { ok: 0, normalised: 1, invalid: 2 } as const;

/** What the checks need of each distinct image, without an object per image. */
interface Inspections {
  status: Uint8Array;
  /** Index into `reasonLists`: images with the same reasons (most of a dataset) share one list. */
  reasons: Int32Array;
  reasonLists: ImageCheck[][];
  /** The reason messages of the first images with each reason: all the examples can show. */
  messages: Map<ImageCheck, Map<number, string>>;
  /** min(width, height), 0 when unknown. */
  shortSide: Uint32Array;
  /** Perceptual hashes as words (hi, lo per image), where `hashed`. */
  words: Uint32Array;
  hashed: Uint8Array;
}

const seconds = (since: number) => Math.round(performance.now() - since) / 1000;

/** Decodes each distinct image once (copies share a hash, so they share the verdict). */
async function inspectAll(
  input: ValidationColumns,
  count: number,
  copies: (image: number) => number,
  policy: ValidationPolicy,
  o: ValidateOptions,
): Promise<Inspections> {
  const found: Inspections = {
    status: new Uint8Array(count),
    reasons: new Int32Array(count),
    reasonLists: [],
    messages: new Map(),
    shortSide: new Uint32Array(count),
    words: new Uint32Array(2 * count),
    hashed: new Uint8Array(count),
  };
  const listOf = new Map<string, number>();
  const nd = policy.nearDuplicates;
  const hashMinSide = nd.enabled ? nd.minSide : Number.POSITIVE_INFINITY;
  const inspect = async ({ hash, src }: { hash: string; src: ImageSource }) => {
    if (o.signal?.aborted) throw new LoupeError('INTERRUPTED', 'validation was interrupted');
    return inspectImage(src, hash, { ...policy, hashMinSide });
  };
  const inspected = Readable.from(input.images).map(inspect, {
    concurrency: o.concurrency ?? availableParallelism(),
  });
  const total = input.image.length;
  let s = 0;
  let done = 0;
  // In image order, so the messages kept are those of the images the examples come from.
  for await (const result of inspected) {
    const r = result as ImageInspection;
    input.onInspected?.(s, r);
    found.status[s] = STATUS[r.status];
    const checks = r.reasons.map((reason) => reason.check);
    const key = checks.join();
    let list = listOf.get(key);
    if (list === undefined) {
      list = found.reasonLists.push(checks) - 1;
      listOf.set(key, list);
    }
    found.reasons[s] = list;
    for (const reason of r.reasons) {
      const shown = found.messages.get(reason.check) ?? new Map<number, string>();
      found.messages.set(reason.check, shown);
      if (shown.size < policy.examples) shown.set(s, reason.message);
    }
    found.shortSide[s] = Math.min(r.width ?? 0, r.height ?? 0);
    if (r.phash) {
      const h = perceptualHashFromHex(r.phash);
      found.words[2 * s] = h.hi;
      found.words[2 * s + 1] = h.lo;
      found.hashed[s] = 1;
    }
    done += copies(s);
    o.onProgress?.({ phase: 'inspect', done, total });
    s++;
  }
  return found;
}

/** Skips or keeps each item by the image checks it failed or the conversions it needs. */
function applyImagePolicy(
  input: ValidationColumns,
  found: Inspections,
  states: ItemStates,
  policy: ValidationPolicy,
  report: ReportBuilder,
): void {
  input.image.forEach((s, i) => {
    for (const check of found.reasonLists[found.reasons[s]!]!) {
      const message = found.messages.get(check)?.get(s) ?? '';
      report.flag(check, i, message, splitOfCode(input.split[i]!));
      if (policy.checks[check] === 'skip' && !states.skippedBy[i]) skip(states, i, check, report);
    }
  });
}

/** Perceptual near duplicates among the usable images, one hash per distinct image. */
function checkNearDuplicates(
  input: ValidationColumns,
  found: Inspections,
  byImage: Buckets,
  ctx: DuplicateContext,
  unite: (members: readonly number[]) => void,
): NearDuplicateSummary {
  const started = performance.now();
  const { states, policy } = ctx;
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
  // The compared images, numbered in order of their first usable item.
  const imageOf: number[] = [];
  const comparedAs = new Int32Array(found.status.length).fill(-1);
  input.image.forEach((s, i) => {
    if (states.skippedBy[i]) return;
    if (found.shortSide[s]! < o.minSide) {
      summary.tooSmallToCompare++;
      return;
    }
    // A broken image that the policy keeps has no hash.
    if (!found.hashed[s] || comparedAs[s] !== -1) return;
    comparedAs[s] = imageOf.push(s) - 1;
  });
  summary.compared = imageOf.length;
  const words = new Uint32Array(2 * imageOf.length);
  imageOf.forEach((s, c) => words.set(found.words.subarray(2 * s, 2 * s + 2), 2 * c));
  const { groups, pairs } = nearDuplicateGroups(words, o.maxDistance);
  summary.pairs = pairs;
  const w = found.words;
  const distance = (a: number, b: number) => {
    const [x, y] = [input.image[a]!, input.image[b]!];
    return popcount32(w[2 * x]! ^ w[2 * y]!) + popcount32(w[2 * x + 1]! ^ w[2 * y + 1]!);
  };
  const usable = (s: number) => [...bucket(byImage, s)].filter((i) => !states.skippedBy[i]);
  for (const compared of groups) {
    const members = compared.flatMap((c) => usable(imageOf[c]!)).sort((a, b) => a - b);
    summary.groups++;
    summary.largestGroup = Math.max(summary.largestGroup, members.length);
    if (members.length > o.maxGroupSize) {
      summary.oversizedGroups++;
      continue;
    }
    applyDuplicatePolicy('near', members, { ...ctx, distance });
    unite(members);
  }
  summary.seconds = seconds(started);
  return summary;
}

function checkClassMinimum(
  input: ValidationColumns,
  states: ItemStates,
  policy: ValidationPolicy,
  report: ReportBuilder,
): void {
  const usable = new Int32Array(input.labels.length);
  input.label.forEach((l, i) => {
    if (!states.skippedBy[i]) usable[l]!++;
  });
  const labelIndex = new Map(input.labels.map((l, i) => [l, i]));
  const action = policy.checks.classMinimum;
  const leftOut = new Set<number>();
  for (const label of Object.keys(report.classes)) {
    const l = labelIndex.get(label)!;
    if (usable[l]! >= policy.minPerClass) continue;
    const total = report.classes[label]!.items;
    const outcome = action === 'skip' && usable[l] ? '; the class is left out' : '';
    report.flagClass(
      'classMinimum',
      label,
      `${label}: ${usable[l]} usable of ${total} items, fewer than the minimum of ${policy.minPerClass}${outcome}`,
    );
    if (action === 'skip') leftOut.add(l);
  }
  input.label.forEach((l, i) => {
    if (leftOut.has(l) && !states.skippedBy[i]) skip(states, i, 'classMinimum', report);
  });
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
export async function validateColumns(
  input: ValidationColumns,
  policyInput: ValidationPolicyInput = {},
  options: ValidateOptions = {},
): Promise<ColumnVerdicts> {
  const started = performance.now();
  const policy = validationPolicySchema.parse(policyInput);
  const n = input.image.length;
  const images = keyCount(input.image);
  const report = new ReportBuilder(n, (i) => input.labels[input.label[i]!]!, policy);
  const states: ItemStates = { skippedBy: new Uint8Array(n), split: Uint8Array.from(input.split) };
  const byImage = bucketBy(input.image, images);
  const ctx = { label: input.label, labels: input.labels, fixed: input.fixed, states, policy, report };
  const copies = (s: number) => byImage.starts[s + 1]! - byImage.starts[s]!;

  const found = await inspectAll(input, images, copies, policy, options);
  const inspectSeconds = seconds(started);
  applyImagePolicy(input, found, states, policy, report);

  options.onProgress?.({ phase: 'duplicates', done: 0, total: n });
  const duplicatesStarted = performance.now();
  // Items that are copies of each other, for the splitter (see ValidatedItem.duplicateGroup).
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  const unite = (members: readonly number[]) => {
    for (const m of members) parent[find(m)] = find(members[0]!);
  };
  // Image checks skip all copies of an image or none, so images in order are exact groups in
  // order of their first usable item.
  for (let s = 0; s < images; s++) {
    const members = [...bucket(byImage, s)].filter((i) => !states.skippedBy[i]);
    if (members.length < 2) continue;
    applyDuplicatePolicy('exact', members, ctx);
    unite(members);
  }
  const nearDuplicates = checkNearDuplicates(input, found, byImage, ctx, unite);
  const duplicatesSeconds = seconds(duplicatesStarted);
  options.onProgress?.({ phase: 'duplicates', done: n, total: n });

  checkClassMinimum(input, states, policy, report);
  options.onProgress?.({ phase: 'classes', done: n, total: n });

  const groupSize = new Int32Array(n);
  for (let i = 0; i < n; i++) if (!states.skippedBy[i]) groupSize[find(i)]!++;
  const duplicateOf = new Int32Array(n).fill(-1);
  let kept = 0;
  let normalised = 0;
  let moved = 0;
  for (let i = 0; i < n; i++) {
    if (states.skippedBy[i]) continue;
    kept++;
    const cls = report.classOf(input.labels[input.label[i]!]!);
    cls.kept++;
    if (found.status[input.image[i]!] === STATUS.normalised) {
      normalised++;
      cls.normalised++;
    }
    if (states.split[i] !== input.split[i]) {
      moved++;
      cls.moved++;
    }
    if (!states.split[i] && groupSize[find(i)]! > 1) duplicateOf[i] = find(i);
  }
  await report.nameExamples((items) => input.name(items));

  const result: ValidationReport = {
    items: n,
    kept,
    skipped: n - kept,
    normalised,
    moved,
    checks: report.checks,
    classes: report.classes,
    nearDuplicates,
    failed: report.failed(),
    seconds: { inspect: inspectSeconds, duplicates: duplicatesSeconds, total: seconds(started) },
  };
  if (result.failed.length) throw failure(result);
  return { report: result, skippedBy: states.skippedBy, split: states.split, duplicateOf };
}

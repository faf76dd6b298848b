import type { LoupeConfig } from '../../config/schema.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { checkFoldScheme, groupFolds, kFoldUnits, NO_GROUP_FOR_LOGO } from '../splits/assign-folds.js';
import { majorityLabels, splitUnits } from '../splits/assign-splits.js';
import { splitCode } from '../splits/split-codes.js';
import { orderDigests, writeOrderDigest } from '../splits/stable-order.js';
import type { Members } from './collect-members.js';
import type { IngestStaging } from './ingest-staging.js';
import type { ItemColumns } from './item-columns.js';
import { splitGroupRoots } from './split-groups.js';

const [TRAIN, VAL, TEST] = [splitCode('train'), splitCode('val'), splitCode('test')];

/** What the new version's items bring to splitting, per staged item (seq - 1). */
export interface SplitInputs {
  /** The split it has now: the source's or the base's, or where validation moved it. */
  split: Uint8Array;
  /** Its copy group (validation's duplicate group), an index into copyGroups; -1 for none. */
  copyGroup: Int32Array;
  /** The copy groups' names (`dup:<hash>`). */
  copyGroups: readonly string[];
  /** The number of staged groups, and the one named '' (a group, but no fold unit) or -1. */
  groups: number;
  emptyGroup: number;
}

/**
 * Units numbered as they are first met, over keys that are staged groups (0 .. groups - 1),
 * then other nodes, then staged items (from `items` on).
 */
class Units {
  count = 0;
  readonly #of: Int32Array;

  constructor(
    keys: number,
    readonly items: number,
  ) {
    this.#of = new Int32Array(keys).fill(-1);
  }

  add(key: number): number {
    if (this.#of[key] === -1) this.#of[key] = this.count++;
    return this.#of[key]!;
  }

  /** The unit of a key, -1 if it has none. */
  of(key: number): number {
    return this.#of[key]!;
  }

  /**
   * Their seeded order digests: group and item units are named by the staged group names and
   * item ids, read as they are needed; `others` names the rest.
   */
  async digests(
    staging: IngestStaging,
    seed: number,
    names: {
      group: (name: string) => string;
      item: (id: string) => string;
      others?: (key: number) => string;
    },
  ): Promise<Uint8Array> {
    const digests = orderDigests(this.count);
    let g = 0;
    for await (const name of staging.groups()) {
      const u = this.of(g++);
      if (u >= 0) writeOrderDigest(seed, names.group(name), digests, u);
    }
    for (let key = g; key < this.items; key++) {
      const u = this.of(key);
      if (u >= 0) writeOrderDigest(seed, names.others!(key), digests, u);
    }
    let i = this.items;
    for await (const id of staging.ids()) {
      const u = this.of(i++);
      if (u >= 0) writeOrderDigest(seed, names.item(id), digests, u);
    }
    return digests;
  }
}

/**
 * Splits for the new version's items: the base's and the source's stay, the rest follow the
 * settings. A source that gave a test split but no val split (train/ and test/ folders) has
 * val carved from its train items. Units are whole split groups (see splitGroupRoots) when
 * grouping is on, single items otherwise. Returns per member its split.
 */
async function splitsOf(
  staging: IngestStaging,
  c: ItemColumns,
  items: Int32Array,
  s: SplitInputs,
  config: LoupeConfig['data']['split'],
): Promise<Uint8Array> {
  // What the source itself said: the base's items keep their splits, but their presence must not
  // stop new items from being split (a base with test items would otherwise send every new
  // item to train).
  const given = new Set<number>();
  for (const i of items) if (!c.base[i]) given.add(s.split[i]!);
  const carveVal = given.has(TRAIN) && !given.has(VAL);
  const roots = splitGroupRoots(
    items.map((i) => c.group[i]!),
    items.map((i) => s.copyGroup[i]!),
    s.groups,
    s.copyGroups.length,
  );
  const keeps = (i: number) => s.split[i]! && !(carveVal && s.split[i] === TRAIN && !c.base[i]);
  const byGroup = config.groupBy === 'group';
  const nodes = s.groups + s.copyGroups.length;
  const units = new Units(nodes + c.count, nodes);
  const unit = Int32Array.from(items, (i, k) =>
    keeps(i) ? -1 : units.add(byGroup && roots[k]! >= 0 ? roots[k]! : nodes + i),
  );
  // The keys seed the order, so they stay what they always were: `i:<id>` for an item, and for
  // a group `g:` and its root's key, `g:<group>` or `d:<copy group>`.
  const digests = await units.digests(staging, config.seed, {
    group: (name) => `g:g:${name}`,
    others: (node) => `g:d:${s.copyGroups[node - s.groups]}`,
    item: (id) => `i:${id}`,
  });
  const stratum = config.stratify
    ? majorityLabels(
        unit,
        items.map((i) => c.label[i]!),
        c.labels,
        units.count,
      )
    : new Int32Array(units.count);
  const unitSplit = splitUnits(stratum, digests, {
    test: given.has(TEST) ? 0 : config.test,
    val: given.has(VAL) ? 0 : config.val,
  });
  return Uint8Array.from(items, (i, k) => (unit[k] === -1 ? s.split[i]! : unitSplit[unit[k]!]!));
}

/**
 * Cross-validation folds for the train and val members: stratified k-fold over items or whole
 * groups, or one fold per group. Returns per member its fold, -1 for none.
 */
async function foldsOf(
  staging: IngestStaging,
  c: ItemColumns,
  items: Int32Array,
  split: Uint8Array,
  s: SplitInputs,
  data: LoupeConfig['data'],
): Promise<Int32Array> {
  const pool = items.filter((_, k) => split[k] !== TEST);
  const units = new Units(s.groups + c.count, s.groups);
  const fold = new Int32Array(items.length).fill(-1);
  if (data.folds.byGroup) {
    if (pool.some((i) => c.group[i]! < 0)) throw new LoupeError('INVALID_ARGUMENT', NO_GROUP_FOR_LOGO);
    for (const i of pool) units.add(c.group[i]!);
    const groupFold = groupFolds(
      await units.digests(staging, data.split.seed, { group: (name) => name, item: (id) => id }),
    );
    items.forEach((i, k) => {
      if (split[k] !== TEST && c.group[i] !== s.emptyGroup) fold[k] = groupFold[units.of(c.group[i]!)]!;
    });
    return fold;
  }
  const scheme = { type: 'kfold', k: data.folds.k } as const;
  checkFoldScheme(scheme);
  const unitOf = (i: number) =>
    c.group[i]! >= 0 && c.group[i] !== s.emptyGroup ? c.group[i]! : s.groups + i;
  const poolUnit = Int32Array.from(pool, (i) => units.add(unitOf(i)));
  const unitFold = kFoldUnits(
    pool.map((i) => c.label[i]!),
    poolUnit,
    await units.digests(staging, data.split.seed, { group: (name) => `g:${name}`, item: (id) => `i:${id}` }),
    scheme.k,
  );
  items.forEach((i, k) => {
    if (split[k] !== TEST) fold[k] = unitFold[units.of(unitOf(i))]!;
  });
  return fold;
}

/** Splits, then folds, of the new version's items (its members, in their order). */
export async function splitMembers(
  staging: IngestStaging,
  c: ItemColumns,
  m: Members,
  s: SplitInputs,
  data: LoupeConfig['data'],
): Promise<{ split: Uint8Array; fold: Int32Array }> {
  const split = await splitsOf(staging, c, m.item, s, data.split);
  return { split, fold: await foldsOf(staging, c, m.item, split, s, data) };
}

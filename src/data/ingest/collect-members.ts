import type { IngestStaging } from './ingest-staging.js';
import type { ItemColumns } from './item-columns.js';

/** The items of the new version, by their staged index (seq - 1). */
export interface Members {
  /** In the order the splitter sees them: kept images, then audio, each in input order. */
  item: Int32Array;
  /** Per staged item, its place in `item`; -1 for one left out. */
  memberOf: Int32Array;
}

/**
 * The new version's items: the images validation kept and every audio segment. An id is the
 * content, so copies that validation kept (policy `keep`) become one item: the last copy's,
 * in the place of the first.
 */
export async function collectMembers(
  staging: IngestStaging,
  c: ItemColumns,
  kept: (item: number) => boolean,
): Promise<Members> {
  const replacedBy = new Map<number, number>();
  const absorbed = new Set<number>();
  for (const seqs of await staging.repeatedIds()) {
    const copies = seqs.map((s) => s - 1).filter(kept);
    if (copies.length < 2) continue;
    replacedBy.set(copies[0]!, copies.at(-1)!);
    for (const i of copies.slice(1)) absorbed.add(i);
  }
  const item: number[] = [];
  for (const audio of [0, 1])
    for (let i = 0; i < c.count; i++)
      if (c.audio[i] === audio && kept(i) && !absorbed.has(i)) item.push(replacedBy.get(i) ?? i);
  const memberOf = new Int32Array(c.count).fill(-1);
  item.forEach((i, k) => (memberOf[i] = k));
  return { item: Int32Array.from(item), memberOf };
}

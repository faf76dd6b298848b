/**
 * Helpers for data held as columns, one typed-array entry per item, which is how ingest keeps
 * a large dataset in little memory.
 */

/** Numbers each distinct value in order of first appearance: per value its number, and the values. */
export function numberValues<V>(values: Iterable<V>): { index: Int32Array; distinct: V[] } {
  const numberOf = new Map<V, number>();
  const index = Int32Array.from(values, (v) => {
    let n = numberOf.get(v);
    if (n === undefined) numberOf.set(v, (n = numberOf.size));
    return n;
  });
  return { index, distinct: [...numberOf.keys()] };
}

/** Items grouped by a key (see bucketBy). */
export interface Buckets {
  starts: Int32Array;
  items: Int32Array;
}

/**
 * Item indices sorted by a key from 0 to keys - 1 (a counting sort; items with key -1 are left
 * out): those with key k are items[starts[k] .. starts[k + 1]), in input order.
 */
export function bucketBy(key: Int32Array, keys: number): Buckets {
  const starts = new Int32Array(keys + 1);
  for (const k of key) if (k >= 0) starts[k + 1]!++;
  for (let k = 0; k < keys; k++) starts[k + 1]! += starts[k]!;
  const fill = starts.slice(0, keys);
  const items = new Int32Array(starts[keys]!);
  key.forEach((k, i) => {
    if (k >= 0) items[fill[k]!++] = i;
  });
  return { starts, items };
}

/** The members of bucket k. */
export function bucket(b: Buckets, k: number): Int32Array {
  return b.items.subarray(b.starts[k]!, b.starts[k + 1]!);
}

/** One more than the largest key: how many buckets the keys need. */
export function keyCount(key: Int32Array): number {
  return key.reduce((count, k) => Math.max(count, k + 1), 0);
}

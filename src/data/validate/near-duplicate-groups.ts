import { NearDuplicateIndex } from './near-duplicate-index.js';
import type { PerceptualHash } from './perceptual-hash.js';

export interface NearDuplicateGroups {
  /** Groups of two or more hash indices, each sorted, in order of their first index. */
  groups: number[][];
  /** Pairs within the distance. */
  pairs: number;
}

/**
 * Groups hashes that are within `maxDistance` of each other, transitively (single linkage, by
 * union-find over the pairs), so a resized copy and a recompressed copy of one photo end up in
 * one group even if they are further from each other than from the original.
 */
export function nearDuplicateGroups(
  hashes: readonly PerceptualHash[] | Uint32Array,
  maxDistance: number,
): NearDuplicateGroups {
  const index = new NearDuplicateIndex(hashes, maxDistance);
  const parent = Int32Array.from({ length: index.size }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  let pairs = 0;
  index.forEachPair((a, b) => {
    pairs++;
    const ra = find(a);
    const rb = find(b);
    // The smaller index becomes the root, so groups come out keyed by their first member.
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  });
  const byRoot = new Map<number, number[]>();
  for (let i = 0; i < index.size; i++) {
    const root = find(i);
    // A root is the smallest index of its group, so it is met before the other members.
    if (root === i) byRoot.set(i, [i]);
    else byRoot.get(root)!.push(i);
  }
  const groups = [...byRoot.values()].filter((g) => g.length > 1);
  return { groups, pairs };
}

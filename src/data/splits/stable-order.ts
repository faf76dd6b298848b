import { createHash } from 'node:crypto';

const digest = (seed: number, key: string) => createHash('sha256').update(`${seed}\0${key}`).digest();

/**
 * Keys in a pseudo-random but input-order-independent order under a seed (sorted by the
 * SHA-256 of seed and key). It shuffles the same way on every machine and run, whatever order
 * the source listed items in, and items added later slot in among the old ones instead of
 * reshuffling them all. Sorting uses the first 48 bits of each digest (a number, exact in a
 * double) and the full digest only on a tie, so a large dataset does not hold a hex string per
 * item while sorting.
 */
export function stableSort(seed: number, keys: Iterable<string>): string[] {
  const ranked: { rank: number; key: string }[] = [];
  for (const key of keys) ranked.push({ rank: digest(seed, key).readUIntBE(0, 6), key });
  ranked.sort((a, b) => a.rank - b.rank || Buffer.compare(digest(seed, a.key), digest(seed, b.key)));
  return ranked.map((r) => r.key);
}

import { createHash } from 'node:crypto';

/**
 * A pseudo-random but input-order-independent rank of a key under a seed. Sorting by it
 * shuffles the same way on every machine and run, whatever order the source listed items in,
 * and items added later slot in among the old ones instead of reshuffling them all.
 */
export function stableRank(seed: number, key: string): string {
  return createHash('sha256').update(`${seed}\0${key}`).digest('hex');
}

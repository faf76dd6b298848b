import { createHash } from 'node:crypto';

/** Bytes of seeded order per key. */
const DIGEST_BYTES = 32;

/** Room for the order digests of `count` keys. */
export function orderDigests(count: number): Uint8Array {
  return new Uint8Array(count * DIGEST_BYTES);
}

export function digestCount(digests: Uint8Array): number {
  return digests.length / DIGEST_BYTES;
}

/** Writes the seeded order digest of `key` as the digest of unit `unit`. */
export function writeOrderDigest(seed: number, key: string, digests: Uint8Array, unit: number): void {
  digests.set(createHash('sha256').update(`${seed}\0${key}`).digest(), unit * DIGEST_BYTES);
}

/**
 * Units sorted by their order digests (see stableSort), for callers that hold many keys as
 * numbers. Sorting compares the first 48 bits of each digest as a number, exact in a double,
 * and the full digest only on a tie.
 */
export function orderByDigest(digests: Uint8Array, units: Int32Array): Int32Array {
  const view = new DataView(digests.buffer, digests.byteOffset, digests.byteLength);
  const rank = Float64Array.from(
    units,
    (u) => view.getUint16(u * DIGEST_BYTES) * 2 ** 32 + view.getUint32(u * DIGEST_BYTES + 2),
  );
  const digest = (u: number) => digests.subarray(u * DIGEST_BYTES, (u + 1) * DIGEST_BYTES);
  return Int32Array.from(units.keys())
    .sort((a, b) => rank[a]! - rank[b]! || Buffer.compare(digest(units[a]!), digest(units[b]!)))
    .map((p) => units[p]!);
}

/**
 * Keys in a pseudo-random but input-order-independent order under a seed (sorted by the
 * SHA-256 of seed and key). It shuffles the same way on every machine and run, whatever order
 * the source listed items in, and items added later slot in among the old ones instead of
 * reshuffling them all.
 */
export function stableSort(seed: number, keys: Iterable<string>): string[] {
  const list = [...keys];
  const digests = orderDigests(list.length);
  list.forEach((key, u) => writeOrderDigest(seed, key, digests, u));
  return [...orderByDigest(digests, Int32Array.from(list.keys()))].map((u) => list[u]!);
}

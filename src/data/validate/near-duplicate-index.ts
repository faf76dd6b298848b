import { popcount32, type PerceptualHash } from './perceptual-hash.js';

/** Hamming radii past this make every item probe thousands of buckets per band. */
export const MAX_NEAR_DISTANCE = 12;

const BANDS = 4;
const BAND_VALUES = 1 << 16;

/** Every 16-bit mask with at most `radius` bits set, the bucket keys one band probes. */
function flipMasks(radius: number): Int32Array {
  const masks: number[] = [];
  for (let m = 0; m < BAND_VALUES; m++) if (popcount32(m) <= radius) masks.push(m);
  return Int32Array.from(masks);
}

function hashWords(hashes: readonly PerceptualHash[]): Uint32Array {
  const words = new Uint32Array(2 * hashes.length);
  hashes.forEach((h, i) => {
    words[2 * i] = h.hi;
    words[2 * i + 1] = h.lo;
  });
  return words;
}

function band(words: Uint32Array, i: number, b: number): number {
  const word = words[2 * i + (b >> 1)]!;
  return b & 1 ? word & 0xffff : word >>> 16;
}

/**
 * All pairs of 64-bit hashes within a Hamming distance, by multi-index hashing (Norouzi et al.):
 * the hash is cut into four 16-bit bands, and two hashes within distance d must agree within
 * ⌊d/4⌋ bits on at least one band (pigeonhole). Each band is a bucket table over its 65,536
 * values; an item looks up only the buckets near its own band values and checks the full
 * distance of what it finds there. On 70k photos that is a few million comparisons, not the
 * 2.4 billion of all pairs. Written here because no npm package does this for 64-bit hashes
 * without pulling in a general vector database.
 */
export class NearDuplicateIndex {
  readonly size: number;
  readonly maxDistance: number;
  readonly #words: Uint32Array;
  readonly #masks: Int32Array;
  /** Per band: bucket start offsets (65,537 of them) into `#members`. */
  readonly #starts: Int32Array[] = [];
  readonly #members: Int32Array[] = [];

  /** `hashes` as objects, or as their words (hi, lo, hi, lo, ...) for a large collection. */
  constructor(hashes: readonly PerceptualHash[] | Uint32Array, maxDistance: number) {
    if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > MAX_NEAR_DISTANCE) {
      throw new RangeError(
        `the near-duplicate distance must be an integer in 0–${MAX_NEAR_DISTANCE}, got ${maxDistance}`,
      );
    }
    this.maxDistance = maxDistance;
    this.#words = hashes instanceof Uint32Array ? hashes : hashWords(hashes);
    this.size = this.#words.length / 2;
    this.#masks = flipMasks(Math.floor(maxDistance / BANDS));
    // Counting sort of the items by each band's value: two flat arrays per band, no Map.
    for (let b = 0; b < BANDS; b++) {
      const starts = new Int32Array(BAND_VALUES + 1);
      for (let i = 0; i < this.size; i++) starts[band(this.#words, i, b) + 1]!++;
      for (let v = 0; v < BAND_VALUES; v++) starts[v + 1]! += starts[v]!;
      const fill = starts.slice(0, BAND_VALUES);
      const members = new Int32Array(this.size);
      for (let i = 0; i < this.size; i++) members[fill[band(this.#words, i, b)]!++] = i;
      this.#starts.push(starts);
      this.#members.push(members);
    }
  }

  distance(a: number, b: number): number {
    const w = this.#words;
    return popcount32(w[2 * a]! ^ w[2 * b]!) + popcount32(w[2 * a + 1]! ^ w[2 * b + 1]!);
  }

  /**
   * Calls `visit(a, b, distance)` once for every pair a < b within the distance, in increasing
   * order of a (so a pass can decide about `a` from pairs with earlier items before it looks
   * at later ones). Pairs are not stored: for near-identical collections they can outnumber
   * the items by orders of magnitude.
   */
  forEachPair(visit: (a: number, b: number, distance: number) => void): void {
    const seen = new Int32Array(this.size).fill(-1);
    for (let a = 0; a < this.size; a++) {
      for (let b = 0; b < BANDS; b++) {
        const value = band(this.#words, a, b);
        const starts = this.#starts[b]!;
        const members = this.#members[b]!;
        for (let m = 0; m < this.#masks.length; m++) {
          const key = value ^ this.#masks[m]!;
          for (let k = starts[key]!, end = starts[key + 1]!; k < end; k++) {
            const other = members[k]!;
            if (other <= a || seen[other] === a) continue;
            seen[other] = a;
            const d = this.distance(a, other);
            if (d <= this.maxDistance) visit(a, other, d);
          }
        }
      }
    }
  }
}

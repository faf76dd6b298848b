/**
 * A 64-bit DCT perceptual hash (pHash), the variant of Python's `imagehash.phash`: a 32×32
 * greyscale image, its 2-D DCT-II, the 8×8 lowest frequencies, each bit set when its coefficient
 * is above their median. Resizing, recompression and small brightness or contrast changes move
 * few bits; different photos differ in about half of them.
 *
 * Written here rather than taken from `sharp-phash` (the maintained npm package): that package
 * decodes the image a second time, while validation already decodes every image once, at 32×32
 * greyscale, to prove it is readable; the same pixels give the hash for free. It also returns a
 * 64-character '0'/'1' string, where grouping 70k images wants two 32-bit words.
 */

/** Side of the greyscale image the hash is computed from. */
export const PHASH_INPUT_SIZE = 32;
const LOW = 8;

/** A 64-bit hash as two unsigned 32-bit words: bits 0–31 (row-major from the DC term) in `hi`. */
export interface PerceptualHash {
  hi: number;
  lo: number;
}

// cos(π (2n + 1) k / 2N) for the 8 frequencies kept; the DCT scale factors are left out, as in
// scipy's unnormalised DCT that imagehash uses, since one common factor cannot change a comparison
// with the median.
const COS = Float64Array.from({ length: LOW * PHASH_INPUT_SIZE }, (_, i) => {
  const k = Math.floor(i / PHASH_INPUT_SIZE);
  const n = i % PHASH_INPUT_SIZE;
  return Math.cos((Math.PI * (2 * n + 1) * k) / (2 * PHASH_INPUT_SIZE));
});

/** The pHash of 32×32 8-bit greyscale pixels (row-major). */
export function perceptualHash(pixels: Uint8Array): PerceptualHash {
  const N = PHASH_INPUT_SIZE;
  if (pixels.length !== N * N)
    throw new RangeError(`pHash needs ${N}×${N} pixels, got ${pixels.length} values`);
  // Separable DCT, computing only the 8 lowest frequencies: first along rows, then columns.
  const rows = new Float64Array(N * LOW);
  for (let y = 0; y < N; y++) {
    for (let u = 0; u < LOW; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += pixels[y * N + x]! * COS[u * N + x]!;
      rows[y * LOW + u] = s;
    }
  }
  const low = new Float64Array(LOW * LOW);
  for (let v = 0; v < LOW; v++) {
    for (let u = 0; u < LOW; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * LOW + u]! * COS[v * N + y]!;
      low[v * LOW + u] = s;
    }
  }
  const sorted = Float64Array.from(low).sort();
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 32; i++) if (low[i]! > median) hi |= 1 << (31 - i);
  for (let i = 0; i < 32; i++) if (low[32 + i]! > median) lo |= 1 << (31 - i);
  return { hi: hi >>> 0, lo: lo >>> 0 };
}

/** Number of set bits of a 32-bit word. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function hammingDistance(a: PerceptualHash, b: PerceptualHash): number {
  return popcount32(a.hi ^ b.hi) + popcount32(a.lo ^ b.lo);
}

/** 16 lower-case hex digits, as stored in reports. */
export function perceptualHashToHex(h: PerceptualHash): string {
  return h.hi.toString(16).padStart(8, '0') + h.lo.toString(16).padStart(8, '0');
}

export function perceptualHashFromHex(hex: string): PerceptualHash {
  if (!/^[0-9a-f]{16}$/.test(hex)) throw new RangeError(`not a 64-bit hex hash: ${JSON.stringify(hex)}`);
  return { hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8), 16) };
}

/**
 * Decides from the first bytes whether a body is a raster image, and which one. The URL and the
 * Content-Type header are never consulted: servers send HTML error pages as `200 image/jpeg`.
 *
 * Written here rather than taken from `file-type` because that package is not installed, its
 * current major needs Node 22 (Loupe supports 20), and only an allow-list of seven image formats
 * is needed, each a published fixed signature (sources: the JPEG/JFIF, PNG, GIF89a, RIFF/WebP,
 * TIFF 6.0, BMP and ISO/IEC 23008-12 HEIF specifications).
 */

export interface SniffedImage {
  mime: string;
  ext: string;
}

/** Enough bytes to recognise every format below, a long ISO-BMFF brand list included. */
export const SNIFF_BYTES = 256;

const ascii = (bytes: Uint8Array, at: number, text: string): boolean => {
  if (bytes.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};

const startsWith = (bytes: Uint8Array, sig: readonly number[]): boolean =>
  bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);

const u32be = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const u32le = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const HEIF_BRANDS = new Set(['mif1', 'msf1']);

/** HEIF family: an ISO-BMFF `ftyp` box whose major or compatible brands name an image format. */
function sniffHeif(bytes: Uint8Array): SniffedImage | undefined {
  if (!ascii(bytes, 4, 'ftyp') || bytes.length < 12) return undefined;
  const boxEnd = Math.min(u32be(bytes, 0), bytes.length);
  const brands = [String.fromCharCode(...bytes.subarray(8, 12))];
  // Compatible brands follow the major brand and the 4-byte minor version.
  for (let at = 16; at + 4 <= boxEnd; at += 4)
    brands.push(String.fromCharCode(...bytes.subarray(at, at + 4)));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return { mime: 'image/avif', ext: 'avif' };
  if (brands.some((b) => HEIC_BRANDS.has(b))) return { mime: 'image/heic', ext: 'heic' };
  if (brands.some((b) => HEIF_BRANDS.has(b))) return { mime: 'image/heif', ext: 'heif' };
  return undefined; // mp4, mov, 3gp…: same container, not an image
}

/** BMP's "BM" alone would match any text starting with those letters; the DIB header size pins it. */
const BMP_DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** The image format of `bytes` (its first SNIFF_BYTES suffice), or undefined when it is not one. */
export function sniffImage(bytes: Uint8Array): SniffedImage | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { mime: 'image/jpeg', ext: 'jpg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { mime: 'image/png', ext: 'png' };
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return { mime: 'image/gif', ext: 'gif' };
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return { mime: 'image/webp', ext: 'webp' };
  // Classic TIFF (42) and BigTIFF (43), both byte orders.
  if (
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) ||
    startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])
  )
    return { mime: 'image/tiff', ext: 'tiff' };
  if (ascii(bytes, 0, 'BM') && bytes.length >= 18 && BMP_DIB_SIZES.has(u32le(bytes, 14)))
    return { mime: 'image/bmp', ext: 'bmp' };
  return sniffHeif(bytes);
}

/** A short, printable description of what a non-image body starts with, for failure reasons. */
export function describeBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'an empty body';
  const head = Buffer.from(bytes.subarray(0, 16));
  const text = head.toString('latin1');
  // eslint-disable-next-line no-control-regex
  const printable = /^[\x09\x0a\x0d\x20-\x7e]+$/.test(text);
  return printable
    ? `a body starting with ${JSON.stringify(text.trimStart().slice(0, 16))}`
    : `a body starting with 0x${head.toString('hex')}`;
}

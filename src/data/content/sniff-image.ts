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

/**
 * Names what a file that is not a readable image holds, so the report can say "an HTML page"
 * (a download that got an error page or a login wall) instead of only "unsupported format".
 * It runs only after sniffing or decoding said no, so it describes; it never decides.
 */
export function describeContent(head: Uint8Array): string {
  if (head.length === 0) return 'nothing (empty)';
  const text = Buffer.from(head).toString('latin1');
  const dib = head.length >= 18 ? Buffer.from(head).readUInt32LE(14) : 0;
  if (text.startsWith('BM') && [12, 40, 52, 56, 108, 124].includes(dib))
    return 'a BMP image, a format the decoder does not read (convert it to PNG)';
  if (text.startsWith('%PDF')) return 'a PDF document';
  if (text.startsWith('PK\x03\x04')) return 'a ZIP archive';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip-compressed data';
  const start = text.replace(/^\xEF\xBB\xBF/, '').trimStart();
  if (/^<(!doctype html|html|head|body)\b/i.test(start)) return 'an HTML page';
  if (/^<\?xml|^</.test(start)) return 'XML or markup';
  if (/^[{[]/.test(start)) return 'JSON';
  // Text when nearly every byte is printable ASCII, whitespace or part of a UTF-8 sequence.
  let printable = 0;
  for (const b of head) if (b === 9 || b === 10 || b === 13 || (b >= 32 && b !== 127)) printable++;
  if (head.length && printable / head.length > 0.95) return 'text';
  return 'data of no known image format';
}

import { open, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { PHASH_INPUT_SIZE, perceptualHash, perceptualHashToHex } from './perceptual-hash.js';
import { describeContent } from '../content/sniff-image.js';
import type { ImageInspection, ImageReason } from './validation-item.js';
import { INVALID_IMAGE_CHECKS, type ValidationPolicy } from './validation-policy.js';

export type InspectOptions = Pick<ValidationPolicy, 'minWidth' | 'minHeight' | 'maxPixels' | 'failOn'> & {
  /**
   * Images whose shorter side is below this get no perceptual hash (they are not compared):
   * their decode then skips the resize, which costs more than the decode itself on thumbnails.
   */
  hashMinSide?: number;
};

/** The image as a file path or as bytes (exactly one). */
export interface ImageSource {
  file?: string;
  bytes?: Uint8Array;
}

const HEAD_BYTES = 512;

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isFileError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

async function byteSize(src: ImageSource): Promise<number> {
  if (src.bytes) return src.bytes.length;
  return (await stat(src.file!)).size;
}

async function head(src: ImageSource): Promise<Uint8Array> {
  if (src.bytes) return src.bytes.subarray(0, HEAD_BYTES);
  const fh = await open(src.file!, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The conversions the decoder will make to reach upright, single-frame, opaque 8-bit sRGB. */
function normalisations(m: Metadata): ImageReason[] {
  const reasons: ImageReason[] = [];
  if (m.space === 'cmyk') reasons.push({ check: 'cmyk', message: 'CMYK colour, converted to sRGB' });
  if (m.depth !== 'uchar') {
    const bits = m.bitsPerSample ?? (m.depth === 'ushort' ? 16 : undefined);
    reasons.push({
      check: 'highBitDepth',
      message: `${bits ? `${bits} bits per sample` : `${m.depth} samples`}, reduced to 8 bits`,
    });
  }
  if (m.hasAlpha) reasons.push({ check: 'alpha', message: 'transparency, composited onto white' });
  if (m.isPalette) reasons.push({ check: 'palette', message: 'palette colour, expanded' });
  if (m.space === 'b-w' || m.space === 'grey16' || m.channels <= 2) {
    reasons.push({ check: 'greyscale', message: 'a single (grey) channel' });
  }
  if (m.orientation !== undefined && m.orientation !== 1) {
    reasons.push({ check: 'rotated', message: `EXIF orientation ${m.orientation}, turned upright` });
  }
  if ((m.pages ?? 1) > 1)
    reasons.push({ check: 'animated', message: `${m.pages} frames, the first is used` });
  return reasons;
}

const INVALID: ReadonlySet<string> = new Set(INVALID_IMAGE_CHECKS);

function result(
  hash: string,
  reasons: ImageReason[],
  rest: Omit<ImageInspection, 'hash' | 'status' | 'reasons'> = {},
): ImageInspection {
  // Invalid reasons first: they decide what happens to the item.
  const sorted = [
    ...reasons.filter((r) => INVALID.has(r.check)),
    ...reasons.filter((r) => !INVALID.has(r.check)),
  ];
  const status = sorted.some((r) => INVALID.has(r.check)) ? 'invalid' : reasons.length ? 'normalised' : 'ok';
  return { hash, status, reasons: sorted, ...rest };
}

/**
 * Reads an image's header, then decodes all of it to prove it is whole: metadata alone passes
 * a JPEG cut in half. The decode is a greyscale 32×32 thumbnail (every source pixel still goes
 * through the decoder, and sharp's `failOn` turns a premature end or corrupt data into an
 * error), which is also exactly what the perceptual hash needs. The pixel limit is checked on
 * the header first, so a decompression bomb is never decoded. Never throws: every problem is
 * a reason in the result.
 */
export async function inspectImage(
  src: ImageSource,
  hash: string,
  o: InspectOptions,
): Promise<ImageInspection> {
  const input = src.bytes ?? src.file!;
  let size: number;
  try {
    size = await byteSize(src);
  } catch (e) {
    return result(hash, [{ check: 'unreadable', message: `cannot read the file: ${messageOf(e)}` }]);
  }
  if (size === 0) return result(hash, [{ check: 'empty', message: 'the file is empty (0 bytes)' }]);

  let meta: Metadata;
  try {
    meta = await sharp(input, { failOn: o.failOn }).metadata();
  } catch (e) {
    if (isFileError(e))
      return result(hash, [{ check: 'unreadable', message: `cannot read: ${messageOf(e)}` }]);
    if (/unsupported image format/i.test(messageOf(e))) {
      const what = await head(src).then(describeContent, () => 'unreadable content');
      return result(hash, [{ check: 'notImage', message: `not an image: ${what}` }]);
    }
    return result(hash, [{ check: 'undecodable', message: `corrupt header: ${messageOf(e)}` }]);
  }

  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  const known = { width, height, format: meta.format };
  const reasons = normalisations(meta);
  const pixels = meta.width * (meta.pageHeight ?? meta.height);
  if (pixels > o.maxPixels) {
    const message = `${meta.width}×${meta.pageHeight ?? meta.height} is ${pixels.toLocaleString('en-US')} pixels, above the limit of ${o.maxPixels.toLocaleString('en-US')}`;
    return result(hash, [{ check: 'tooLarge', message }, ...reasons], known);
  }
  // A small image is still decoded: if policy keeps it, it must at least be whole.
  if (width < o.minWidth || height < o.minHeight) {
    reasons.push({
      check: 'tooSmall',
      message: `${width}×${height} is below the minimum ${o.minWidth}×${o.minHeight}`,
    });
  }

  const hashed = Math.min(width, height) >= (o.hashMinSide ?? 0);
  let grey: Buffer;
  try {
    const decoder = sharp(input, { failOn: o.failOn, limitInputPixels: o.maxPixels, autoOrient: true });
    grey = hashed
      ? await decoder
          .flatten({ background: '#ffffff' })
          .greyscale()
          .resize(PHASH_INPUT_SIZE, PHASH_INPUT_SIZE, { fit: 'fill' })
          .raw({ depth: 'uchar' })
          .toBuffer()
      : await decoder.raw().toBuffer();
  } catch (e) {
    const why = messageOf(e);
    if (/pixel limit/i.test(why))
      return result(hash, [{ check: 'tooLarge', message: why }, ...reasons], known);
    // libvips reports the same truncation sometimes by its cause ("premature end of JPEG
    // image"), sometimes only as "Warning treated as error", so the message is not parsed.
    const message = `truncated or corrupt: ${why}`;
    return result(hash, [{ check: 'undecodable', message }, ...reasons], known);
  }
  if (!hashed) return result(hash, reasons, known);
  if (grey.length !== PHASH_INPUT_SIZE * PHASH_INPUT_SIZE) {
    return result(
      hash,
      [{ check: 'undecodable', message: `decoded to ${grey.length} values` }, ...reasons],
      known,
    );
  }
  return result(hash, reasons, { ...known, phash: perceptualHashToHex(perceptualHash(grey)) });
}

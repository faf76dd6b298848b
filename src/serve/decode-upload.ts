import sharp from 'sharp';
import { sniffImage } from '../data/content/sniff-image.js';
import { LoupeError } from '../errors/loupe-error.js';
import type { ImagePreprocessing } from '../features/image/image-preprocessing.js';
import { preprocessImage } from '../features/image/preprocess.js';
import { TIMED_OUT, type FastDecoder } from './inference/fast-decoder.js';

export interface DecodeLimits {
  maxPixels: number;
  timeoutMs: number;
}

/** Where a decoded upload goes: sample `index` of a batch tensor, by the fast decoder when it can. */
export interface DecodeInto {
  out: Float32Array;
  index: number;
  fast?: FastDecoder | undefined;
}

const ACCEPTED = 'JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF or HEIF';

const timedOut = (limits: DecodeLimits, cause?: unknown) =>
  new LoupeError(
    'TOO_LARGE',
    `decoding the image took longer than ${limits.timeoutMs} ms`,
    undefined,
    cause === undefined ? undefined : { cause },
  );

/**
 * Decodes an uploaded image into the model's input tensor, or throws a client error saying
 * exactly what is wrong. Most uploads take the fast decoder; whatever it declines, sharp decodes
 * (and only sharp's failures become the error messages).
 * The bytes decide what the content is — never the file name or the Content-Type, which clients
 * get wrong and attackers choose — and only raster formats are decoded: an SVG could reference
 * external files or URLs when rendered, and text or HTML is no image at all. The pixel count is
 * read from the header and refused before any decoding, so a small file that would expand to
 * gigabytes (a decompression bomb) costs nothing.
 */
export async function decodeUpload(
  bytes: Uint8Array,
  preprocessing: ImagePreprocessing,
  limits: DecodeLimits,
  into: DecodeInto,
): Promise<void> {
  if (bytes.length === 0) throw new LoupeError('INVALID_ARGUMENT', 'the image is empty (0 bytes)');
  const format = sniffImage(bytes.subarray(0, 256));
  if (!format) {
    const head = Buffer.from(bytes.subarray(0, 512)).toString('utf8').trimStart().toLowerCase();
    const looks =
      head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))
        ? 'an SVG drawing'
        : head.startsWith('<')
          ? 'HTML or XML'
          : [...head.slice(0, 64)].every(
                (ch) => ch === '\t' || ch === '\n' || ch === '\r' || (ch >= ' ' && ch <= '~'),
              )
            ? 'text'
            : 'not an image format Loupe decodes';
    throw new LoupeError('UNSUPPORTED_MEDIA', `the upload is ${looks}; send a ${ACCEPTED} image`);
  }
  const declined = into.fast?.decodeInto(bytes, into.out, into.index);
  if (into.fast && declined === undefined) return;
  if (declined === TIMED_OUT) throw timedOut(limits);
  try {
    // limitInputPixels refuses an image from its header, before any pixel is decoded.
    const { x } = await preprocessImage(bytes, preprocessing, {
      maxInputPixels: limits.maxPixels,
      timeoutSeconds: Math.max(1, Math.ceil(limits.timeoutMs / 1000)),
    });
    into.out.set(x, into.index * x.length);
  } catch (e) {
    // Only a failure pays for a second look at the header, to say exactly what is wrong.
    let width: number | undefined;
    let height: number | undefined;
    try {
      ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
    } catch (m) {
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `the ${format.mime} image cannot be read: ${(m as Error).message}`,
        undefined,
        {
          cause: m,
        },
      );
    }
    if (width && height && width * height > limits.maxPixels)
      throw new LoupeError(
        'TOO_LARGE',
        `the image is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} megapixels); the limit is ${(limits.maxPixels / 1e6).toFixed(1)} megapixels`,
        undefined,
        { cause: e },
      );
    const message = (e as Error).message;
    if (/timeout/i.test(message)) throw timedOut(limits, e);
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the ${format.mime} image cannot be decoded: ${message.replace(/^cannot decode an image buffer of \d+ bytes: /, '')}`,
      undefined,
      {
        cause: e,
      },
    );
  }
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';

/** Sizes a client may ask for: a card's thumbnail and the review page's large view. */
export const PREVIEW_SIZES = [160, 320, 640] as const;
export type PreviewSize = (typeof PREVIEW_SIZES)[number];

/** The `?size=` of a preview route. */
export const previewQuery = (defaultSize: PreviewSize) =>
  z.object({
    size: z.coerce
      .number()
      .refine((n): n is PreviewSize => (PREVIEW_SIZES as readonly number[]).includes(n), {
        message: `one of ${PREVIEW_SIZES.join(', ')}`,
      })
      .default(defaultSize),
  });

/**
 * A stored image as a small upright WebP, no larger than size×size. The bytes passed the upload
 * checks when they were classified; the pixel limit still applies, as rendering is a decode too.
 */
export async function renderPreview(
  blobs: BlobStore,
  hash: string,
  size: PreviewSize,
  maxPixels: number,
): Promise<Buffer> {
  try {
    return await sharp(blobs.pathOf(hash), { autoOrient: true, limitInputPixels: maxPixels })
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `the stored image cannot be shown: ${(e as Error).message}`,
      undefined,
      {
        cause: e,
      },
    );
  }
}

/**
 * Answers with a preview of a blob. A blob's bytes never change, so the preview of (hash, size)
 * is cached by the browser for good, and revalidation by ETag costs no rendering. `private`:
 * the images are behind a sign-in, so shared caches must not keep them.
 */
export async function sendPreview(
  request: FastifyRequest,
  reply: FastifyReply,
  blobs: BlobStore,
  o: { hash: string; size: PreviewSize; maxPixels: number },
): Promise<FastifyReply> {
  const etag = `"${o.hash.slice(0, 32)}-${o.size}"`;
  void reply.header('cache-control', 'private, max-age=31536000, immutable').header('etag', etag);
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  const webp = await renderPreview(blobs, o.hash, o.size, o.maxPixels);
  return reply.type('image/webp').header('x-content-type-options', 'nosniff').send(webp);
}

import type { ImagePreprocessing } from '../features/image/image-preprocessing.js';
import { preprocessImage, preprocessImages } from '../features/image/preprocess.js';
import { skippedFor, type SkippedFile } from './input-files.js';

export interface DecodedImages {
  /** The decodable images' inputs, one after another, in `paths` order. */
  x: Float32Array;
  /** Which of `paths` are in `x`. */
  decoded: string[];
  /** The rest, each with the decoder's reason. */
  failed: SkippedFile[];
}

/**
 * Preprocesses a batch of image files for a classifier, leaving out those that cannot be decoded.
 * preprocessImages rejects a whole batch for one bad file, so only a failing batch is redone file
 * by file to find the culprits: the common all-good batch costs no more than before.
 */
export async function decodeImages(paths: readonly string[], p: ImagePreprocessing): Promise<DecodedImages> {
  try {
    return { x: (await preprocessImages(paths, p)).x, decoded: [...paths], failed: [] };
  } catch {
    const one = await Promise.all(
      paths.map((file) =>
        preprocessImage(file, p).then(
          (b) => ({ file, x: b.x }),
          (e: unknown) => ({ file, skipped: skippedFor(file, e) }),
        ),
      ),
    );
    const ok = one.filter((r): r is { file: string; x: Float32Array } => 'x' in r);
    const x = new Float32Array(ok.reduce((a, r) => a + r.x.length, 0));
    ok.forEach((r, i) => x.set(r.x, i * r.x.length));
    return {
      x,
      decoded: ok.map((r) => r.file),
      failed: one.flatMap((r) => ('skipped' in r ? [r.skipped] : [])),
    };
  }
}

import path from 'node:path';
import sharp from 'sharp';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { readIdxLabels, streamIdxImages } from '../sources/idx.js';
import type { Split } from '../versions/manifest.js';
import type { Candidate, IngestProgress, SourceResult } from './candidate.js';

export interface IdxIngestOptions {
  images: string;
  labels: string;
  /** The split these files are (MNIST ships train and t10k files); none: decided by the split settings. */
  split?: Split;
  /** Names for labels 0, 1, 2, ...; default: the numbers themselves. */
  classNames?: string[];
}

/** An IDX image/label pair (MNIST, Fashion-MNIST): each image becomes a greyscale PNG blob. */
export async function candidatesFromIdx(
  o: IdxIngestOptions,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): Promise<SourceResult> {
  const labels = await readIdxLabels(o.labels);
  const name = path.basename(o.images);
  const candidates: Candidate[] = [];
  let declared = 0;
  let done = 0;
  // Images stream from the file and are encoded a few at a time: memory stays flat however large it is.
  const inFlight = new Set<Promise<void>>();
  for await (const image of streamIdxImages(o.images)) {
    declared = image.count;
    if (labels.length !== image.count) {
      throw new LoupeError(
        'CORRUPT_FILE',
        `${o.labels}: ${labels.length} labels for the ${image.count} images of ${o.images}`,
        { file: o.labels },
      );
    }
    const label = labels[image.index]!;
    const className = o.classNames ? o.classNames[label] : String(label);
    if (className === undefined) {
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${o.labels} has label ${label} but only ${o.classNames!.length} class names were given`,
      );
    }
    const task = sharp(image.pixels, { raw: { width: image.cols, height: image.rows, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 6 })
      .toBuffer()
      .then((png) => blobs.put(png))
      .then((blob) => {
        candidates[image.index] = {
          kind: 'image',
          blob,
          label: className,
          source: `idx://${name}#${image.index}`,
          ...(o.split ? { split: o.split } : {}),
        };
        if (++done % 500 === 0) onProgress?.('convert', done, image.count);
      });
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  onProgress?.('convert', declared, declared);
  return { candidates, rejected: [], details: { images: o.images, labels: o.labels, count: declared } };
}

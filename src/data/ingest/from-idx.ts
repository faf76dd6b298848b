import path from 'node:path';
import sharp from 'sharp';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { readIdxPair } from '../sources/idx.js';
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
  const data = await readIdxPair(o.images, o.labels);
  const size = data.rows * data.cols;
  const name = path.basename(o.images);
  const candidates: Candidate[] = new Array(data.count);
  let done = 0;
  await mapConcurrent(
    Array.from({ length: data.count }, (_, i) => i),
    8,
    async (i) => {
      const label = data.labels[i]!;
      const className = o.classNames ? o.classNames[label] : String(label);
      if (className === undefined) {
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `${o.labels} has label ${label} but only ${o.classNames!.length} class names were given`,
        );
      }
      const pixels = data.pixels.subarray(i * size, (i + 1) * size);
      const png = await sharp(pixels, { raw: { width: data.cols, height: data.rows, channels: 1 } })
        .toColourspace('b-w')
        .png({ compressionLevel: 6 })
        .toBuffer();
      candidates[i] = {
        kind: 'image',
        blob: await blobs.put(png),
        label: className,
        source: `idx://${name}#${i}`,
        ...(o.split ? { split: o.split } : {}),
      };
      if (++done % 500 === 0 || done === data.count) onProgress?.('convert', done, data.count);
    },
  );
  return {
    candidates,
    rejected: [],
    details: { images: o.images, labels: o.labels, count: data.count, size: [data.rows, data.cols] },
  };
}

import path from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { readIdxLabels, streamIdxImages, type IdxImage } from '../sources/idx.js';
import type { Split } from '../versions/manifest.js';
import {
  collectCandidates,
  type Candidate,
  type CandidateStream,
  type IngestProgress,
  type SourceResult,
} from './candidate.js';

export interface IdxIngestOptions {
  images: string;
  labels: string;
  /** The split these files are (MNIST ships train and t10k files); none: decided by the split settings. */
  split?: Split;
  /** Names for labels 0, 1, 2, ...; default: the numbers themselves. */
  classNames?: string[];
}

/** An IDX image/label pair (MNIST, Fashion-MNIST): each image becomes a greyscale PNG blob. */
export function idxCandidates(
  o: IdxIngestOptions,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): CandidateStream {
  return async (sink) => {
    const labels = await readIdxLabels(o.labels);
    const name = path.basename(o.images);
    let declared = 0;
    let done = 0;
    const encode = async (image: IdxImage): Promise<Candidate> => {
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
      const png = await sharp(image.pixels, { raw: { width: image.cols, height: image.rows, channels: 1 } })
        .toColourspace('b-w')
        .png({ compressionLevel: 6 })
        .toBuffer();
      const blob = await blobs.put(png);
      if (++done % 500 === 0) onProgress?.('convert', done, image.count);
      return {
        kind: 'image',
        blob,
        label: className,
        source: `idx://${name}#${image.index}`,
        ...(o.split ? { split: o.split } : {}),
      };
    };
    // Images stream from the file and are encoded a few at a time, handed on in file order:
    // memory stays flat however large the file is.
    const encoded = Readable.from(streamIdxImages(o.images)).map(encode, { concurrency: 8 });
    for await (const candidate of encoded) await sink(candidate as Candidate);
    onProgress?.('convert', declared, declared);
    return { rejected: [], details: { images: o.images, labels: o.labels, count: declared } };
  };
}

export function candidatesFromIdx(
  o: IdxIngestOptions,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): Promise<SourceResult> {
  return collectCandidates(idxCandidates(o, blobs, onProgress));
}

import path from 'node:path';
import { LoupeError, isLoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { listImageFolder } from '../sources/image-folder.js';
import type { Candidate, IngestProgress, Rejection, SourceResult } from './candidate.js';
import { mapConcurrent } from '../../util/map-concurrent.js';

/** A folder per class (optionally under train/ val/ test/): every file is copied into the blob store. */
export async function candidatesFromFolder(
  root: string,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): Promise<SourceResult> {
  const listing = await listImageFolder(root);
  const files = Object.entries(listing.splits).flatMap(([split, s]) =>
    s.paths.map((p, i) => ({
      path: p,
      label: listing.classes[s.labels[i]!]!,
      split: split as Candidate['split'],
    })),
  );
  const candidates: Candidate[] = [];
  const rejected: Rejection[] = [];
  let done = 0;
  await mapConcurrent(files, 8, async (f) => {
    const source = path.relative(root, f.path);
    try {
      const { hash } = await blobs.putFile(f.path);
      candidates.push({
        kind: 'image',
        blob: hash,
        label: f.label,
        source,
        ...(listing.predefined ? { split: f.split } : {}),
      });
    } catch (e) {
      if (isLoupeError(e, 'DISK_FULL')) throw e;
      rejected.push({ source, reason: 'unreadable file', detail: isLoupeError(e) ? e.message : String(e) });
    }
    onProgress?.('copy', ++done, files.length);
  });
  if (!candidates.length && !rejected.length) throw new LoupeError('NOT_FOUND', `no images under ${root}`);
  return {
    candidates,
    rejected,
    details: {
      classes: listing.classes,
      predefinedSplits: listing.predefined ? Object.keys(listing.splits) : [],
    },
  };
}

import path from 'node:path';
import { Readable } from 'node:stream';
import { LoupeError, isLoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { listImageFolder } from '../sources/image-folder.js';
import {
  collectCandidates,
  type Candidate,
  type CandidateStream,
  type IngestProgress,
  type Rejection,
  type SourceResult,
} from './candidate.js';

/** A folder per class (optionally under train/ val/ test/): every file is copied into the blob store. */
export function folderCandidates(
  root: string,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): CandidateStream {
  return async (sink) => {
    const listing = await listImageFolder(root);
    const files = Object.entries(listing.splits).flatMap(([split, s]) =>
      s.paths.map((p, i) => ({
        path: p,
        label: listing.classes[s.labels[i]!]!,
        split: split as Candidate['split'],
      })),
    );
    const rejected: Rejection[] = [];
    let found = 0;
    let done = 0;
    const copy = async (f: (typeof files)[number]): Promise<Candidate | Rejection> => {
      const source = path.relative(root, f.path);
      try {
        const { hash } = await blobs.putFile(f.path);
        return {
          kind: 'image',
          blob: hash,
          label: f.label,
          source,
          ...(listing.predefined ? { split: f.split } : {}),
        };
      } catch (e) {
        if (isLoupeError(e, 'DISK_FULL')) throw e;
        return { source, reason: 'unreadable file', detail: isLoupeError(e) ? e.message : String(e) };
      } finally {
        onProgress?.('copy', ++done, files.length);
      }
    };
    // Copied a few at a time, handed on in listing order, so the order is the same on every run.
    for await (const r of Readable.from(files).map(copy, { concurrency: 8 })) {
      const result = r as Candidate | Rejection;
      if ('reason' in result) rejected.push(result);
      else {
        found++;
        await sink(result);
      }
    }
    if (!found && !rejected.length) throw new LoupeError('NOT_FOUND', `no images under ${root}`);
    return {
      rejected,
      details: {
        classes: listing.classes,
        predefinedSplits: listing.predefined ? Object.keys(listing.splits) : [],
      },
    };
  };
}

export function candidatesFromFolder(
  root: string,
  blobs: BlobStore,
  onProgress?: IngestProgress,
): Promise<SourceResult> {
  return collectCandidates(folderCandidates(root, blobs, onProgress));
}

import { LoupeError } from '../../errors/loupe-error.js';
import { FsBlobStore, type BlobStore } from '../blob-store.js';
import type { Database } from '../database.js';
import { markReferences } from './blob-references.js';
import { sweepBlobs, type SweepTallies } from './blob-sweep.js';

/** Default grace period: longer than any ingest or upload takes between writing a blob and referencing it. */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;

/** Missing blobs listed by name in a report; the count covers them all. */
const MISSING_LISTED = 100;

export interface GcOptions {
  /** Unreferenced files last written more recently than this are kept. */
  graceMs: number;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  now?: Date;
  signal?: AbortSignal;
  onProgress?: (stage: 'mark' | 'sweep', done: number, total: number) => void;
}

export interface GcReport extends SweepTallies {
  dryRun: boolean;
  graceMs: number;
  /** Files last written before this were old enough to remove. */
  cutoff: string;
  /** Blobs something references that are not on the disk: data already lost. */
  missing: { count: number; blobs: { hash: string; referencedBy: string }[] };
}

/**
 * Garbage collection of a workspace's blob store, mark and sweep: every blob reachable from the
 * database is kept (markReferences), and of the rest, blobs and temporary files older than the
 * grace period are deleted (sweepBlobs). Deleting happens only after the whole mark succeeded.
 *
 * No lock is taken: other processes keep writing while gc runs. The grace period is the guard:
 * a writer stores its blobs before it commits the row naming them, and a blob written after gc
 * started is younger than the cutoff, which is fixed before marking begins.
 */
export async function collectGarbage(
  store: { db: Database; blobs: BlobStore },
  o: GcOptions,
): Promise<GcReport> {
  if (!(store.blobs instanceof FsBlobStore))
    throw new LoupeError('INTERNAL', 'gc knows only the blob store on the local disk (FsBlobStore)');
  if (!Number.isFinite(o.graceMs) || o.graceMs < 0)
    throw new LoupeError('INVALID_ARGUMENT', `the grace period must be 0 or more, got ${o.graceMs} ms`);
  const cutoffMs = (o.now ?? new Date()).getTime() - o.graceMs;
  const marked = await markReferences(store, {
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (done, total) => o.onProgress?.('mark', done, total),
  });
  const tallies = await sweepBlobs(store.blobs.root, marked, {
    cutoffMs,
    dryRun: o.dryRun ?? false,
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (done, total) => o.onProgress?.('sweep', done, total),
  });
  // What the sweep did not find; only a required reference's absence is data loss.
  let count = 0;
  const blobs: GcReport['missing']['blobs'] = [];
  for (const [hash, ref] of marked) {
    if (!ref.required) continue;
    if (++count <= MISSING_LISTED) blobs.push({ hash, referencedBy: ref.from });
  }
  return {
    dryRun: o.dryRun ?? false,
    graceMs: o.graceMs,
    cutoff: new Date(cutoffMs).toISOString(),
    ...tallies,
    missing: { count, blobs },
  };
}

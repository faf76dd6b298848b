import type { Dirent } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import type { ReferenceMap } from './blob-references.js';

export interface Tally {
  files: number;
  bytes: number;
}

/** What the sweep found on disk, by kind of file. */
export interface SweepTallies {
  /** Blobs something references: always kept, damaged or not. */
  referenced: Tally;
  /** Unreferenced blobs written within the grace period: kept (an ingest may be about to reference them). */
  recent: Tally;
  /** Unreferenced blobs older than the grace period: removed, or with dryRun what would be. */
  orphans: Tally;
  /** Temporary files a crashed write left, older than the grace period: removed likewise. */
  staleTemporary: Tally;
  /** Temporary files of writes that may still be running: kept. */
  recentTemporary: Tally;
  /** Files that are none of the above (not named as the store names anything): never touched. */
  unknown: Tally;
  /** What this sweep deleted (nothing with dryRun). */
  removed: Tally;
}

export interface SweepOptions {
  /** Files last modified before this (ms since the epoch) are old enough to delete. */
  cutoffMs: number;
  dryRun: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

// The names FsBlobStore gives its files (blob-store.ts, atomic-write.ts). A file named otherwise
// is left alone: should those names change, gc only stops cleaning up, it never deletes more.
const SHARD = /^[0-9a-f]{2}$/;
const BLOB = /^[0-9a-f]{64}$/;
/** putStream's file while it is being written, in the store's root. */
const INCOMING = /^\.incoming\.\d+\.[0-9a-f]{8}$/;
/** writeFileAtomic's file before its rename, beside the blob it becomes (put). */
const ATOMIC = /^\.[0-9a-f]{64}\.\d+\.[0-9a-f]{8}\.tmp$/;

type Kind = 'blob' | 'temporary' | 'unknown';

/** Files deleted or looked at in parallel: stat and unlink are cheap but each waits on the disk. */
const CONCURRENCY = 8;
const PROGRESS_EVERY = 500;

const tally = (): Tally => ({ files: 0, bytes: 0 });
const add = (t: Tally, bytes: number) => {
  t.files++;
  t.bytes += bytes;
};

async function list(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(e, dir);
  }
}

/**
 * The sweep phase over an FsBlobStore's folder: each blob not in `marked` and last written before
 * the cutoff is deleted, one file at a time, so stopping anywhere leaves a consistent store. The
 * blobs it finds are taken out of `marked`, which is left holding the referenced blobs that are
 * missing from the disk.
 */
export async function sweepBlobs(root: string, marked: ReferenceMap, o: SweepOptions): Promise<SweepTallies> {
  const t: SweepTallies = {
    referenced: tally(),
    recent: tally(),
    orphans: tally(),
    staleTemporary: tally(),
    recentTemporary: tally(),
    unknown: tally(),
    removed: tally(),
  };
  const top = await list(root);
  const shards = top.filter((e) => e.isDirectory() && SHARD.test(e.name)).map((e) => e.name);
  const loose = top.filter((e) => !(e.isDirectory() && SHARD.test(e.name)));
  // Counted first so the progress has a total; a store of a million blobs lists in about a second.
  let total = loose.length;
  for (const shard of shards) total += (await list(path.join(root, shard))).length;

  let done = 0;
  const visit = async (file: string, kind: Kind) => {
    done++;
    if (done % PROGRESS_EVERY === 0) o.onProgress?.(done, total);
    let s;
    try {
      s = await stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile
      throw fsError(e, file);
    }
    const name = path.basename(file);
    if (kind === 'unknown' || !s.isFile()) return add(t.unknown, s.isFile() ? s.size : 0);
    if (kind === 'blob' && marked.delete(name)) return add(t.referenced, s.size);
    const old = s.mtimeMs < o.cutoffMs;
    if (!old) return add(kind === 'blob' ? t.recent : t.recentTemporary, s.size);
    add(kind === 'blob' ? t.orphans : t.staleTemporary, s.size);
    if (o.dryRun) return;
    try {
      await rm(file, { force: true });
    } catch (e) {
      throw fsError(e, file);
    }
    add(t.removed, s.size);
  };
  const visitAll = async (files: { file: string; kind: Kind }[]) =>
    mapConcurrent(files, CONCURRENCY, async ({ file, kind }) => {
      // Workers stop taking files instead of throwing, so none is mid-delete when the sweep reports.
      if (!o.signal?.aborted) await visit(file, kind);
    });

  await visitAll(
    loose.map((e) => ({
      file: path.join(root, e.name),
      kind: e.isFile() && INCOMING.test(e.name) ? 'temporary' : 'unknown',
    })),
  );
  for (const shard of shards) {
    if (o.signal?.aborted) break;
    const dir = path.join(root, shard);
    await visitAll(
      (await list(dir)).map((e) => ({
        file: path.join(dir, e.name),
        kind:
          BLOB.test(e.name) && e.name.startsWith(shard)
            ? 'blob'
            : ATOMIC.test(e.name)
              ? 'temporary'
              : 'unknown',
      })),
    );
  }
  if (o.signal?.aborted) {
    const reason = o.signal.reason as unknown;
    throw new LoupeError(
      'INTERRUPTED',
      `${reason instanceof Error ? reason.message : 'stopped'} after removing ${t.removed.files} files ` +
        `(${t.removed.bytes} bytes); nothing referenced was touched, and running loupe gc again finishes the sweep`,
      { ...t },
    );
  }
  o.onProgress?.(total, total);
  return t;
}

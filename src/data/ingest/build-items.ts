import { createHash } from 'node:crypto';
import type { ManifestItem } from '../versions/manifest.js';
import type { Candidate } from './candidate.js';

/** An image is identified by its bytes; an audio segment by its recording and its times. */
export function itemId(c: Pick<Candidate, 'kind' | 'blob' | 'start' | 'end'>): string {
  if (c.kind === 'image') return c.blob;
  return createHash('sha256')
    .update(`${c.blob}#t=${c.start ?? 0},${c.end ?? 0}`)
    .digest('hex');
}

/** Candidates as manifest items still waiting for a split (and maybe a fold). */
export type PendingItem = Omit<ManifestItem, 'split'> & { split?: ManifestItem['split'] };

export function toPendingItem(c: Candidate): PendingItem {
  return {
    id: itemId(c),
    kind: c.kind,
    blob: c.blob,
    label: c.label,
    source: c.source,
    ...(c.split ? { split: c.split } : {}),
    ...(c.group !== undefined ? { group: c.group } : {}),
    ...(c.start !== undefined ? { start: c.start } : {}),
    ...(c.end !== undefined ? { end: c.end } : {}),
    ...(c.meta && Object.keys(c.meta).length ? { meta: c.meta } : {}),
  };
}

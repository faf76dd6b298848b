import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';

export const SPLIT_NAMES = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLIT_NAMES)[number];

/** One labelled item of a dataset version. */
export const manifestItemSchema = z.strictObject({
  /** Stable identity: the blob hash for images; for an audio segment, a hash of recording and times. */
  id: z.string().regex(/^[0-9a-f]{64}$/),
  kind: z.enum(['image', 'audio']),
  /** The bytes in the blob store (the image, or the whole recording of a segment). */
  blob: z.string().regex(/^[0-9a-f]{64}$/),
  label: z.string().min(1),
  split: z.enum(SPLIT_NAMES),
  /** Cross-validation fold among train and val items (k-fold or one per group). */
  fold: z.number().int().nonnegative().optional(),
  /** Where it came from: a path relative to the ingested folder, a URL, idx://file#index, file.wav#t=1.5,2.0. */
  source: z.string(),
  group: z.string().optional(),
  /** Seconds into the recording, for audio segments. */
  start: z.number().nonnegative().optional(),
  end: z.number().nonnegative().optional(),
  meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type ManifestItem = z.output<typeof manifestItemSchema>;

const MANIFEST_KEYS = Object.keys(manifestItemSchema.shape) as (keyof ManifestItem)[];
const CHUNK = 64 * 1024;

/** An item's line of the canonical manifest: keys in schema order, one JSON object, a newline. */
export function manifestLine(item: ManifestItem): string {
  const line: Partial<ManifestItem> = {};
  for (const k of MANIFEST_KEYS) if (item[k] !== undefined) Object.assign(line, { [k]: item[k] });
  return `${JSON.stringify(line)}\n`;
}

const byId = (a: ManifestItem, b: ManifestItem) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The canonical manifest, produced in chunks so a large one is hashed and stored without ever
 * being one string: items sorted by id, one line each (manifestLine).
 */
export function* manifestChunks(items: readonly ManifestItem[]): Generator<Uint8Array> {
  const encoder = new TextEncoder();
  let pending = '';
  for (const item of [...items].sort(byId)) {
    pending += manifestLine(item);
    if (pending.length >= CHUNK) {
      yield encoder.encode(pending);
      pending = '';
    }
  }
  if (pending) yield encoder.encode(pending);
}

export function serializeManifest(items: readonly ManifestItem[]): string {
  const decoder = new TextDecoder();
  return [...manifestChunks(items)].map((c) => decoder.decode(c)).join('');
}

/** The version id: SHA-256 of the canonical manifest, so the same items give the same id anywhere. */
export function manifestId(serialized: string): string {
  return createHash('sha256').update(serialized).digest('hex');
}

/** One line of a manifest, checked; `n` counts the manifest's non-empty lines from 1. */
export function parseManifestLine(line: string, n: number, source = 'manifest'): ManifestItem {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new LoupeError('CORRUPT_FILE', `${source}, line ${n}: not JSON`, undefined, { cause: e });
  }
  const r = manifestItemSchema.safeParse(value);
  if (!r.success)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${source}, line ${n}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`,
    );
  return r.data;
}

export function parseManifest(text: string, source = 'manifest'): ManifestItem[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => parseManifestLine(line, i + 1, source));
}

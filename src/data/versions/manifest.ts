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

/**
 * The canonical manifest, produced in chunks so a large one is hashed and stored without ever
 * being one string: items sorted by id, keys in schema order, one JSON object per line.
 */
export function* manifestChunks(items: readonly ManifestItem[]): Generator<Uint8Array> {
  const encoder = new TextEncoder();
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let pending = '';
  for (const item of sorted) {
    const line: Partial<ManifestItem> = {};
    for (const k of MANIFEST_KEYS) if (item[k] !== undefined) Object.assign(line, { [k]: item[k] });
    pending += `${JSON.stringify(line)}\n`;
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

export function parseManifest(text: string, source = 'manifest'): ManifestItem[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new LoupeError('CORRUPT_FILE', `${source}, line ${i + 1}: not JSON`, undefined, { cause: e });
      }
      const r = manifestItemSchema.safeParse(value);
      if (!r.success)
        throw new LoupeError(
          'CORRUPT_FILE',
          `${source}, line ${i + 1}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`,
        );
      return r.data;
    });
}

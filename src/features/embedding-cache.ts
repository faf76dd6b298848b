import { sql } from 'kysely';
import type { Database } from '../store/database.js';
import { LoupeError } from '../errors/loupe-error.js';

/** What embeds a batch of items: an extractor's identity, its vector size and the work itself. */
export interface Embedder {
  /** Changes whenever the vectors would (backbone, weights, tap, preprocessing). */
  id: string;
  dim: number;
  /** Vectors (n × dim) of the given items, in order. */
  embed(items: readonly EmbedItem[]): Promise<Float32Array>;
}

export interface EmbedItem {
  id: string;
  file: string;
}

export interface EmbedOptions {
  /** '' for the items as they are; a name for an augmented view (its settings and index). */
  variant?: string;
  batchSize?: number;
  onProgress?: (p: { done: number; total: number; cached: number }) => void;
  signal?: AbortSignal;
}

const LOOKUP_CHUNK = 500;

/**
 * Embeds items through a cache in the workspace database keyed by (extractor, variant, item):
 * a probe run, and every tuning trial after it, embeds each image once. Each computed batch is
 * committed before the next starts, so an interrupted embedding resumes where it stopped.
 */
export async function embedWithCache(
  db: Database,
  embedder: Embedder,
  items: readonly EmbedItem[],
  o: EmbedOptions = {},
): Promise<Float32Array> {
  const variant = o.variant ?? '';
  const dim = embedder.dim;
  const out = new Float32Array(items.length * dim);
  const missing: number[] = [];
  for (let start = 0; start < items.length; start += LOOKUP_CHUNK) {
    const chunk = items.slice(start, start + LOOKUP_CHUNK);
    const rows = await db
      .selectFrom('embeddings')
      .select(['item', 'dim', 'data'])
      .where('extractor', '=', embedder.id)
      .where('variant', '=', variant)
      .where(
        'item',
        'in',
        chunk.map((i) => i.id),
      )
      .execute();
    const found = new Map(rows.map((r) => [r.item, r]));
    chunk.forEach((item, k) => {
      const row = found.get(item.id);
      if (row && row.dim === dim && row.data.byteLength === dim * 4) {
        const bytes = Uint8Array.from(row.data);
        out.set(new Float32Array(bytes.buffer, 0, dim), (start + k) * dim);
      } else missing.push(start + k);
    });
  }
  const cached = items.length - missing.length;
  o.onProgress?.({ done: cached, total: items.length, cached });
  const batchSize = o.batchSize ?? 64;
  for (let b = 0; b < missing.length; b += batchSize) {
    if (o.signal?.aborted)
      throw o.signal.reason ?? new LoupeError('INTERRUPTED', 'embedding was interrupted');
    const indices = missing.slice(b, b + batchSize);
    const vectors = await embedder.embed(indices.map((i) => items[i]!));
    if (vectors.length !== indices.length * dim)
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `the extractor returned ${vectors.length} values for ${indices.length} items of ${dim}`,
      );
    await db.transaction().execute(async (tx) => {
      for (const [k, i] of indices.entries()) {
        const vector = vectors.slice(k * dim, (k + 1) * dim);
        out.set(vector, i * dim);
        await tx
          .insertInto('embeddings')
          .values({
            extractor: embedder.id,
            variant,
            item: items[i]!.id,
            dim,
            data: new Uint8Array(vector.buffer),
          })
          .onConflict((oc) =>
            oc.columns(['extractor', 'variant', 'item']).doUpdateSet({ data: sql`excluded.data`, dim }),
          )
          .execute();
      }
    });
    o.onProgress?.({ done: cached + b + indices.length, total: items.length, cached });
  }
  return out;
}

import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import type { DriftSample } from './drift-tests.js';

/** The latest served predictions of one model version: what a drift check looks at. */
export interface DriftWindow extends DriftSample {
  version: number;
  size: number;
  /** The oldest and newest prediction in the window. */
  from: string | null;
  to: string | null;
  /** Rows logged without an embedding (the embedding tests then skip). */
  withoutEmbedding: number;
}

/** The version of a model's most recent logged prediction: the one being served now. */
export async function latestLoggedVersion(db: Database, model: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('predictions')
    .select('version')
    .where('model', '=', model)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.version;
}

/**
 * The latest `size` logged predictions of `model`@`version` (at or after `since`), oldest first.
 * One version only: each version has its own embedding space and its own reference, so a window
 * mixing the predictions of two versions would show a "shift" that is only the swap.
 * (The prediction log's embeddingsSince reads a whole model across versions, hence this query.
 * It walks the (model, at) index newest first; the served version's rows are the newest, so no
 * index of its own is worth the cost every logged prediction would pay to keep it.)
 */
export async function driftWindow(
  db: Database,
  o: { model: string; version: number; classes: readonly string[]; size: number; since?: Date | string },
): Promise<DriftWindow> {
  let q = db
    .selectFrom('predictions')
    .select(['at', 'predicted', 'confidence', 'embedding'])
    .where('model', '=', o.model)
    .where('version', '=', o.version)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(o.size);
  if (o.since !== undefined) q = q.where('at', '>=', new Date(o.since).toISOString());
  const rows = (await q.execute()).reverse();
  const index = new Map(o.classes.map((c, i) => [c, i]));
  const n = rows.length;
  const predicted = new Int32Array(n);
  const confidence = new Float32Array(n);
  let dim = 0;
  let withoutEmbedding = 0;
  rows.forEach((r, i) => {
    const c = index.get(r.predicted);
    if (c === undefined)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `a logged prediction of ${o.model}@${o.version} names class "${r.predicted}", which the version does not have`,
      );
    predicted[i] = c;
    confidence[i] = r.confidence;
    if (!r.embedding) withoutEmbedding++;
    else dim ||= r.embedding.byteLength / 4;
  });
  let embedding: Float32Array | null = null;
  if (n && !withoutEmbedding) {
    embedding = new Float32Array(n * dim);
    rows.forEach((r, i) => {
      if (r.embedding!.byteLength !== dim * 4)
        throw new LoupeError('CORRUPT_FILE', `logged embeddings of ${o.model}@${o.version} differ in length`);
      // Copied through a fresh buffer: SQLite's bytes need not be 4-byte aligned.
      embedding!.set(new Float32Array(Uint8Array.from(r.embedding!).buffer), i * dim);
    });
  }
  return {
    version: o.version,
    size: n,
    from: rows[0]?.at ?? null,
    to: rows.at(-1)?.at ?? null,
    withoutEmbedding,
    embedding,
    dim: embedding ? dim : 0,
    predicted,
    confidence,
  };
}

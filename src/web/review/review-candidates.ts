import type { Kysely } from 'kysely';
import type { LabelProbability } from '../../inference/top-k.js';
import type { Database } from '../../store/database.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { DatabaseSchema, ReviewCandidatesTable } from '../../store/schema.js';

/**
 * How unsure a prediction was, from its stored top-k (most probable first): the margin p1 − p2
 * (a top-1 alone counts as sure as its probability says), and the entropy −Σ p ln p in nats, the
 * probability the top-k leaves over counted as one more outcome (−r ln r).
 */
export function uncertainty(topK: readonly LabelProbability[]): { margin: number; entropy: number } {
  let entropy = 0;
  let sum = 0;
  for (const { probability: p } of topK) {
    if (p > 0) entropy -= p * Math.log(p);
    sum += p;
  }
  const rest = 1 - sum;
  if (rest > 1e-9) entropy -= rest * Math.log(rest);
  return { margin: (topK[0]?.probability ?? 0) - (topK[1]?.probability ?? 0), entropy };
}

/**
 * Predictions scored per transaction, so a long backlog (the first look at the queue after
 * storeInputs was turned on) never holds the database, or the event loop, for long: better-sqlite3
 * is synchronous.
 */
const CHUNK = 1000;
/** Rows per INSERT: 8 columns each stays far below SQLite's bound-variable limit. */
const ROWS_PER_INSERT = 200;

const progress = async (db: Kysely<DatabaseSchema>) =>
  (await db
    .selectFrom('review_progress')
    .select(['last_prediction_id as prediction', 'last_organised_id as organised'])
    .where('id', '=', 1)
    .executeTakeFirst()) ?? { prediction: 0, organised: 0 };

async function saveProgress(trx: Kysely<DatabaseSchema>, to: { prediction: number; organised: number }) {
  const row = { last_prediction_id: to.prediction, last_organised_id: to.organised };
  await trx
    .insertInto('review_progress')
    .values({ id: 1, ...row })
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute();
}

async function upsert(trx: Kysely<DatabaseSchema>, rows: ReviewCandidatesTable[]) {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
    await trx
      .insertInto('review_candidates')
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      // A later prediction of the input replaces an earlier one, and the organiser's own; the
      // organiser's never replaces a logged one.
      .onConflict((oc) =>
        oc
          .columns(['input_hash', 'model'])
          .doUpdateSet((eb) => ({
            prediction_id: eb.ref('excluded.prediction_id'),
            blob: eb.ref('excluded.blob'),
            predicted: eb.ref('excluded.predicted'),
            margin: eb.ref('excluded.margin'),
            entropy: eb.ref('excluded.entropy'),
            at: eb.ref('excluded.at'),
          }))
          .where((eb) =>
            eb.or([
              eb('review_candidates.prediction_id', 'is', null),
              eb('excluded.prediction_id', '>', eb.ref('review_candidates.prediction_id')),
            ]),
          ),
      )
      .execute();
}

const scored = (
  r: { top_k: string; input_hash: string; model: string; predicted: string; at: string },
  prediction: number | null,
  blob: string,
): ReviewCandidatesTable => ({
  input_hash: r.input_hash,
  model: r.model,
  prediction_id: prediction,
  blob,
  predicted: r.predicted,
  ...uncertainty(JSON.parse(r.top_k) as LabelProbability[]),
  at: r.at,
});

/** An organised image judged by the classification the organiser kept. */
const organiserOnly = (o: {
  blob_hash: string;
  model: string;
  predicted: string;
  top_k: string;
  created_at: string;
}) => scored({ ...o, input_hash: o.blob_hash, at: o.created_at }, null, o.blob_hash);

/**
 * Brings review_candidates up to date: every input whose bytes are kept — a logged prediction with
 * its input stored, or an organised image — once per model, scored by its latest prediction. Only
 * what arrived since the last call is read, a chunk per transaction, so a request costs the new
 * predictions rather than a pass over the whole log (scoring 100,000 predictions from their JSON
 * on every request would take about a second each time). Rows whose prediction the log's
 * retention deleted go.
 */
export async function refreshCandidates(db: Database): Promise<void> {
  const [newest, newestOrganised] = await Promise.all([
    db
      .selectFrom('predictions')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst(),
    db
      .selectFrom('organised_images')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst(),
  ]);
  const lastPrediction = Number(newest?.id ?? 0);
  for (let seen = await progress(db); seen.prediction < lastPrediction; seen = await progress(db)) {
    await immediateTransaction(db, async (trx) => {
      // Read again under the write lock: another request may have scored this chunk meanwhile.
      const at = await progress(trx);
      const end = Math.min(lastPrediction, at.prediction + CHUNK);
      if (at.prediction >= end) return;
      const rows = await trx
        .selectFrom('predictions as p')
        .leftJoin('organised_images as o', 'o.blob_hash', 'p.input_hash')
        .select([
          'p.id',
          'p.input_hash',
          'p.model',
          'p.predicted',
          'p.top_k',
          'p.at',
          'p.input_blob',
          'o.blob_hash',
        ])
        .where('p.id', '>', at.prediction)
        .where('p.id', '<=', end)
        .where((eb) => eb.or([eb('p.input_blob', 'is not', null), eb('o.id', 'is not', null)]))
        .orderBy('p.id')
        .execute();
      // One row per input and model within the chunk, the latest: one INSERT may not update
      // the same row twice.
      const latest = new Map(rows.map((r) => [`${r.input_hash}\0${r.model}`, r]));
      await upsert(
        trx,
        [...latest.values()].map((r) => scored(r, r.id, (r.input_blob ?? r.blob_hash)!)),
      );
      await saveProgress(trx, { ...at, prediction: end });
    });
    // Lets the requests waiting on the event loop run between chunks.
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Organised images: judged by their logged prediction when there is one (it may have been
  // written before the image's row, and so read without its bytes), else by the classification
  // the organiser kept (the log may have sampled it out, or not written it yet: it replaces the
  // organiser's once it arrives).
  const lastOrganised = Number(newestOrganised?.id ?? 0);
  if ((await progress(db)).organised < lastOrganised)
    await immediateTransaction(db, async (trx) => {
      const at = await progress(trx);
      const images = await trx
        .selectFrom('organised_images as o')
        .select(['o.id', 'o.blob_hash', 'o.model', 'o.predicted', 'o.top_k', 'o.created_at'])
        .where('o.id', '>', at.organised)
        .where('o.id', '<=', lastOrganised)
        .execute();
      const rows: ReviewCandidatesTable[] = [];
      for (const o of images) {
        const p = await trx
          .selectFrom('predictions')
          .select(['id', 'input_hash', 'model', 'predicted', 'top_k', 'at'])
          .where('input_hash', '=', o.blob_hash)
          .where('model', '=', o.model)
          .orderBy('id', 'desc')
          .executeTakeFirst();
        rows.push(p ? scored(p, p.id, o.blob_hash) : organiserOnly(o));
      }
      await upsert(trx, rows);
      await saveProgress(trx, { ...at, organised: Math.max(at.organised, lastOrganised) });
    });
  // Candidates whose logged prediction the log's retention deleted (an index range: cheap when
  // there are none). An organised image among them goes back to the organiser's classification.
  const oldest = await db
    .selectFrom('predictions')
    .select((eb) => eb.fn.min('id').as('id'))
    .executeTakeFirst();
  const bound = Number(oldest?.id ?? Number.MAX_SAFE_INTEGER);
  const stale = await db
    .selectFrom('review_candidates')
    .select('input_hash')
    .where('prediction_id', '<', bound)
    .limit(1)
    .executeTakeFirst();
  if (stale)
    await immediateTransaction(db, async (trx) => {
      const organised = await trx
        .selectFrom('review_candidates as c')
        .innerJoin('organised_images as o', 'o.blob_hash', 'c.input_hash')
        .select(['o.blob_hash', 'o.model', 'o.predicted', 'o.top_k', 'o.created_at'])
        .where('c.prediction_id', '<', bound)
        .execute();
      await trx.deleteFrom('review_candidates').where('prediction_id', '<', bound).execute();
      await upsert(trx, organised.map(organiserOnly));
    });
}

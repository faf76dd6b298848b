import { sql, type RawBuilder } from 'kysely';
import type { LabelProbability } from '../../inference/top-k.js';
import type { Database } from '../../store/database.js';
import type { FeedbackAction } from '../../store/schema.js';
import { refreshCandidates } from './review-candidates.js';

export const REVIEW_ORDERS = ['margin', 'entropy'] as const;
export type ReviewOrder = (typeof REVIEW_ORDERS)[number];
/** What a person decides about an item of the queue. */
export type ReviewAction = Extract<FeedbackAction, 'accept' | 'correct' | 'skip'>;

/** One input waiting for a person's decision, with the prediction it is judged by. */
export interface ReviewItem {
  inputHash: string;
  /** The blob holding the input's bytes. */
  blob: string;
  /** The logged prediction judged; null for an organised image whose prediction was not logged. */
  predictionId: number | null;
  /** The organised image with these bytes, if there is one. */
  organisedId: number | null;
  at: string;
  model: string;
  version: number;
  requestId: string;
  predicted: string;
  confidence: number;
  topK: LabelProbability[];
  /** p1 − p2 of the stored top-k: small is unsure. */
  margin: number;
  /** Shannon entropy (nats) of the stored top-k, the probability left over counted as one more outcome. */
  entropy: number;
  /** When the user asking last skipped it; skipped items come after all others. */
  skippedAt: string | null;
}

export interface QueueQuery {
  order: ReviewOrder;
  /** The user whose skips send items to the back. */
  actor: string;
  model?: string;
  predicted?: string;
  /** One input only, decided or not (for recording a decision about it). */
  inputHash?: string;
  limit: number;
  offset: number;
}

interface Row {
  input_hash: string;
  blob: string;
  prediction_id: number | null;
  organised_id: number | null;
  at: string;
  model: string;
  version: number;
  request_id: string;
  top_k: string;
  predicted: string;
  confidence: number;
  margin: number;
  entropy: number;
  skipped_at: string | null;
}

const toItem = (r: Row): ReviewItem => ({
  inputHash: r.input_hash,
  blob: r.blob,
  predictionId: r.prediction_id,
  organisedId: r.organised_id,
  at: r.at,
  model: r.model,
  version: r.version,
  requestId: r.request_id,
  predicted: r.predicted,
  confidence: r.confidence,
  topK: JSON.parse(r.top_k) as LabelProbability[],
  margin: r.margin,
  entropy: r.entropy,
  skippedAt: r.skipped_at,
});

const count = async (db: Database, where: RawBuilder<unknown>) =>
  Number(
    (await sql<{ n: number }>`select count(*) as n from review_candidates c where ${where}`.execute(db))
      .rows[0]?.n ?? 0,
  );

/**
 * The review queue: inputs nobody has decided about yet (no feedback other than skips), least
 * sure first — smallest margin, or largest entropy — with the asking user's skipped items last,
 * the longest-skipped first among them. An input predicted by several models is there once per
 * model; deciding it once takes it out for all of them.
 *
 * The inputs not skipped and those skipped are read apart: the first, the bulk, in the order of
 * the score's index, so a page costs its own rows rather than a sort of the whole queue.
 */
export async function reviewQueue(
  db: Database,
  q: QueueQuery,
): Promise<{ total: number; items: ReviewItem[] }> {
  await refreshCandidates(db);
  const skippedAt = sql`(select max(f.at) from feedback f
    where f.input_hash = c.input_hash and f.action = 'skip' and f.actor = ${q.actor})`;
  const select = (where: RawBuilder<unknown>, order: RawBuilder<unknown>, limit: number, offset: number) =>
    sql<Row>`
      select c.input_hash, c.blob, c.prediction_id, o.id as organised_id, c.at, c.model,
        coalesce(p.version, o.version) as version, coalesce(p.request_id, o.request_id) as request_id,
        coalesce(p.top_k, o.top_k) as top_k, c.predicted, coalesce(p.confidence, o.probability) as confidence,
        c.margin, c.entropy, ${skippedAt} as skipped_at
      from review_candidates c
        left join predictions p on p.id = c.prediction_id
        left join organised_images o on o.blob_hash = c.input_hash
      where ${where} order by ${order} limit ${limit} offset ${offset}`
      .execute(db)
      .then((r) => r.rows.map(toItem));
  const score =
    q.order === 'margin'
      ? sql`c.margin, c.input_hash, c.model`
      : sql`c.entropy desc, c.input_hash desc, c.model desc`;
  const base = sql.join(
    [
      sql`true`,
      ...(q.model === undefined ? [] : [sql`c.model = ${q.model}`]),
      ...(q.predicted === undefined ? [] : [sql`c.predicted = ${q.predicted}`]),
    ],
    sql` and `,
  );
  if (q.inputHash !== undefined) {
    const items = await select(sql`${base} and c.input_hash = ${q.inputHash}`, score, q.limit, q.offset);
    return { total: items.length, items };
  }
  const decided = sql`c.input_hash in (select input_hash from feedback where action <> 'skip')`;
  const mySkips = sql`c.input_hash in (select input_hash from feedback where action = 'skip' and actor = ${q.actor})`;
  const [all, done, skipped] = await Promise.all([
    count(db, base),
    count(db, sql`${base} and ${decided}`),
    count(db, sql`${base} and ${mySkips} and not ${decided}`),
  ]);
  const fresh = all - done - skipped;
  const items =
    q.offset < fresh
      ? await select(sql`${base} and not ${decided} and not ${mySkips}`, score, q.limit, q.offset)
      : [];
  if (items.length < q.limit && skipped > 0)
    items.push(
      ...(await select(
        sql`${base} and ${mySkips} and not ${decided}`,
        sql`skipped_at, ${score}`,
        q.limit - items.length,
        Math.max(0, q.offset - fresh),
      )),
    );
  return { total: fresh + skipped, items };
}

/** Whether the blob is an input the queue may show: never any other blob (models, manifests). */
export async function isReviewInput(db: Database, blob: string): Promise<boolean> {
  const found = await sql`
    select 1 from predictions where input_hash = ${blob} and input_blob = ${blob}
    union all select 1 from organised_images where blob_hash = ${blob}
    limit 1`.execute(db);
  return found.rows.length > 0;
}

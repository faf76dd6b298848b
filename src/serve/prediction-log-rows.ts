import type { Insertable } from 'kysely';
import type { Database } from '../store/database.js';
import { immediateTransaction } from '../store/immediate-transaction.js';
import type { PredictionsTable } from '../store/schema.js';

/** A row of the prediction log as it is written. */
export type PredictionRow = Insertable<PredictionsTable>;

export interface PruneSettings {
  retentionDays: number;
  maxRows: number;
}

/** Rows per INSERT: 14 columns each stays far below SQLite's bound-variable limit. */
const ROWS_PER_INSERT = 50;
/** Rows per DELETE transaction when pruning, so a large prune never holds the lock for long. */
const PRUNE_CHUNK = 5000;

/** Writes rows in one transaction, waiting for the write lock up to the busy timeout. */
export async function insertPredictionRows(db: Database, rows: PredictionRow[]): Promise<void> {
  await immediateTransaction(db, async (trx) => {
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
      await trx
        .insertInto('predictions')
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .execute();
  });
}

/**
 * Deletes rows older than retentionDays, then the oldest rows beyond maxRows. Deletes run in
 * chunks, each its own transaction, so other writers get the lock in between. Stored input
 * blobs stay: the blob store is shared (a dataset may hold the same image), so only `loupe gc`,
 * which sees every reference, may remove them.
 */
export async function prunePredictions(
  db: Database,
  settings: PruneSettings,
  now: Date,
): Promise<{ byAge: number; byCount: number }> {
  const cutoff = new Date(now.getTime() - settings.retentionDays * 86_400_000).toISOString();
  const deleteChunks = async (chunk: () => Promise<bigint>): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = Number(await chunk());
      total += n;
      if (n < PRUNE_CHUNK) return total;
    }
  };
  const byAge = await deleteChunks(() =>
    immediateTransaction(db, async (trx) => {
      const r = await trx
        .deleteFrom('predictions')
        .where('id', 'in', (eb) =>
          eb.selectFrom('predictions').select('id').where('at', '<', cutoff).limit(PRUNE_CHUNK),
        )
        .executeTakeFirst();
      return r.numDeletedRows;
    }),
  );
  // Rows are inserted in time order, so the id order is the age order and needs no sort on `at`.
  const keepFrom = await db
    .selectFrom('predictions')
    .select('id')
    .orderBy('id', 'desc')
    .limit(1)
    .offset(settings.maxRows - 1)
    .executeTakeFirst();
  const byCount = keepFrom
    ? await deleteChunks(() =>
        immediateTransaction(db, async (trx) => {
          const r = await trx
            .deleteFrom('predictions')
            .where('id', 'in', (eb) =>
              eb
                .selectFrom('predictions')
                .select('id')
                .where('id', '<', keepFrom.id)
                .orderBy('id')
                .limit(PRUNE_CHUNK),
            )
            .executeTakeFirst();
          return r.numDeletedRows;
        }),
      )
    : 0;
  return { byAge, byCount };
}

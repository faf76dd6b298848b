import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import type { DatabaseSchema } from './schema.js';

/**
 * Runs `work` in a transaction that takes SQLite's write lock at its start (BEGIN IMMEDIATE).
 * A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
 * process wrote in between; taking the lock first makes racing writers wait their turn (up to
 * the busy timeout) and each see what the one before committed.
 */
export function immediateTransaction<T>(
  db: Database,
  work: (trx: Kysely<DatabaseSchema>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (e) {
      await sql`rollback`.execute(conn);
      throw e;
    }
  });
}

export const isBusy = (e: unknown) =>
  String((e as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_BUSY');

/**
 * Like immediateTransaction, but gives up at once, instead of waiting the busy timeout, when
 * another connection holds the write lock. better-sqlite3 is synchronous: waiting for a lock
 * blocks the event loop, and with it every request the server is handling. Work that can be
 * retried later (a last-used timestamp) should not pay that.
 */
export async function immediateTransactionNoWait<T>(
  db: Database,
  work: (trx: Kysely<DatabaseSchema>) => Promise<T>,
): Promise<{ busy: true } | { busy: false; value: T }> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn);
    const timeout = Math.max(0, Math.trunc(Number(rows[0]?.timeout ?? 0)));
    await sql`pragma busy_timeout = 0`.execute(conn);
    try {
      await sql`begin immediate`.execute(conn);
    } catch (e) {
      if (isBusy(e)) return { busy: true };
      throw e;
    } finally {
      await sql.raw(`pragma busy_timeout = ${timeout}`).execute(conn);
    }
    try {
      const value = await work(conn);
      await sql`commit`.execute(conn);
      return { busy: false, value };
    } catch (e) {
      await sql`rollback`.execute(conn);
      throw e;
    }
  });
}

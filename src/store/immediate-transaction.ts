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

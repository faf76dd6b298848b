import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../errors/loupe-error.js';
import { MIGRATIONS } from './migrations/index.js';
import type { DatabaseSchema } from './schema.js';

export type Database = Kysely<DatabaseSchema>;

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Opens (creating if needed) a workspace's SQLite database and brings its schema up to date.
 * WAL mode lets the server read while a command writes; a busy timeout rides out short locks.
 */
export async function openDatabase(file: string): Promise<Database> {
  mkdirSync(path.dirname(file), { recursive: true });
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `cannot open the database ${file}: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: sqlite }) });
  // Features land in parallel, so a workspace may have run a later-numbered migration before an
  // earlier-numbered one exists; each migration creates only its own tables, so order between
  // them does not matter.
  const { error, results } = await new Migrator({
    db,
    provider,
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new LoupeError(
      'CORRUPT_FILE',
      `cannot migrate the database ${file} (migration ${failed}): ${String(error)}`,
      { file },
      { cause: error },
    );
  }
  return db;
}

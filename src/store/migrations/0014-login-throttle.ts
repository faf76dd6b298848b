import type { Kysely } from 'kysely';

/**
 * The sign-in throttle's failure counts (src/web/accounts/login-throttle.ts), in the database so
 * that a restart does not forget them and every `loupe serve` on the workspace shares them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('login_failures')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_ends_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('login_failures_pk', ['kind', 'key'])
    .execute();
  // Each failure prunes the rows whose window has ended.
  await db.schema
    .createIndex('login_failures_by_end')
    .on('login_failures')
    .column('window_ends_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('login_failures').execute();
}

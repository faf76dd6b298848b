import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('args', 'text', (c) => c.notNull())
    .addColumn('argv', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('server', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer')
    .addColumn('progress', 'text')
    .addColumn('log_tail', 'text', (c) => c.notNull())
    .addColumn('exit_code', 'integer')
    .addColumn('run_id', 'text')
    .addColumn('resumed_from', 'text')
    .execute();
  // A starting server looks for the jobs still marked running to mark them interrupted.
  await db.schema.createIndex('jobs_by_status').on('jobs').column('status').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('jobs').execute();
}

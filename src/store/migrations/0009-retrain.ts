import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row while a retrain runs in the workspace; a crashed holder's row is taken over.
  await db.schema
    .createTable('retrain_lock')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('retrain_id', 'text')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('retrain_steps')
    .addColumn('run_id', 'text', (c) => c.primaryKey().references('runs.id'))
    .addColumn('retrain_id', 'text', (c) => c.notNull().references('runs.id'))
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text')
    .execute();
  // A rerun looks its steps up by content key.
  await db.schema.createIndex('retrain_steps_by_key').on('retrain_steps').columns(['step', 'key']).execute();
  await db.schema.createIndex('retrain_steps_by_retrain').on('retrain_steps').column('retrain_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('retrain_steps').execute();
  await db.schema.dropTable('retrain_lock').execute();
}

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('drift_checks')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('window_size', 'integer', (c) => c.notNull())
    .addColumn('reference_size', 'integer', (c) => c.notNull())
    .addColumn('dataset_version', 'text')
    .addColumn('alpha', 'real', (c) => c.notNull())
    .addColumn('tests', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .execute();
  // The monitoring page and the retraining loop read a model's latest checks.
  await db.schema.createIndex('drift_checks_by_model').on('drift_checks').columns(['model', 'id']).execute();

  await db.schema
    .createTable('drift_references')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('dataset_version', 'text', (c) => c.notNull())
    .addColumn('sample', 'text', (c) => c.notNull())
    .addColumn('blob', 'text', (c) => c.notNull())
    .addColumn('items', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('drift_references_key', ['model', 'version', 'dataset_version', 'sample'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('drift_references').execute();
  await db.schema.dropTable('drift_checks').execute();
}

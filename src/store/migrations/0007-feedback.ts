import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('feedback')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('model', 'text')
    .addColumn('version', 'integer')
    .addColumn('prediction_id', 'integer')
    .addColumn('request_id', 'text')
    .addColumn('input_hash', 'text', (c) => c.notNull())
    .addColumn('input_blob', 'text')
    .addColumn('media', 'text', (c) => c.notNull())
    .addColumn('segment_start', 'real')
    .addColumn('segment_end', 'real')
    .addColumn('predicted', 'text')
    .addColumn('confidence', 'real')
    .addColumn('label', 'text')
    .addColumn('note', 'text')
    .addColumn('dataset_version', 'text')
    .execute();
  // Retraining reads what no dataset version has taken yet; the review queue skips decided inputs.
  await db.schema
    .createIndex('feedback_pending')
    .on('feedback')
    .columns(['dataset_version', 'model'])
    .execute();
  await db.schema.createIndex('feedback_by_input').on('feedback').columns(['input_hash', 'id']).execute();
  await db.schema.createIndex('feedback_by_prediction').on('feedback').column('prediction_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('feedback').execute();
}

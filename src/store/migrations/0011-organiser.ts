import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('organised_images')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('owner_id', 'integer', (c) => c.notNull())
    .addColumn('original_name', 'text', (c) => c.notNull())
    .addColumn('stored_name', 'text', (c) => c.notNull())
    .addColumn('class_folder', 'text', (c) => c.notNull())
    .addColumn('moved_from', 'text')
    .addColumn('blob_hash', 'text', (c) => c.notNull())
    .addColumn('mime', 'text', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('top_k', 'text', (c) => c.notNull())
    .addColumn('predicted', 'text', (c) => c.notNull())
    .addColumn('probability', 'real', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('corrected', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // The same bytes are organised once: a second upload finds the first.
  await db.schema
    .createIndex('organised_by_blob')
    .on('organised_images')
    .column('blob_hash')
    .unique()
    .execute();
  // Two rows never claim one file.
  await db.schema
    .createIndex('organised_by_file')
    .on('organised_images')
    .columns(['class_folder', 'stored_name'])
    .unique()
    .execute();
  await db.schema.createIndex('organised_by_label').on('organised_images').columns(['label', 'id']).execute();
  // The review queue checks that a blob it is asked to show is a logged input.
  await db.schema
    .createIndex('predictions_by_input')
    .on('predictions')
    .columns(['input_hash', 'id'])
    .execute();

  // The review queue's inputs with their uncertainty scored once, as they arrive, rather than
  // from every prediction's JSON on every request (src/web/review/review-candidates.ts).
  await db.schema
    .createTable('review_candidates')
    .addColumn('input_hash', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('prediction_id', 'integer')
    .addColumn('blob', 'text', (c) => c.notNull())
    .addColumn('predicted', 'text', (c) => c.notNull())
    .addColumn('margin', 'real', (c) => c.notNull())
    .addColumn('entropy', 'real', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('review_candidates_pk', ['input_hash', 'model'])
    .execute();
  // The queue's pages are read in the order of these (src/web/review/review-queue.ts).
  await db.schema
    .createIndex('review_by_margin')
    .on('review_candidates')
    .columns(['margin', 'input_hash', 'model'])
    .execute();
  await db.schema
    .createIndex('review_by_entropy')
    .on('review_candidates')
    .columns(['entropy', 'input_hash', 'model'])
    .execute();
  await db.schema
    .createIndex('review_by_prediction')
    .on('review_candidates')
    .column('prediction_id')
    .execute();
  await db.schema
    .createTable('review_progress')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('last_prediction_id', 'integer', (c) => c.notNull())
    .addColumn('last_organised_id', 'integer', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('review_progress').execute();
  await db.schema.dropTable('review_candidates').execute();
  await db.schema.dropIndex('predictions_by_input').execute();
  await db.schema.dropTable('organised_images').execute();
}

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('recordings')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'text', (c) => c.notNull())
    // One recording per content: the same bytes uploaded again open the recording already there.
    .addColumn('blob', 'text', (c) => c.notNull().unique())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('duration', 'real', (c) => c.notNull())
    .addColumn('sample_rate', 'integer', (c) => c.notNull())
    .addColumn('channels', 'integer', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('classes', 'text', (c) => c.notNull())
    .addColumn('window', 'real', (c) => c.notNull())
    .addColumn('hop', 'real', (c) => c.notNull())
    .addColumn('spectrogram_blob', 'text', (c) => c.notNull())
    .addColumn('uploaded_by', 'text', (c) => c.notNull())
    .addColumn('uploaded_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('segments')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('recording_id', 'integer', (c) => c.notNull().references('recordings.id'))
    .addColumn('start', 'real', (c) => c.notNull())
    .addColumn('end', 'real', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('predicted_label', 'text')
    .addColumn('predicted_probability', 'real')
    .addColumn('predicted_top', 'text')
    .addColumn('predicted_start', 'real')
    .addColumn('predicted_end', 'real')
    .addColumn('model', 'text')
    .addColumn('version', 'integer')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('edited_by', 'text')
    .addColumn('edited_at', 'text')
    .execute();
  await db.schema
    .createIndex('segments_by_recording')
    .on('segments')
    .columns(['recording_id', 'start'])
    .execute();
  // Each edit's feedback rows, so a segment's history survives its boundaries moving.
  await db.schema
    .createTable('segment_feedback')
    .addColumn('segment_id', 'integer', (c) => c.notNull().references('segments.id'))
    .addColumn('feedback_id', 'integer', (c) => c.notNull().references('feedback.id'))
    .addPrimaryKeyConstraint('segment_feedback_pk', ['segment_id', 'feedback_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('segment_feedback').execute();
  await db.schema.dropTable('segments').execute();
  await db.schema.dropTable('recordings').execute();
}

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // studies and runs reference each other (a trial's study, a study's best trial); SQLite checks
  // foreign keys on insert, not on create, so either table can come first.
  await db.schema
    .createTable('studies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('space', 'text', (c) => c.notNull())
    .addColumn('sampler', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('best_run_id', 'text', (c) => c.references('runs.id'))
    .execute();
  await db.schema
    .createTable('runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'text', (c) => c.references('runs.id'))
    .addColumn('study_id', 'text', (c) => c.references('studies.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    // No foreign key: a version id is the hash of its items, meaningful even where the row is not.
    .addColumn('dataset_version', 'text', (c) => c.notNull())
    .addColumn('backbone', 'text')
    .addColumn('seed', 'integer', (c) => c.notNull())
    .addColumn('git_commit', 'text')
    .addColumn('git_dirty', 'integer')
    .addColumn('versions', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('duration_s', 'real')
    .addColumn('error', 'text')
    .addColumn('summary', 'text')
    .addColumn('peak_rss_mib', 'real')
    .addColumn('images_per_s', 'real')
    .execute();
  // Every listing first looks for running rows whose process died.
  await db.schema.createIndex('runs_by_status').on('runs').column('status').execute();
  await db.schema.createIndex('runs_by_study').on('runs').column('study_id').execute();
  await db.schema
    .createTable('run_metrics')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'real')
    .addColumn('at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_metrics_pk', ['run_id', 'name', 'step'])
    .execute();
  await db.schema
    .createTable('run_artifacts')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_artifacts_pk', ['run_id', 'name'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('run_artifacts').execute();
  await db.schema.dropTable('run_metrics').execute();
  // Break the studies → runs reference first, or dropping runs would violate it.
  await sql`UPDATE studies SET best_run_id = NULL`.execute(db);
  await db.schema.dropTable('runs').execute();
  await db.schema.dropTable('studies').execute();
}

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('registered_models')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .createTable('model_versions')
    .addColumn('model', 'text', (c) => c.notNull().references('registered_models.name'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('dataset_version', 'text')
    .addColumn('files', 'text', (c) => c.notNull())
    .addColumn('classes', 'text', (c) => c.notNull())
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('temperature', 'real', (c) => c.notNull())
    .addColumn('metrics', 'text', (c) => c.notNull())
    .addColumn('lineage', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_versions_pk', ['model', 'version'])
    .execute();
  await db.schema
    .createTable('model_aliases')
    .addColumn('model', 'text', (c) => c.notNull().references('registered_models.name'))
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_aliases_pk', ['model', 'alias'])
    .execute();
  await db.schema
    .createTable('registry_audit')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('alias', 'text')
    .addColumn('from_version', 'integer')
    .addColumn('to_version', 'integer')
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('forced', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('gate', 'text')
    .execute();
  await db.schema
    .createIndex('registry_audit_by_model')
    .on('registry_audit')
    .columns(['model', 'alias', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['registry_audit', 'model_aliases', 'model_versions', 'registered_models'])
    await db.schema.dropTable(table).execute();
}

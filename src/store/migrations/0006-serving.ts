import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('rate_per_minute', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  // Unique among live keys only, so a revoked key's name can be given to its replacement.
  await db.schema
    .createIndex('api_keys_live_name')
    .on('api_keys')
    .column('name')
    .unique()
    .where(sql.ref('revoked_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('predictions')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('input_hash', 'text', (c) => c.notNull())
    .addColumn('input_blob', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('top_k', 'text', (c) => c.notNull())
    .addColumn('predicted', 'text', (c) => c.notNull())
    .addColumn('confidence', 'real', (c) => c.notNull())
    .addColumn('embedding', 'blob')
    .addColumn('latency_ms', 'real', (c) => c.notNull())
    .addColumn('caller', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .execute();
  // Monitoring reads one model's recent window; pruning by age reads across models.
  await db.schema.createIndex('predictions_by_model').on('predictions').columns(['model', 'at']).execute();
  await db.schema.createIndex('predictions_by_at').on('predictions').column('at').execute();
  // Feedback arrives naming the request it is about.
  await db.schema.createIndex('predictions_by_request').on('predictions').column('request_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('predictions').execute();
  await db.schema.dropTable('api_keys').execute();
}

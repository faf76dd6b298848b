import { sql, type Selectable } from 'kysely';
import type { Database } from '../../store/database.js';
import type { DownloadsTable } from '../../store/schema.js';
import { encodeFailure, type FailureKind } from './failure.js';

export type DownloadRow = Selectable<DownloadsTable>;

/** Keeps each query's bound parameters far below SQLite's limit. */
const LOOKUP_CHUNK = 500;

/**
 * The URL index: which URL gave which blob, or why it failed. Each outcome is one upsert that
 * commits on its own, so a run killed at any moment keeps everything it finished. `attempts`
 * accumulates over runs; the report carries only the current run's.
 */
export class DownloadIndex {
  constructor(private readonly db: Database) {}

  async lookup(urls: readonly string[]): Promise<Map<string, DownloadRow>> {
    const rows = new Map<string, DownloadRow>();
    for (let i = 0; i < urls.length; i += LOOKUP_CHUNK) {
      const chunk = urls.slice(i, i + LOOKUP_CHUNK);
      for (const row of await this.db.selectFrom('downloads').selectAll().where('url', 'in', chunk).execute())
        rows.set(row.url, row);
    }
    return rows;
  }

  /** Call only once the blob is durably in the store: a recorded URL must always have its bytes. */
  async recordOk(
    url: string,
    r: { blobHash: string; contentType: string; bytes: number; finalUrl: string; attempts: number },
  ): Promise<void> {
    await this.upsert({
      url,
      status: 'ok',
      blob_hash: r.blobHash,
      content_type: r.contentType,
      bytes: r.bytes,
      final_url: r.finalUrl,
      error: null,
      attempts: r.attempts,
      updated_at: new Date().toISOString(),
    });
  }

  async recordFailed(url: string, kind: FailureKind, reason: string, attempts: number): Promise<void> {
    await this.upsert({
      url,
      status: 'failed',
      blob_hash: null,
      content_type: null,
      bytes: null,
      final_url: null,
      error: encodeFailure(kind, reason),
      attempts,
      updated_at: new Date().toISOString(),
    });
  }

  private async upsert(row: DownloadRow): Promise<void> {
    await this.db
      .insertInto('downloads')
      .values(row)
      .onConflict((oc) =>
        oc.column('url').doUpdateSet((eb) => ({
          status: eb.ref('excluded.status'),
          blob_hash: eb.ref('excluded.blob_hash'),
          content_type: eb.ref('excluded.content_type'),
          bytes: eb.ref('excluded.bytes'),
          final_url: eb.ref('excluded.final_url'),
          error: eb.ref('excluded.error'),
          attempts: sql<number>`downloads.attempts + excluded.attempts`,
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

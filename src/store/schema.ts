import type { Generated } from 'kysely';

/**
 * The tables of a workspace database, typed for Kysely. Each store module owns its tables and
 * the migration that creates them (src/store/migrations/).
 */
export interface DownloadsTable {
  /** The URL as requested (the cache key alongside the content hash). */
  url: string;
  /** 'ok' once the bytes are in the blob store; 'failed' with the last error otherwise. */
  status: 'ok' | 'failed';
  blob_hash: string | null;
  content_type: string | null;
  bytes: number | null;
  final_url: string | null;
  error: string | null;
  attempts: number;
  updated_at: string;
}

export interface DatasetVersionsTable {
  /** The manifest's hash: the same items give the same id on any machine. */
  id: string;
  dataset: string;
  parent: string | null;
  /** The manifest (JSON lines) in the blob store. */
  manifest_blob: string;
  item_count: number;
  class_count: number;
  /** JSON: class counts per split, sources, the ingest report's summary. */
  summary: string;
  created_at: string;
  seq: Generated<number>;
}

export interface DatabaseSchema {
  downloads: DownloadsTable;
  dataset_versions: DatasetVersionsTable;
}

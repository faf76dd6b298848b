import type { Workspace } from '../../workspace/workspace.js';
import { downloadAll } from '../download/download-all.js';
import { readCsvUrls, type CsvUrlOptions } from '../sources/csv-urls.js';
import type { DownloadProgress } from '../download/download-report.js';
import { collectCandidates, type CandidateStream, type Rejection, type SourceResult } from './candidate.js';

/**
 * A CSV of image URLs: rows are read and filtered, every distinct URL is downloaded (or found
 * in the cache) into the blob store, and each row whose image arrived becomes a candidate.
 * Failed downloads are rejections with their reason; none stops the ingest.
 */
export function csvCandidates(
  file: string,
  csv: CsvUrlOptions,
  ws: Pick<Workspace, 'db' | 'blobs' | 'config'>,
  onProgress?: (p: DownloadProgress) => void,
  signal?: AbortSignal,
): CandidateStream {
  return async (sink) => {
    const listing = await readCsvUrls(file, csv);
    const report = await downloadAll(
      listing.rows.map((r) => r.url),
      {
        blobs: ws.blobs,
        db: ws.db,
        ...ws.config.data.download,
        ...(onProgress ? { onProgress } : {}),
        ...(signal ? { signal } : {}),
      },
    );
    const byUrl = new Map(report.results.map((r) => [r.url, r]));
    const rejected: Rejection[] = listing.skipped.map((s) => ({
      source: `${file}:${s.line}`,
      reason: s.reason,
      ...(s.detail ? { detail: s.detail } : {}),
    }));
    for (const row of listing.rows) {
      const r = byUrl.get(row.url)!;
      if (r.status === 'failed' || !r.blobHash) {
        rejected.push({
          source: row.url,
          reason: `download: ${r.failure ?? 'failed'}`,
          detail: r.reason ?? '',
        });
        continue;
      }
      await sink({
        kind: 'image',
        blob: r.blobHash,
        label: row.label,
        source: row.url,
        ...(row.group ? { group: row.group } : {}),
        meta: row.meta,
      });
    }
    return {
      rejected,
      details: {
        csv: { file, columns: listing.columns, rows: listing.rows.length, skipped: listing.skipped.length },
        downloads: {
          counts: report.counts,
          failures: report.failures,
          bytesDownloaded: report.bytesDownloaded,
          seconds: report.durationS,
        },
      },
    };
  };
}

export function candidatesFromCsv(
  file: string,
  csv: CsvUrlOptions,
  ws: Pick<Workspace, 'db' | 'blobs' | 'config'>,
  onProgress?: (p: DownloadProgress) => void,
  signal?: AbortSignal,
): Promise<SourceResult> {
  return collectCandidates(csvCandidates(file, csv, ws, onProgress, signal));
}

import type { FailureKind } from './failure.js';

/** What became of one URL. */
export interface DownloadResult {
  url: string;
  /** 'cached': recorded by an earlier run and its blob verified; nothing was requested. */
  status: 'ok' | 'cached' | 'failed';
  blobHash?: string;
  /** Sniffed from the bytes (never the server's Content-Type). */
  contentType?: string;
  bytes?: number;
  /** Where the bytes came from after redirects. */
  finalUrl?: string;
  /** HTTP requests made for this URL in this run (redirect hops and retries each count). */
  attempts?: number;
  failure?: FailureKind;
  /** Why it failed, for people: "HTTP 404 Not Found", "timed out after 30000 ms", … */
  reason?: string;
}

export interface DownloadCounts {
  total: number;
  ok: number;
  cached: number;
  failed: number;
}

export interface DownloadReport {
  /** One entry per distinct URL, in the order of first appearance. */
  results: DownloadResult[];
  counts: DownloadCounts;
  failures: Partial<Record<FailureKind, number>>;
  /** Bytes fetched over the network in this run. */
  bytesDownloaded: number;
  durationS: number;
}

export interface DownloadProgress extends DownloadCounts {
  /** URLs settled so far (ok + cached + failed). */
  done: number;
  bytesDownloaded: number;
  /** The URL that just settled. */
  last: DownloadResult;
}

import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import type { DownloadProgress } from './download-report.js';

export interface DownloadOptions {
  /** Where the bytes go, once per distinct content. */
  blobs: BlobStore;
  /** The workspace database; its `downloads` table maps each URL to its blob or its failure. */
  db: Database;
  /** URLs in flight at once, all hosts together. */
  concurrency?: number;
  /** Requests in flight to one host (host:port) at once. */
  perHost?: number;
  /** Request starts per second to one host; Infinity for no pacing. */
  ratePerHost?: number;
  /** Limit on one request, from sending it to the body's last byte. */
  timeoutMs?: number;
  /** Extra attempts after a network error, timeout, cut-off body, 5xx or 429. */
  retries?: number;
  /** First backoff step; each retry doubles it (with jitter), up to 30 s. */
  retryBaseMs?: number;
  /** Cap on a server's Retry-After. */
  maxRetryAfterMs?: number;
  /** Redirect hops followed per URL. */
  maxRedirects?: number;
  /** Largest body accepted, checked against Content-Length up front and while streaming. */
  maxBytes?: number;
  /** Fetch URLs that failed in an earlier run again (true), or report their stored failure. */
  retryFailed?: boolean;
  /**
   * How a URL recorded as downloaded is checked before it counts as cached: 'hash' re-hashes the
   * blob (catches any corruption), 'size' only compares its size with the recorded one (cheap).
   */
  verify?: 'hash' | 'size';
  userAgent?: string;
  /** Called after every URL settles (cached, downloaded or failed). */
  onProgress?: (p: DownloadProgress) => void;
  /** Aborting stops the run: requests in flight are dropped, nothing half-done is recorded. */
  signal?: AbortSignal;
}

export const USER_AGENT = 'Loupe/0.1 (self-hosted image classifier; dataset downloader)';

export const DOWNLOAD_DEFAULTS = {
  concurrency: 16,
  perHost: 4,
  ratePerHost: 10,
  timeoutMs: 30_000,
  retries: 4,
  retryBaseMs: 500,
  maxRetryAfterMs: 60_000,
  maxRedirects: 5,
  maxBytes: 20 * 2 ** 20,
  retryFailed: true,
  verify: 'hash',
  userAgent: USER_AGENT,
} as const;

export type ResolvedDownloadOptions = Required<Omit<DownloadOptions, 'onProgress' | 'signal'>> &
  Pick<DownloadOptions, 'onProgress' | 'signal'>;

function check(ok: boolean, name: string, want: string, got: unknown): void {
  if (!ok)
    throw new LoupeError('INVALID_ARGUMENT', `${name} must be ${want}, got ${String(got)}`, { [name]: got });
}

/** Fills in defaults and rejects nonsense before any request is made. */
export function resolveDownloadOptions(o: DownloadOptions): ResolvedDownloadOptions {
  const r: ResolvedDownloadOptions = { ...DOWNLOAD_DEFAULTS, ...stripUndefined(o), blobs: o.blobs, db: o.db };
  check(Boolean(r.blobs && r.db), 'blobs and db', 'given', 'nothing');
  const positiveInt = (v: number) => Number.isSafeInteger(v) && v >= 1;
  const nonNegativeInt = (v: number) => Number.isSafeInteger(v) && v >= 0;
  check(positiveInt(r.concurrency), 'concurrency', 'a positive integer', r.concurrency);
  check(positiveInt(r.perHost), 'perHost', 'a positive integer', r.perHost);
  check(r.ratePerHost > 0, 'ratePerHost', 'a positive number (Infinity for no limit)', r.ratePerHost);
  check(positiveInt(r.timeoutMs), 'timeoutMs', 'a positive integer', r.timeoutMs);
  check(nonNegativeInt(r.retries), 'retries', 'a non-negative integer', r.retries);
  check(nonNegativeInt(r.retryBaseMs), 'retryBaseMs', 'a non-negative integer', r.retryBaseMs);
  check(nonNegativeInt(r.maxRetryAfterMs), 'maxRetryAfterMs', 'a non-negative integer', r.maxRetryAfterMs);
  check(nonNegativeInt(r.maxRedirects), 'maxRedirects', 'a non-negative integer', r.maxRedirects);
  check(positiveInt(r.maxBytes), 'maxBytes', 'a positive integer', r.maxBytes);
  check(r.verify === 'hash' || r.verify === 'size', 'verify', "'hash' or 'size'", r.verify);
  return r;
}

/** `{ timeoutMs: undefined }` means "the default", not "no value". */
function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

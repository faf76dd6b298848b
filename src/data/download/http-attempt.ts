import { DownloadFailure } from './failure.js';
import { parseRetryAfter } from './retry-policy.js';

/** One HTTP request's abort signal: its own timeout, plus the caller's signal forwarded. */
export interface Attempt {
  readonly signal: AbortSignal;
  /** Starts the timeout over, for limits on silence rather than on the whole transfer. */
  restart(): void;
  /** What a failed attempt should throw instead of `e`; see startAttempt. */
  failure(e: unknown): unknown;
  dispose(): void;
}

/**
 * Arms a request's timeout. One controller per request, aborted by the timeout or the caller; not
 * AbortSignal.any: on Node 20 each combined signal stays attached to the long-lived caller signal
 * (nodejs/node#55351). A timeout surfaces as whatever the abort broke (the request, the body
 * stream), so `failure` names it, and gives the caller's own reason when the caller aborted.
 */
export function startAttempt(timeoutMs: number, caller?: AbortSignal): Attempt {
  const request = new AbortController();
  let timedOut = false;
  let restarted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    request.abort();
  }, timeoutMs);
  const forward = () => request.abort(caller?.reason);
  if (caller?.aborted) forward(); // a listener added now would never fire
  caller?.addEventListener('abort', forward, { once: true });
  return {
    signal: request.signal,
    restart() {
      restarted = true;
      timer.refresh();
    },
    failure(e) {
      if (caller?.aborted) return caller.reason;
      if (
        timedOut &&
        (!(e instanceof DownloadFailure) || e.kind === 'truncated' || e.kind === 'connection')
      ) {
        const what = restarted ? `no data for ${timeoutMs} ms` : `timed out after ${timeoutMs} ms`;
        return new DownloadFailure('timeout', what, true);
      }
      return e;
    },
    dispose() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', forward);
    },
  };
}

/** Classifies a rejected fetch (no response at all). */
export function networkFailure(e: unknown): DownloadFailure {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (e as NodeJS.ErrnoException).code;
  const message = cause?.message ?? (e as Error).message;
  // NXDOMAIN is an answer, not an outage: retrying it only delays the report.
  if (code === 'ENOTFOUND') return new DownloadFailure('dns', `host not found (${message})`);
  if (code === 'EAI_AGAIN') return new DownloadFailure('dns', `DNS lookup failed (${message})`, true);
  return new DownloadFailure('connection', `connection failed: ${message}`, true);
}

/** The failure for an error status, its body discarded: 5xx and 429 are worth retrying. */
export async function statusFailure(res: Response, maxRetryAfterMs: number): Promise<DownloadFailure> {
  await res.body?.cancel().catch(() => undefined);
  const transient = res.status === 429 || res.status >= 500;
  const retryAfter = transient ? parseRetryAfter(res.headers.get('retry-after'), maxRetryAfterMs) : undefined;
  return new DownloadFailure(
    'http_status',
    `HTTP ${res.status} ${res.statusText}`.trim(),
    transient,
    retryAfter,
  );
}

/** Content-Length when it counts the bytes the body will yield (no content coding applied). */
export function exactContentLength(res: Response): number | undefined {
  const encoding = res.headers.get('content-encoding');
  const header = res.headers.get('content-length');
  if (!(encoding === null || encoding === 'identity') || header === null) return undefined;
  return /^\d+$/.test(header.trim()) ? Number(header) : undefined;
}

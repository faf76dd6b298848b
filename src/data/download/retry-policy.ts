import { setTimeout as sleep } from 'node:timers/promises';
import { DownloadFailure } from './failure.js';

/** The longest pause between two attempts that backoff alone produces. */
export const MAX_BACKOFF_MS = 30_000;

/**
 * Delay before retry number `attempt` (0 for the first retry): exponential, with "equal jitter"
 * (half fixed, half random) so a crowd of workers that failed together does not come back together,
 * yet no retry is immediate.
 */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Parses a Retry-After header (delay in seconds, or an HTTP-date) into milliseconds from `now`,
 * capped at `capMs` so one server cannot park a worker for hours. Undefined when absent or
 * unparseable, in which case the caller falls back to backoff.
 */
export function parseRetryAfter(value: string | null, capMs: number, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(capMs, Math.max(0, ms));
}

export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  /** First backoff step (see backoffMs). */
  retryBaseMs: number;
  /** Aborting it ends the wait between attempts (an AbortError). */
  signal?: AbortSignal;
}

/**
 * Runs `once` until it succeeds or fails for good: only a retryable DownloadFailure is tried
 * again, after the server's Retry-After when it gave one, else after backoff.
 */
export async function withRetries<T>(once: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await once();
    } catch (e) {
      if (!(e instanceof DownloadFailure) || !e.retryable) throw e;
      if (retry >= policy.retries) {
        const tries = retry + 1;
        throw new DownloadFailure(
          e.kind,
          `${e.message} (gave up after ${tries} attempt${tries > 1 ? 's' : ''})`,
        );
      }
      await sleep(e.retryAfterMs ?? backoffMs(retry, policy.retryBaseMs), undefined, {
        signal: policy.signal,
      });
    }
  }
}

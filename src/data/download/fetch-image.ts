import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedDownloadOptions } from './download-options.js';
import { DownloadFailure } from './failure.js';
import type { HostLimiter } from './host-limiter.js';
import { backoffMs, parseRetryAfter } from './retry-policy.js';
import { describeContent, sniffImage, SNIFF_BYTES, type SniffedImage } from '../content/sniff-image.js';

export interface FetchedImage {
  bytes: Uint8Array;
  image: SniffedImage;
  finalUrl: string;
}

export type FetchOutcome =
  ({ ok: true; attempts: number } & FetchedImage) | { ok: false; failure: DownloadFailure; attempts: number };

export interface FetchContext {
  limiter: HostLimiter;
  options: ResolvedDownloadOptions;
  /** The caller's signal: aborting it rejects with its reason instead of producing a failure. */
  signal?: AbortSignal;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Parses a URL and admits only http(s): fetch would also read `data:` and `blob:` URLs. */
export function parseDownloadUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new DownloadFailure('invalid_url', `not a valid URL: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DownloadFailure('bad_scheme', `unsupported scheme ${url.protocol} (only http and https)`);
  return url;
}

/**
 * Fetches one image URL: redirects are followed by hand so each hop is re-checked (scheme, loop,
 * hop count) and goes through its own host's limits; each request is retried on its own.
 */
export async function fetchImage(start: URL, ctx: FetchContext): Promise<FetchOutcome> {
  const counter = { attempts: 0 };
  try {
    let current = start;
    const chain = [start.href];
    for (let hops = 0; ; hops++) {
      const step = await withRetries(() => requestOnce(current, ctx, counter), ctx);
      if (step.kind === 'body') return { ok: true, attempts: counter.attempts, ...step.fetched };
      if (step.location === null)
        throw new DownloadFailure('http_status', `HTTP ${step.status} redirect without a Location header`);
      let next: URL;
      try {
        next = parseDownloadUrl(step.location, current);
      } catch (e) {
        if (e instanceof DownloadFailure) throw new DownloadFailure(e.kind, `redirect: ${e.message}`);
        throw e;
      }
      if (chain.includes(next.href))
        throw new DownloadFailure('redirect_loop', `redirect loop: ${[...chain, next.href].join(' → ')}`);
      if (hops >= ctx.options.maxRedirects)
        throw new DownloadFailure('redirect_limit', `more than ${ctx.options.maxRedirects} redirects`);
      chain.push(next.href);
      current = next;
    }
  } catch (e) {
    if (e instanceof DownloadFailure) return { ok: false, failure: e, attempts: counter.attempts };
    throw e;
  }
}

async function withRetries<T>(once: () => Promise<T>, ctx: FetchContext): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await once();
    } catch (e) {
      if (!(e instanceof DownloadFailure) || !e.retryable) throw e;
      if (retry >= ctx.options.retries) {
        const tries = retry + 1;
        throw new DownloadFailure(
          e.kind,
          `${e.message} (gave up after ${tries} attempt${tries > 1 ? 's' : ''})`,
        );
      }
      await sleep(e.retryAfterMs ?? backoffMs(retry, ctx.options.retryBaseMs), undefined, {
        signal: ctx.signal,
      });
    }
  }
}

type Step =
  { kind: 'body'; fetched: FetchedImage } | { kind: 'redirect'; status: number; location: string | null };

/** One HTTP request under its host's limits and its own timeout, which also covers the body. */
async function requestOnce(url: URL, ctx: FetchContext, counter: { attempts: number }): Promise<Step> {
  const o = ctx.options;
  const release = await ctx.limiter.acquire(url.host, ctx.signal);
  // One controller per request, aborted by the timeout or the caller. Not AbortSignal.any: on
  // Node 20 each combined signal stays attached to the long-lived caller signal (nodejs/node#55351).
  const request = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    request.abort();
  }, o.timeoutMs);
  const forward = () => request.abort(ctx.signal?.reason);
  if (ctx.signal?.aborted) forward(); // a listener added now would never fire
  ctx.signal?.addEventListener('abort', forward, { once: true });
  const signal = request.signal;
  counter.attempts++;
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        redirect: 'manual',
        signal,
        headers: {
          'user-agent': o.userAgent,
          accept: 'image/*,*/*;q=0.8',
          // Byte counts must mean what Content-Length says; images do not compress anyway.
          'accept-encoding': 'identity',
        },
      });
    } catch (e) {
      throw networkFailure(e);
    }
    if (REDIRECT_STATUSES.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'redirect', status: res.status, location: res.headers.get('location') };
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      const transient = res.status === 429 || res.status >= 500;
      const retryAfter = transient
        ? parseRetryAfter(res.headers.get('retry-after'), o.maxRetryAfterMs)
        : undefined;
      throw new DownloadFailure(
        'http_status',
        `HTTP ${res.status} ${res.statusText}`.trim(),
        transient,
        retryAfter,
      );
    }
    return { kind: 'body', fetched: { ...(await readImageBody(res, o.maxBytes)), finalUrl: url.href } };
  } catch (e) {
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    // A timeout surfaces as whatever the abort broke (the request, the body stream); name it.
    if (timedOut && (!(e instanceof DownloadFailure) || e.kind === 'truncated' || e.kind === 'connection'))
      throw new DownloadFailure('timeout', `timed out after ${o.timeoutMs} ms`, true);
    throw e;
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', forward);
    release();
  }
}

function networkFailure(e: unknown): DownloadFailure {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (e as NodeJS.ErrnoException).code;
  const message = cause?.message ?? (e as Error).message;
  // NXDOMAIN is an answer, not an outage: retrying it only delays the report.
  if (code === 'ENOTFOUND') return new DownloadFailure('dns', `host not found (${message})`);
  if (code === 'EAI_AGAIN') return new DownloadFailure('dns', `DNS lookup failed (${message})`, true);
  return new DownloadFailure('connection', `connection failed: ${message}`, true);
}

/**
 * Streams the body with its limits enforced as bytes arrive: Content-Length over the limit fails
 * before reading, a body growing past it is cut off, and anything that does not start like an
 * image is dropped after its first bytes rather than read to the end.
 */
async function readImageBody(
  res: Response,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; image: SniffedImage }> {
  const encoding = res.headers.get('content-encoding');
  const lengthIsExact = encoding === null || encoding === 'identity';
  const header = res.headers.get('content-length');
  const declared =
    lengthIsExact && header !== null && /^\d+$/.test(header.trim()) ? Number(header) : undefined;
  const tooLarge = (what: string) =>
    new DownloadFailure('too_large', `${what} exceeds the ${maxBytes}-byte limit`);
  if (declared !== undefined && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(`Content-Length ${declared}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  let image: SniffedImage | undefined;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const chunk = await reader.read().catch((e: unknown) => {
          const of = declared === undefined ? '' : ` of ${declared}`;
          const why = (e as Error).message;
          throw new DownloadFailure(
            'truncated',
            `connection closed after ${total}${of} bytes (${why})`,
            true,
          );
        });
        if (chunk.done) break;
        total += chunk.value.length;
        if (total > maxBytes) throw tooLarge('the body');
        chunks.push(chunk.value);
        if (!image && total >= SNIFF_BYTES) image = sniffOrFail(Buffer.concat(chunks, total));
      }
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      throw e;
    }
  }
  if (declared !== undefined && total < declared)
    throw new DownloadFailure('truncated', `received ${total} of ${declared} bytes`, true);
  const bytes = Buffer.concat(chunks, total);
  return { bytes, image: image ?? sniffOrFail(bytes) };
}

function sniffOrFail(bytes: Uint8Array): SniffedImage {
  const image = sniffImage(bytes);
  if (!image)
    throw new DownloadFailure(
      'not_an_image',
      `not an image: ${describeContent(bytes.subarray(0, SNIFF_BYTES))}`,
    );
  return image;
}

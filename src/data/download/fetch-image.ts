import type { ResolvedDownloadOptions } from './download-options.js';
import { DownloadFailure } from './failure.js';
import type { HostLimiter } from './host-limiter.js';
import { exactContentLength, networkFailure, startAttempt, statusFailure } from './http-attempt.js';
import { followRedirects, redirectOf, type Hop } from './redirects.js';
import { withRetries } from './retry-policy.js';
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

/**
 * Fetches one image URL: redirects are followed by hand so each hop is re-checked (scheme, loop,
 * hop count) and goes through its own host's limits; each request is retried on its own.
 */
export async function fetchImage(start: URL, ctx: FetchContext): Promise<FetchOutcome> {
  const counter = { attempts: 0 };
  const policy = { retries: ctx.options.retries, retryBaseMs: ctx.options.retryBaseMs, signal: ctx.signal };
  try {
    const fetched = await followRedirects(start, ctx.options.maxRedirects, (url) =>
      withRetries(() => requestOnce(url, ctx, counter), policy),
    );
    return { ok: true, attempts: counter.attempts, ...fetched };
  } catch (e) {
    if (e instanceof DownloadFailure) return { ok: false, failure: e, attempts: counter.attempts };
    throw e;
  }
}

/** One HTTP request under its host's limits and its own timeout, which also covers the body. */
async function requestOnce(
  url: URL,
  ctx: FetchContext,
  counter: { attempts: number },
): Promise<Hop<FetchedImage>> {
  const o = ctx.options;
  const release = await ctx.limiter.acquire(url.host, ctx.signal);
  const attempt = startAttempt(o.timeoutMs, ctx.signal);
  counter.attempts++;
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        redirect: 'manual',
        signal: attempt.signal,
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
    const redirect = await redirectOf(res);
    if (redirect) return redirect;
    if (!res.ok) throw await statusFailure(res, o.maxRetryAfterMs);
    return { kind: 'body', value: { ...(await readImageBody(res, o.maxBytes)), finalUrl: url.href } };
  } catch (e) {
    throw attempt.failure(e);
  } finally {
    attempt.dispose();
    release();
  }
}

/**
 * Streams the body with its limits enforced as bytes arrive: Content-Length over the limit fails
 * before reading, a body growing past it is cut off, and anything that does not start like an
 * image is dropped after its first bytes rather than read to the end.
 */
export async function readImageBody(
  res: Response,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; image: SniffedImage }> {
  const declared = exactContentLength(res);
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

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { DownloadFailure } from '../../data/download/failure.js';
import {
  exactContentLength,
  networkFailure,
  startAttempt,
  statusFailure,
  type Attempt,
} from '../../data/download/http-attempt.js';
import { followRedirects, redirectOf, type Hop } from '../../data/download/redirects.js';
import { withRetries } from '../../data/download/retry-policy.js';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { hashStream } from './extractor-id.js';

export interface HttpSettings {
  retries: number;
  retryBaseMs: number;
  /** Longest silence: before the answer, and between two pieces of the body. */
  timeoutMs: number;
  maxRetryAfterMs: number;
  maxRedirects: number;
  signal?: AbortSignal;
}

export interface TransferOptions extends HttpSettings {
  /** Headers for one request; the caller decides per URL (a token goes to the hub, not to its CDN). */
  headers(url: URL): Record<string, string>;
  /** The caller's own error for an answer it can explain (401, 404 from the hub), else undefined. */
  refusal(url: URL, res: Response): LoupeError | undefined;
  onBytes?(bytes: number, total: number | undefined): void;
}

/** What the server vouches for: X-Linked-* headers (on the hub's redirect, or any hop), or the hub's ETag. */
interface Announced {
  sha256?: string;
  size?: number;
}

const sha256Etag = (v: string | null) => /^(?:W\/)?"?([0-9a-f]{64})"?$/i.exec(v ?? '')?.[1]?.toLowerCase();
const sizeHeader = (v: string | null) => (v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined);

/**
 * Downloads `url` into `partial`, resuming whatever bytes it already holds with a Range request
 * (after a dropped connection, or a killed process), and returns once the file is whole, matches
 * the SHA-256 the server announced (if any) and is on disk. The caller renames it into place.
 * A body that fails its hash is deleted: resuming from corrupt bytes could never succeed.
 */
export async function transferFile(url: URL, partial: string, o: TransferOptions): Promise<void> {
  const announced: Announced = {};
  const policy = { retries: o.retries, retryBaseMs: o.retryBaseMs, signal: o.signal };
  const sha256 = await followRedirects(url, o.maxRedirects, (hop) =>
    withRetries(() => request(hop, hop === url, partial, announced, o), policy),
  );
  if (announced.sha256 && sha256 !== announced.sha256) {
    await rm(partial, { force: true });
    throw new LoupeError(
      'CORRUPT_FILE',
      `${url.href} arrived with SHA-256 ${sha256}, but the server announced ${announced.sha256}; the download was discarded, try again`,
      { url: url.href },
    );
  }
}

async function request(
  url: URL,
  first: boolean,
  partial: string,
  announced: Announced,
  o: TransferOptions,
): Promise<Hop<string>> {
  const offset = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  const attempt = startAttempt(o.timeoutMs, o.signal);
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        redirect: 'manual',
        signal: attempt.signal,
        headers: {
          ...o.headers(url),
          // Byte counts and ranges must mean bytes of the file, not of a compressed stream.
          'accept-encoding': 'identity',
          ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
        },
      });
    } catch (e) {
      throw networkFailure(e);
    }
    announced.sha256 ??= sha256Etag(res.headers.get('x-linked-etag'));
    // Only the hub's own ETag is a SHA-256 (as huggingface_hub reads it): a CDN's ETag is its own
    // business, and some are 64 hex digits of something else.
    if (first) announced.sha256 ??= sha256Etag(res.headers.get('etag'));
    announced.size ??= sizeHeader(res.headers.get('x-linked-size'));
    const redirect = await redirectOf(res);
    if (redirect) return redirect;
    const refused = o.refusal(url, res);
    if (refused) {
      await res.body?.cancel().catch(() => undefined);
      throw refused;
    }
    if (res.status === 416) return await startOver(res, partial, `the server has no bytes after ${offset}`);
    if (!res.ok) throw await statusFailure(res, o.maxRetryAfterMs);
    let start = 0;
    let total = exactContentLength(res);
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== offset)
        return await startOver(
          res,
          partial,
          `asked for bytes from ${offset}, got ${res.headers.get('content-range')}`,
        );
      start = offset;
      total = range[3] === '*' ? Number(range[2]) + 1 : Number(range[3]);
    }
    if (total !== undefined && announced.size !== undefined && total !== announced.size) {
      // The bytes kept so far may be of that other file too.
      await res.body?.cancel().catch(() => undefined);
      await rm(partial, { force: true });
      throw new LoupeError(
        'CORRUPT_FILE',
        `${url.href} sends ${total} bytes but the hub announced ${announced.size}`,
        { url: url.href },
      );
    }
    return { kind: 'body', value: await receive(res, partial, start, total ?? announced.size, attempt, o) };
  } catch (e) {
    throw attempt.failure(e);
  } finally {
    attempt.dispose();
  }
}

/** The partial bytes cannot be continued: drop them and try again from the first byte, at once. */
async function startOver(res: Response, partial: string, why: string): Promise<never> {
  await res.body?.cancel().catch(() => undefined);
  await rm(partial, { force: true });
  throw new DownloadFailure('http_status', `cannot resume (${why}); starting over`, true, 0);
}

/** Appends the body to `partial` (from byte `start`); returns the whole file's SHA-256. */
async function receive(
  res: Response,
  partial: string,
  start: number,
  total: number | undefined,
  attempt: Attempt,
  o: TransferOptions,
): Promise<string> {
  const hash = createHash('sha256');
  if (start > 0) await hashPrefix(partial, start, hash);
  const disk = (e: unknown) => fsError(e, partial, { what: 'download' });
  const fh = await open(partial, start > 0 ? 'a' : 'w').catch((e: unknown) => {
    throw disk(e);
  });
  const reader = res.body?.getReader();
  let size = start;
  try {
    o.onBytes?.(size, total);
    for (;;) {
      const chunk = await reader?.read().catch((e: unknown) => {
        const of = total === undefined ? '' : ` of ${total}`;
        throw new DownloadFailure(
          'truncated',
          `connection closed after ${size}${of} bytes (${(e as Error).message})`,
          true,
        );
      });
      if (!chunk || chunk.done) break;
      await writeAll(fh, chunk.value).catch((e: unknown) => {
        throw disk(e);
      });
      hash.update(chunk.value);
      size += chunk.value.length;
      attempt.restart();
      o.onBytes?.(size, total);
      if (total !== undefined && size > total) {
        await rm(partial, { force: true });
        throw new LoupeError(
          'CORRUPT_FILE',
          `${res.url || 'the server'} sent more than the ${total} bytes it announced`,
        );
      }
    }
    if (total !== undefined && size < total)
      throw new DownloadFailure('truncated', `received ${size} of ${total} bytes`, true);
    // The file is renamed into the cache next and trusted from then on: its bytes must be on disk first.
    await fh.sync().catch((e: unknown) => {
      throw disk(e);
    });
  } catch (e) {
    await reader?.cancel().catch(() => undefined);
    throw e;
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function hashPrefix(file: string, bytes: number, hash: Hash): Promise<void> {
  await hashStream(createReadStream(file, { start: 0, end: bytes - 1 }), hash);
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += (await fh.write(bytes, at)).bytesWritten;
}

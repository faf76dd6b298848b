import { Agent, fetch as undiciFetch } from 'undici';
import { DownloadFailure, type FailureKind } from '../data/download/failure.js';
import { readImageBody } from '../data/download/fetch-image.js';
import { networkFailure, startAttempt } from '../data/download/http-attempt.js';
import { followRedirects, parseDownloadUrl, redirectOf, type Hop } from '../data/download/redirects.js';
import { LoupeError, type ErrorCode } from '../errors/loupe-error.js';
import {
  compileUrlPolicy,
  guardedConnector,
  RefusedAddress,
  type AddressGuard,
  type Resolver,
  type UrlPolicy,
} from './url-policy.js';

export { DEFAULT_URL_POLICY, type UrlPolicy } from './url-policy.js';

export interface FetchedUrlImage {
  bytes: Uint8Array;
  /** The URL the bytes came from, after redirects. */
  finalUrl: string;
  /** What the bytes are, sniffed (e.g. `image/jpeg`): servers label error pages `image/jpeg` too. */
  contentType: string;
  /** The server's Content-Type header as sent, for logs; null when it sent none. */
  declaredContentType: string | null;
}

export interface FetchImageUrlOptions {
  /** Aborting it (say, the API client hung up) stops the fetch. */
  signal?: AbortSignal;
  /** Resolves hostnames; the system resolver by default. Its answers are checked like any other. */
  resolve?: Resolver;
}

const CREDENTIALS = 'URLs with credentials (user:password@) are not accepted';

const USER_AGENT = 'Loupe/0.1 (self-hosted image classifier; fetching an image URL for an API client)';

/** Where a client can open a forbidden address, quoted in every refusal. */
const ALLOW_HINT = 'allow it with serve.url.allow';

/**
 * Downloads the image at a URL a client sent to `loupe serve`, which must not become a way to
 * reach what the server can reach and the client cannot (SSRF): internal services, the cloud
 * metadata endpoint, localhost.
 *
 * - Only http(s), without credentials; every redirect hop is checked the same way, by hand.
 * - Every connection goes through a connector that judges the address actually connected to
 *   (after DNS, so `localhost`, `0x7f.1` and a rebinding name all land on the same check); a name
 *   with any forbidden address is refused. See url-policy.ts.
 * - One deadline (`timeoutMs`) covers the whole chain; the body is capped at `maxBytes` as it
 *   streams; it must sniff as a raster image (no HTML error pages, no SVG).
 * - No proxy from the environment is used: a proxy would make the connection on our behalf and
 *   the address check would see only the proxy.
 *
 * Errors are LoupeErrors for the client: INVALID_ARGUMENT (400) for a bad or refused URL or an
 * upstream 4xx, TOO_LARGE (413) and UNSUPPORTED_MEDIA (415, not a raster image) as for uploads,
 * NETWORK (502) for upstream trouble (unreachable, timeout, upstream 5xx, redirect loops),
 * INTERRUPTED when `signal` aborted. A bad `policy` is INVALID_CONFIG.
 */
export async function fetchImageUrl(
  url: string,
  policy: Readonly<UrlPolicy>,
  o: FetchImageUrlOptions = {},
): Promise<FetchedUrlImage> {
  const guard = compileUrlPolicy(policy);
  let start: URL;
  try {
    start = parseDownloadUrl(url);
  } catch (e) {
    if (!(e instanceof DownloadFailure)) throw e;
    // The invalid-URL message quotes the URL already.
    const message = e.kind === 'bad_scheme' ? `cannot fetch ${shown(url)}: ${e.message}` : e.message;
    throw new LoupeError('INVALID_ARGUMENT', message, { url: shown(url) });
  }
  if (start.username || start.password)
    throw new LoupeError('INVALID_ARGUMENT', `cannot fetch ${shown(start)}: ${CREDENTIALS}`, {
      url: shown(start),
    });
  // An Agent per fetch: its connector carries this policy, and its sockets die with the fetch.
  const agent = new Agent({ connect: guardedConnector(guard, o.resolve) });
  const attempt = startAttempt(policy.timeoutMs, o.signal);
  let at = start;
  try {
    return await followRedirects(start, policy.maxRedirects, (hop) => {
      at = hop;
      return fetchHop(hop, agent, attempt.signal, guard);
    });
  } catch (e) {
    throw clientError(attempt.failure(e), start, at, o.signal);
  } finally {
    attempt.dispose();
    await agent.destroy().catch(() => undefined);
  }
}

/** An upstream answer that is neither a success nor a redirect. */
class UpstreamStatus extends Error {
  constructor(
    readonly status: number,
    statusText: string,
  ) {
    super(`the server answered HTTP ${status} ${statusText}`.trim());
  }
}

async function fetchHop(
  url: URL,
  agent: Agent,
  signal: AbortSignal,
  guard: AddressGuard,
): Promise<Hop<FetchedUrlImage>> {
  // Credentials would be sent to whatever host the URL names, redirect targets included.
  if (url.username || url.password) throw new DownloadFailure('invalid_url', `redirect: ${CREDENTIALS}`);
  let res;
  try {
    res = await undiciFetch(url, {
      dispatcher: agent,
      redirect: 'manual',
      signal,
      headers: {
        'user-agent': USER_AGENT,
        accept: 'image/*',
        // Byte counts must mean what Content-Length says; images do not compress anyway.
        'accept-encoding': 'identity',
      },
    });
  } catch (e) {
    throw refusalIn(e) ?? networkFailure(e);
  }
  const redirect = await redirectOf(res);
  if (redirect) return redirect;
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new UpstreamStatus(res.status, res.statusText);
  }
  const declaredContentType = res.headers.get('content-type');
  const { bytes, image } = await readImageBody(res, guard.policy.maxBytes);
  return { kind: 'body', value: { bytes, finalUrl: url.href, contentType: image.mime, declaredContentType } };
}

/** The connector's refusal, from inside fetch's "fetch failed" wrapping. */
function refusalIn(e: unknown): RefusedAddress | undefined {
  for (let at = e, depth = 0; at instanceof Error && depth < 5; at = at.cause, depth++)
    if (at instanceof RefusedAddress) return at;
  return undefined;
}

/** The same codes an upload gets for the same fault; unlisted kinds are the upstream's (NETWORK). */
const KIND_CODES: Partial<Record<FailureKind, ErrorCode>> = {
  invalid_url: 'INVALID_ARGUMENT',
  bad_scheme: 'INVALID_ARGUMENT',
  too_large: 'TOO_LARGE',
  not_an_image: 'UNSUPPORTED_MEDIA',
};

const RASTER_HINT = 'expected a raster image: JPEG, PNG, GIF, WebP, TIFF, BMP, HEIF or AVIF';

function clientError(e: unknown, start: URL, at: URL, signal: AbortSignal | undefined): unknown {
  const url = shown(start);
  const where = at.href === start.href ? url : `${url} (redirected to ${shown(at)})`;
  if (signal?.aborted) {
    if (e instanceof LoupeError) return e;
    return new LoupeError('INTERRUPTED', `fetching ${where} was cancelled`, { url }, { cause: e });
  }
  if (e instanceof LoupeError) return e;
  if (e instanceof RefusedAddress) {
    return new LoupeError('INVALID_ARGUMENT', `refusing to fetch ${where}: ${e.describe()} (${ALLOW_HINT})`, {
      url,
      host: e.host,
      addressKind: e.kind,
    });
  }
  if (e instanceof UpstreamStatus) {
    // A 4xx says the URL leads nowhere, which is the client's to fix; 408 and 429 are transient.
    const clientFault = e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429;
    const code: ErrorCode = clientFault ? 'INVALID_ARGUMENT' : 'NETWORK';
    return new LoupeError(code, `fetching ${where} failed: ${e.message}`, { url, upstreamStatus: e.status });
  }
  if (e instanceof DownloadFailure) {
    const code = KIND_CODES[e.kind] ?? 'NETWORK';
    const hint = e.kind === 'not_an_image' ? ` (${RASTER_HINT})` : '';
    return new LoupeError(code, `fetching ${where} failed: ${e.message}${hint}`, { url, reason: e.kind });
  }
  return e;
}

/** A URL fit for a message: no password echoed into logs, no megabyte `data:` URL. */
function shown(u: URL | string): string {
  let text = String(u);
  if (u instanceof URL && (u.username || u.password)) {
    const copy = new URL(u.href);
    copy.username = '';
    copy.password = '';
    text = copy.href;
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

import { DownloadFailure } from './failure.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** What one request along a redirect chain produced: the final answer, or where to go next. */
export type Hop<T> =
  { kind: 'body'; value: T } | { kind: 'redirect'; status: number; location: string | null };

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

/** The redirect a response asks for, its body discarded; undefined when it is not a redirect. */
export async function redirectOf(res: Response): Promise<Hop<never> | undefined> {
  if (!REDIRECT_STATUSES.has(res.status)) return undefined;
  await res.body?.cancel().catch(() => undefined);
  return { kind: 'redirect', status: res.status, location: res.headers.get('location') };
}

/**
 * Follows redirects by hand (requests are made with `redirect: 'manual'`) so each hop is
 * re-checked (scheme, loop, hop count) and made by the caller's `hop`, which decides per URL what
 * to send and how often to retry.
 */
export async function followRedirects<T>(
  start: URL,
  maxRedirects: number,
  hop: (url: URL) => Promise<Hop<T>>,
): Promise<T> {
  let current = start;
  const chain = [start.href];
  for (let hops = 0; ; hops++) {
    const step = await hop(current);
    if (step.kind === 'body') return step.value;
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
    if (hops >= maxRedirects)
      throw new DownloadFailure('redirect_limit', `more than ${maxRedirects} redirects`);
    chain.push(next.href);
    current = next;
  }
}

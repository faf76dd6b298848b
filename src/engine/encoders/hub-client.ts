import { z } from 'zod';
import { DownloadFailure } from '../../data/download/failure.js';
import { networkFailure, startAttempt, statusFailure } from '../../data/download/http-attempt.js';
import { followRedirects, redirectOf, type Hop } from '../../data/download/redirects.js';
import { withRetries } from '../../data/download/retry-policy.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { HttpSettings } from './hub-transfer.js';

/**
 * The Hugging Face hub's download protocol as huggingface_hub speaks it: the model-info API
 * resolves a revision to a commit and lists the repo's files, then each file comes from
 * `{endpoint}/{repo}/resolve/{commit}/{path}`, which for large (LFS) files redirects to a CDN and
 * announces the file's SHA-256 and size in X-Linked-Etag and X-Linked-Size.
 */

const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
const USER_AGENT = 'Loupe/0.1 (self-hosted image classifier; model downloader)';

export const HUB_HTTP_DEFAULTS = {
  retries: 4,
  retryBaseMs: 500,
  timeoutMs: 30_000,
  maxRetryAfterMs: 60_000,
  maxRedirects: 5,
} as const;

export function hubEndpoint(option?: string): string {
  const raw = option ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LoupeError('INVALID_ARGUMENT', `hub endpoint ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new LoupeError('INVALID_ARGUMENT', `hub endpoint ${raw} must be an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

const revisionInfoSchema = z.object({
  sha: z.string().regex(/^[0-9a-f]{40}$/),
  siblings: z.array(z.object({ rfilename: z.string() })).optional(),
});

export type RevisionInfo = z.output<typeof revisionInfoSchema>;

/** One repository on one hub: its URLs, the headers it is sent and the errors it explains. */
export class HubClient {
  readonly settings: HttpSettings;
  private readonly origin: string;

  constructor(
    readonly endpoint: string,
    readonly repo: string,
    settings: HttpSettings,
  ) {
    this.settings = settings;
    this.origin = new URL(endpoint).origin;
  }

  fileUrl(sha: string, file: string): URL {
    return new URL(
      `${this.endpoint}/${this.repo}/resolve/${sha}/${file.split('/').map(encodeURIComponent).join('/')}`,
    );
  }

  /** The token goes to the hub only: the CDN it redirects to gets signed URLs, and no secrets. */
  headers(url: URL): Record<string, string> {
    const token = process.env.HF_TOKEN;
    return {
      'user-agent': USER_AGENT,
      ...(token && url.origin === this.origin ? { authorization: `Bearer ${token}` } : {}),
    };
  }

  async revisionInfo(revision: string): Promise<RevisionInfo> {
    const url = new URL(`${this.endpoint}/api/models/${this.repo}/revision/${encodeURIComponent(revision)}`);
    const s = this.settings;
    return followRedirects(url, s.maxRedirects, (hop) =>
      withRetries(() => this.requestJson(hop, revision), {
        retries: s.retries,
        retryBaseMs: s.retryBaseMs,
        signal: s.signal,
      }),
    );
  }

  private async requestJson(url: URL, revision: string): Promise<Hop<RevisionInfo>> {
    const attempt = startAttempt(this.settings.timeoutMs, this.settings.signal);
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          redirect: 'manual',
          signal: attempt.signal,
          headers: { ...this.headers(url), accept: 'application/json' },
        });
      } catch (e) {
        throw networkFailure(e);
      }
      const redirect = await redirectOf(res);
      if (redirect) return redirect;
      const notFound =
        res.headers.get('x-error-code') === 'RevisionNotFound'
          ? `${this.repo} has no revision "${revision}"`
          : `no model repository ${this.repo} (or no revision "${revision}" in it)`;
      const refused = this.refusal(url, res, notFound);
      if (refused) {
        await res.body?.cancel().catch(() => undefined);
        throw refused;
      }
      if (!res.ok) throw await statusFailure(res, this.settings.maxRetryAfterMs);
      let body: unknown;
      try {
        body = await res.json();
      } catch (e) {
        throw new DownloadFailure('truncated', `unreadable model info: ${(e as Error).message}`, true);
      }
      const info = revisionInfoSchema.safeParse(body);
      if (!info.success)
        throw new DownloadFailure(
          'http_status',
          `${url.href} did not answer with model info (a proxy or captive portal?)`,
        );
      return { kind: 'body', value: info.data };
    } catch (e) {
      throw attempt.failure(e);
    } finally {
      attempt.dispose();
    }
  }

  /**
   * The errors the hub explains: it answers 401 for a repo that is private, gated or missing when
   * no token is sent, 403 when the token may not read it, and 404 when it does not exist.
   */
  refusal(url: URL, res: Response, notFound: string): LoupeError | undefined {
    if (url.origin !== this.origin) return undefined;
    const said = res.headers.get('x-error-message');
    const details = { repo: this.repo, status: res.status, url: url.href };
    if (res.status === 404)
      return new LoupeError(
        'NOT_FOUND',
        `${notFound} on ${this.endpoint}${said ? ` (the hub says: ${said})` : ''}`,
        details,
      );
    if (res.status !== 401 && res.status !== 403) return undefined;
    const fix = process.env.HF_TOKEN
      ? 'HF_TOKEN is set but was refused: check that the token is valid and may read this repository (for a gated model, accept its terms on the model page first)'
      : 'if it is private or gated, set HF_TOKEN to an access token that may read it (https://huggingface.co/settings/tokens)';
    return new LoupeError(
      'NOT_FOUND',
      `the hub refused access to ${this.repo} (HTTP ${res.status}${said ? `: ${said}` : ''}); the repository may not exist, or ${fix}`,
      details,
    );
  }
}

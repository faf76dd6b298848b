/**
 * Why a URL could not be downloaded. Stable names: the CLI groups its summary by them and the
 * `downloads` table stores them (as the prefix of its `error` column).
 */
export const FAILURE_KINDS = [
  'invalid_url',
  'bad_scheme',
  'http_status',
  'timeout',
  'too_large',
  'truncated',
  'not_an_image',
  'redirect_loop',
  'redirect_limit',
  'dns',
  'connection',
] as const;

export type FailureKind = (typeof FAILURE_KINDS)[number];

/**
 * A per-URL failure, thrown inside the fetch path and turned into a report entry at its edge: it
 * never escapes downloadAll, which is why it is not a LoupeError (those are for the caller).
 */
export class DownloadFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** Worth another attempt in this run (network trouble, 5xx, 429, a cut-off body). */
    readonly retryable = false,
    /** The server's own Retry-After, already capped. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DownloadFailure';
  }
}

/** How a failure is stored in the `error` column: `<kind>: <reason>`. */
export function encodeFailure(kind: FailureKind, reason: string): string {
  return `${kind}: ${reason}`;
}

export function decodeFailure(stored: string | null): { kind?: FailureKind; reason: string } {
  const m = /^([a-z_]+): ([\s\S]*)$/.exec(stored ?? '');
  if (m && (FAILURE_KINDS as readonly string[]).includes(m[1]!)) {
    return { kind: m[1] as FailureKind, reason: m[2]! };
  }
  return { reason: stored ?? 'unknown error' };
}

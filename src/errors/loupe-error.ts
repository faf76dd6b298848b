/**
 * One error type for the whole of Loupe. Every failure a user can cause carries a stable
 * code; the CLI maps codes to exit status and the HTTP layer maps them to problem+json.
 */
export const ERROR_CODES = {
  INVALID_SPEC: { status: 400, exit: 2 },
  INVALID_CONFIG: { status: 400, exit: 2 },
  NO_WORKSPACE: { status: 404, exit: 2 },
  INVALID_ARGUMENT: { status: 400, exit: 2 },
  SHAPE_MISMATCH: { status: 400, exit: 2 },
  DTYPE_MISMATCH: { status: 400, exit: 2 },
  NAN_LOSS: { status: 500, exit: 3 },
  OUT_OF_MEMORY: { status: 507, exit: 3 },
  NATIVE_ERROR: { status: 500, exit: 3 },
  NATIVE_UNAVAILABLE: { status: 500, exit: 4 },
  DISPOSED: { status: 500, exit: 3 },
  CORRUPT_FILE: { status: 422, exit: 2 },
  VALIDATION_FAILED: { status: 422, exit: 2 },
  NOT_FOUND: { status: 404, exit: 2 },
  /** Someone else changed the thing first (an alias moved under a promotion); retrying is safe. */
  CONFLICT: { status: 409, exit: 2 },
  /** A request body or input over its size limit. */
  TOO_LARGE: { status: 413, exit: 2 },
  /** Content that is not something Loupe takes (an SVG, a text file named .jpg, the wrong media type). */
  UNSUPPORTED_MEDIA: { status: 415, exit: 2 },
  UNAUTHORIZED: { status: 401, exit: 2 },
  FORBIDDEN: { status: 403, exit: 2 },
  RATE_LIMITED: { status: 429, exit: 3 },
  /** The server's queue is full; the client should retry after a moment. */
  OVERLOADED: { status: 503, exit: 3 },
  /** A model version failed its gate policy: a verdict, not a malfunction. */
  GATE_FAILED: { status: 422, exit: 5 },
  /** A drift check found the served inputs or predictions changed: a verdict, not a malfunction. */
  DRIFT_DETECTED: { status: 422, exit: 6 },
  /** Too few logged predictions for a drift verdict either way. */
  NOT_ENOUGH_DATA: { status: 409, exit: 7 },
  MISSING_DEPENDENCY: { status: 500, exit: 4 },
  DISK_FULL: { status: 507, exit: 3 },
  NETWORK: { status: 502, exit: 3 },
  INTERRUPTED: { status: 503, exit: 130 },
  /** A failure Loupe did not foresee (a crashed worker process, a bug): never the user's input. */
  INTERNAL: { status: 500, exit: 1 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CODES, code);

export class LoupeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LoupeError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isLoupeError(e: unknown, code?: ErrorCode): e is LoupeError {
  return e instanceof LoupeError && (code === undefined || e.code === code);
}

import type { z } from 'zod';
import { LoupeError } from '../errors/loupe-error.js';

/**
 * Validates a web API request's body, query or params in the handler, after the route's role
 * check. A route `schema` would validate before the preHandler hooks, so a request without a
 * session would hear about its malformed body (400) instead of that it must sign in (401); and
 * the server's body-validation message speaks of prediction inputs.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  throw new LoupeError(
    'INVALID_ARGUMENT',
    `invalid ${what}: ${r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`,
  );
}

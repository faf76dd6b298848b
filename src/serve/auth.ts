import type { FastifyRequest } from 'fastify';
import { LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';
import { hasScope, verifyToken, type ApiKey, type ApiKeyScope } from './api-keys.js';

/** How long a verified token is trusted before the database is asked again (revocation delay). */
const CACHE_MS = 5000;

/** The API key a request presents, in `Authorization: Bearer …` or `X-API-Key: …`. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  const header = request.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

/**
 * Checks API keys: a presented key must be valid and carry the route's scope; with
 * `required`, a key must be presented. Verified tokens are cached briefly so a hot path does not
 * read the database per request; a revoked key stops working within CACHE_MS.
 */
export function createAuthenticator(db: Database, required: boolean) {
  const cache = new Map<string, { key: ApiKey | undefined; until: number }>();
  return async (request: FastifyRequest, scope: ApiKeyScope): Promise<ApiKey | undefined> => {
    const token = presentedToken(request);
    if (!token) {
      if (required)
        throw new LoupeError(
          'UNAUTHORIZED',
          'an API key is required: send it as "Authorization: Bearer <key>"',
        );
      return undefined;
    }
    const now = Date.now();
    let entry = cache.get(token);
    if (!entry || entry.until < now) {
      entry = { key: await verifyToken(db, token), until: now + CACHE_MS };
      if (cache.size > 10_000) cache.clear();
      cache.set(token, entry);
    }
    if (!entry.key)
      throw new LoupeError('UNAUTHORIZED', 'the API key is not valid (unknown, malformed or revoked)');
    if (!hasScope(entry.key, scope))
      throw new LoupeError('FORBIDDEN', `the API key "${entry.key.name}" lacks the "${scope}" scope`);
    return entry.key;
  };
}

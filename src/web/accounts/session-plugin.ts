import crypto from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import type { WebConfig } from '../web-config.js';
import {
  createSession,
  pruneSessions,
  resolveSession,
  type ResolvedSession,
  type SessionTimes,
} from './session-store.js';
import type { SessionUser } from './roles.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session behind `user`, for the routes that end or rotate it. */
    webSession: ResolvedSession | null;
  }
}

export const SESSION_COOKIE = 'loupe_session';
/** Before signing in, the CSRF token lives in this cookie (double submit); after, in the session row. */
export const ANON_CSRF_COOKIE = 'loupe_csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const PRUNE_EVERY_MS = 60 * 60_000;

export const isWebApi = (url: string) => url.startsWith('/api/');

export function sessionTimes(config: WebConfig): SessionTimes {
  return { maxAgeMs: config.session.maxAgeHours * 3_600_000, idleMs: config.session.idleMinutes * 60_000 };
}

/**
 * HttpOnly: page scripts (and so injected ones) cannot read it. SameSite=Strict: other sites'
 * pages cannot make the browser send it. Secure when the request came over https (as Fastify
 * sees it: the socket, or X-Forwarded-Proto from a proxy named in web.trustProxy).
 */
function cookieOptions(request: FastifyRequest) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: request.protocol === 'https',
  };
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** Signs `user` in on this browser: a new session (never the one the request came with) and its cookie. */
export async function startSession(
  db: Database,
  config: WebConfig,
  request: FastifyRequest,
  reply: FastifyReply,
  user: SessionUser,
): Promise<{ user: SessionUser; csrf: string }> {
  const session = await createSession(db, user.id, sessionTimes(config));
  void reply.setCookie(SESSION_COOKIE, session.id, { ...cookieOptions(request), expires: session.expiresAt });
  return { user, csrf: session.csrf };
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
}

/** The CSRF token a signed-out browser uses for sign-in and registration, set as a cookie on first need. */
export function anonymousCsrf(request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[ANON_CSRF_COOKIE];
  if (existing && /^[\w-]{43}$/.test(existing)) return existing;
  const token = crypto.randomBytes(32).toString('base64url');
  void reply.setCookie(ANON_CSRF_COOKIE, token, cookieOptions(request));
  return token;
}

/**
 * Cookies, sessions and CSRF for every /api/ request. A session cookie resolves to
 * `request.user`; then every POST, PUT, PATCH and DELETE under /api/ must carry the CSRF token in
 * `x-csrf-token`, or is refused with 403 before any route runs.
 *
 * CSRF is the synchronizer token pattern, hand-written rather than @fastify/csrf-protection:
 * the sessions are already server-side rows, so the token is one more column, bound to the
 * session and compared in constant time. That plugin keeps its secret in a cookie (double submit)
 * or needs @fastify/session; neither adds anything here. A signed-out browser (signing in or up)
 * gets a double-submit token in its own HttpOnly cookie: another site can neither read it nor
 * send the custom header without a CORS preflight, which this server never grants.
 */
export async function registerSessions(app: FastifyInstance, db: Database, config: WebConfig): Promise<void> {
  await app.register(fastifyCookie);
  app.decorateRequest('user', null);
  app.decorateRequest('webSession', null);
  const times = sessionTimes(config);

  app.addHook('onRequest', async (request) => {
    if (!isWebApi(request.url)) return;
    const id = request.cookies[SESSION_COOKIE];
    if (!id) return;
    const session = await resolveSession(db, id, times);
    if (session) {
      request.user = session.user;
      request.webSession = session;
    }
  });

  app.addHook('onRequest', async (request) => {
    // An unknown route changes nothing: let it answer 404 rather than hide that behind 403.
    if (!isWebApi(request.url) || SAFE_METHODS.has(request.method) || request.is404) return;
    const given = request.headers['x-csrf-token'];
    const expected = request.webSession?.csrf ?? request.cookies[ANON_CSRF_COOKIE];
    if (typeof given !== 'string' || !given || !expected || !tokensEqual(given, expected))
      throw new LoupeError(
        'FORBIDDEN',
        'missing or invalid CSRF token (x-csrf-token): reload the page and try again',
      );
  });

  await pruneSessions(db, times);
  const timer = setInterval(() => void pruneSessions(db, times).catch(() => undefined), PRUNE_EVERY_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

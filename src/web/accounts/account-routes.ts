import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { LoupeError, isLoupeError } from '../../errors/loupe-error.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { usableInvitation } from './invitations.js';
import { FailureThrottle } from './login-throttle.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './password-hash.js';
import { registerAccount } from './registration.js';
import { requireRole } from './require-role.js';
import { anonymousCsrf, clearSessionCookie, startSession } from './session-plugin.js';
import { endSession, endUserSessions } from './session-store.js';
import {
  checkPassword,
  countUsers,
  findUserByEmail,
  PASSWORD_MAX,
  recordLogin,
  setPasswordHash,
} from './user-store.js';

const credentials = z.object({
  email: z.string().max(254),
  password: z.string().max(PASSWORD_MAX),
});
const registration = credentials.extend({ invitation: z.string().max(200).optional() });
const passwordChange = z.object({
  currentPassword: z.string().max(PASSWORD_MAX),
  newPassword: z.string(),
});

const isPublic = { config: { public: true }, schema: { hide: true } };
const hidden = { schema: { hide: true } };

/** Throttle checks that refuse with 429 carry Retry-After, in seconds. */
async function guard(reply: FastifyReply, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (e) {
    if (isLoupeError(e, 'RATE_LIMITED'))
      void reply.header('retry-after', String(e.details?.retryAfterSeconds ?? 60));
    throw e;
  }
}

/**
 * Signing in and out, registering, and a person's own account: the session (`GET /api/session`
 * tells the page who is signed in and the CSRF token to send), password change and
 * "log out everywhere".
 */
export function registerAccountRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { db } = deps.ws;
  const web = deps.config.web;
  const throttle = new FailureThrottle(db, web.login.windowMinutes * 60_000);

  app.get('/api/session', isPublic, async (request, reply) => ({
    user: request.user,
    csrf: request.webSession?.csrf ?? anonymousCsrf(request, reply),
    registration: web.registration,
    needsFirstAccount: (await countUsers(db)) === 0,
  }));

  app.post('/api/session', isPublic, async (request, reply) => {
    const { email, password } = parseInput(credentials, request.body, 'sign-in');
    const account = email.trim().toLowerCase();
    await guard(reply, async () => {
      await throttle.check(
        'address',
        request.ip,
        web.login.maxFailuresPerIp,
        'failed sign-ins from your address',
      );
      await throttle.check(
        'email',
        account,
        web.login.maxFailuresPerAccount,
        'failed sign-ins for this account',
      );
    });
    const row = await findUserByEmail(db, account);
    // Unknown emails are checked against a dummy hash: the answer takes as long either way.
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash()));
    if (!row || !ok) {
      await throttle.fail('address', request.ip);
      await throttle.fail('email', account);
      throw new LoupeError('UNAUTHORIZED', 'wrong email or password');
    }
    if (row.disabled_at)
      throw new LoupeError('FORBIDDEN', 'this account is disabled: ask an admin to enable it');
    if (needsRehash(row.password_hash)) await setPasswordHash(db, row.id, await hashPassword(password));
    await recordLogin(db, row.id);
    if (request.webSession) await endSession(db, request.webSession.idHash);
    return startSession(db, web, request, reply, { id: row.id, email: row.email, role: row.role });
  });

  app.delete('/api/session', { ...hidden, preHandler: requireRole('viewer') }, async (request, reply) => {
    await endSession(db, request.webSession!.idHash);
    clearSessionCookie(request, reply);
    return reply.code(204).send();
  });

  app.post('/api/register', isPublic, async (request, reply) => {
    const input = parseInput(registration, request.body, 'registration');
    await guard(reply, () =>
      throttle.check('signup', request.ip, web.login.maxFailuresPerIp, 'sign-ups from your address'),
    );
    // Counted whether it succeeds or not: each one costs a memory-hard hash.
    await throttle.fail('signup', request.ip);
    const user = await registerAccount(db, web, input);
    if (request.webSession) await endSession(db, request.webSession.idHash);
    const started = await startSession(db, web, request, reply, user);
    return reply.code(201).send(started);
  });

  app.get('/api/invitations/:code', isPublic, async (request) => {
    const { code } = parseInput(z.object({ code: z.string().max(200) }), request.params, 'invitation');
    const invitation = await usableInvitation(db, code);
    return { role: invitation.role, email: invitation.email, expiresAt: invitation.expiresAt };
  });

  app.post(
    '/api/account/password',
    { ...hidden, preHandler: requireRole('viewer') },
    async (request, reply) => {
      const { currentPassword, newPassword } = parseInput(passwordChange, request.body, 'password change');
      const user = request.user!;
      await guard(reply, () =>
        throttle.check('email', user.email, web.login.maxFailuresPerAccount, 'wrong passwords'),
      );
      const row = await findUserByEmail(db, user.email);
      if (!row || !(await verifyPassword(currentPassword, row.password_hash))) {
        await throttle.fail('email', user.email);
        throw new LoupeError('FORBIDDEN', 'the current password is wrong');
      }
      checkPassword(newPassword);
      await setPasswordHash(db, user.id, await hashPassword(newPassword));
      // Whoever knew the old password is signed out everywhere but here.
      const ended = await endUserSessions(db, user.id, request.webSession!.idHash);
      return { endedSessions: ended };
    },
  );

  app.post(
    '/api/account/logout-all',
    { ...hidden, preHandler: requireRole('viewer') },
    async (request, reply) => {
      const ended = await endUserSessions(db, request.user!.id);
      clearSessionCookie(request, reply);
      return { endedSessions: ended };
    },
  );
}

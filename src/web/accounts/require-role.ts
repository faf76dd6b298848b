import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { LoupeError } from '../../errors/loupe-error.js';
import { roleAtLeast, type SessionUser, type UserRole } from './roles.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is signed in (set for /api/ requests by the session hook); null when nobody is. */
    user: SessionUser | null;
  }
  interface FastifyContextConfig {
    /** An /api/ route anyone may call, signed in or not (session, sign-in, registration). */
    public?: boolean;
  }
}

const REQUIRED = Symbol('loupe.requiredRole');

type RoleCheck = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & {
  [REQUIRED]: UserRole;
};

/**
 * A preHandler that lets a request through only with a session whose role is at least `role`
 * (admin > annotator > viewer): 401 without a session, 403 below the role. Every /api/ route
 * declares one (or `config: { public: true }`); see enforceRoleDeclarations.
 */
export function requireRole(role: UserRole): RoleCheck {
  const check = async (request: FastifyRequest) => {
    if (!request.user) throw new LoupeError('UNAUTHORIZED', 'sign in first: this needs a signed-in account');
    if (!roleAtLeast(request.user.role, role))
      throw new LoupeError(
        'FORBIDDEN',
        `this needs the ${role} role or higher; your account is ${request.user.role}: ask an admin`,
      );
  };
  return Object.assign(check, { [REQUIRED]: role });
}

export type RouteAccess = UserRole | 'public';

export interface DeclaredRoute {
  method: string;
  url: string;
  access: RouteAccess;
}

const declared = new WeakMap<FastifyInstance, DeclaredRoute[]>();

const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function roleOf(hooks: unknown[]): UserRole | undefined {
  return (hooks.find((h) => typeof h === 'function' && REQUIRED in h) as RoleCheck | undefined)?.[REQUIRED];
}

/**
 * Makes a forgotten role check impossible: every route registered under /api/ from now on must
 * carry a requireRole(...) hook or `config: { public: true }`, or registering it throws (so the
 * server does not start). The check is moved from preHandler to onRequest, so it runs before the
 * body is parsed and validated: a caller without a session hears 401, not about their body.
 */
export function enforceRoleDeclarations(app: FastifyInstance): void {
  const list: DeclaredRoute[] = [];
  declared.set(app, list);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    const preHandler = asList(route.preHandler);
    const onRequest = asList(route.onRequest);
    const role = roleOf(onRequest) ?? roleOf(preHandler);
    const methods = asList(route.method);
    if (!role && !route.config?.public)
      throw new Error(
        `${methods.join(',')} ${route.url} declares no role: add preHandler: requireRole('viewer' | 'annotator' | 'admin'), or config: { public: true } for a route anyone may call`,
      );
    if (role) {
      const check = [...onRequest, ...preHandler].find((h) => typeof h === 'function' && REQUIRED in h);
      route.preHandler = preHandler.filter((h) => h !== check);
      if (!onRequest.includes(check!)) route.onRequest = [check as onRequestHookHandler, ...onRequest];
    }
    for (const method of methods) list.push({ method, url: route.url, access: role ?? 'public' });
  });
}

/** The access every /api/ route declared, in registration order (for tests and audits). */
export function declaredRoutes(app: FastifyInstance): DeclaredRoute[] {
  return [...(declared.get(app) ?? [])];
}

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { z } from 'zod';
import { hashPassword, SCRYPT_PARAMS } from '../src/web/accounts/password-hash.js';
import { FailureThrottle } from '../src/web/accounts/login-throttle.js';
import { declaredRoutes, enforceRoleDeclarations, requireRole } from '../src/web/accounts/require-role.js';
import { webConfigSchema } from '../src/web/web-config.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { expectProblem, json, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { assertScriptsLockedDown, buildWebApp, createUser, WebClient } from './helpers/web-e2e.js';

/**
 * The web app's accounts over real HTTP: a real server on 127.0.0.1 over a real workspace
 * database, driven by fetch with a cookie jar (WebClient) as a browser would.
 */

const PASSWORD = 'correct horse battery';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface Started {
  server: RunningServer;
  ws: Workspace;
  url: string;
}

const cleanups: (() => Promise<unknown>)[] = [];

/** A server over a fresh, empty workspace (no model: the accounts do not need one). */
async function start(
  web: z.input<typeof webConfigSchema> = {},
  webDist?: string,
): Promise<Started & { stop: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'loupe-web-'));
  await initWorkspace(dir);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return serverOn(dir, web, webDist);
}

/**
 * A server over the workspace in `dir` with its own database connection, as another
 * `loupe serve` process on it would have. `stop` closes both; cleanup stops it if still running.
 */
async function serverOn(
  dir: string,
  web: z.input<typeof webConfigSchema> = {},
  webDist?: string,
): Promise<Started & { stop: () => Promise<void> }> {
  const ws = await openWorkspace({ workspace: dir, env: {} });
  const server = await startServer(
    ws,
    {},
    { web: webConfigSchema.parse(web), ...(webDist ? { webDist } : {}) },
  );
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.close().then(() => ws.close()));
  cleanups.push(stop);
  return { server, ws, url: server.url, stop };
}

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Registers through the API; returns the signed-in client. */
async function register(url: string, email: string, invitation?: string, status = 201): Promise<WebClient> {
  const client = await WebClient.start(url);
  const res = await client.request('/api/register', {
    method: 'POST',
    json: { email, password: PASSWORD, ...(invitation ? { invitation } : {}) },
  });
  const body = await json<{ csrf: string }>(res, status);
  if (status === 201) client.csrf = body.csrf;
  return client;
}

async function invite(admin: WebClient, role: string, email?: string): Promise<string> {
  const res = await admin.request('/api/admin/invitations', { method: 'POST', json: { role, email } });
  const body = await json<{ code: string; path: string }>(res, 201);
  assert.equal(body.path, `/signup?invite=${body.code}`);
  return body.code;
}

const signIn = (client: WebClient, email: string, password = PASSWORD) => client.signIn({ email, password });

function cookieLine(res: Response, name: string): string {
  const line = res.headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
  assert.ok(line, `a ${name} cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  return line;
}

describe('registration', () => {
  let s: Started;
  let admin: WebClient;
  before(async () => {
    s = await start();
  });

  it('makes the first account admin, and says so before it exists', async () => {
    const anonymous = await WebClient.start(s.url);
    const before = await json<{ user: null; needsFirstAccount: boolean; registration: string }>(
      await anonymous.request('/api/session'),
    );
    assert.equal(before.user, null);
    assert.equal(before.needsFirstAccount, true);
    assert.equal(before.registration, 'invite');
    admin = await register(s.url, 'Admin@Example.org');
    const session = await admin.refresh();
    assert.deepEqual(session.user, { id: 1, email: 'admin@example.org', role: 'admin' });
    const after = await json<{ needsFirstAccount: boolean }>(await anonymous.request('/api/session'));
    assert.equal(after.needsFirstAccount, false);
  });

  it('stores only a scrypt hash with its parameters, never the password', async () => {
    const row = await s.ws.db.selectFrom('users').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
    assert.match(
      row.password_hash,
      new RegExp(`^scrypt\\$${SCRYPT_PARAMS.N}\\$8\\$1\\$[\\w+/=]+\\$[\\w+/=]+$`),
    );
    assert.ok(!row.password_hash.includes(PASSWORD));
    assert.ok(SCRYPT_PARAMS.N * SCRYPT_PARAMS.r * 128 >= 32 * 1024 * 1024, 'at least 32 MiB per hash');
  });

  it('refuses a second account without an invitation under invite-only registration', async () => {
    const res = await (
      await WebClient.start(s.url)
    ).request('/api/register', {
      method: 'POST',
      json: { email: 'someone@example.org', password: PASSWORD },
    });
    await expectProblem(res, 403, /by invitation only/);
    assert.equal(
      await s.ws.db
        .selectFrom('users')
        .select('id')
        .execute()
        .then((r) => r.length),
      1,
    );
  });

  it('takes an invitation once, with its role', async () => {
    const code = await invite(admin, 'annotator');
    const anonymous = await WebClient.start(s.url);
    const info = await json<{ role: string; email: null }>(
      await anonymous.request(`/api/invitations/${code}`),
    );
    assert.equal(info.role, 'annotator');
    const ann = await register(s.url, 'ann@example.org', code);
    assert.equal((await ann.refresh()).user?.role, 'annotator');
    const again = await (
      await WebClient.start(s.url)
    ).request('/api/register', {
      method: 'POST',
      json: { email: 'other@example.org', password: PASSWORD, invitation: code },
    });
    await expectProblem(again, 404, /used already/);
    await expectProblem(await anonymous.request(`/api/invitations/${code}`), 404, /used already/);
  });

  it('holds an invitation for one email to that email', async () => {
    const code = await invite(admin, 'viewer', 'Vera@Example.org');
    const wrong = await (
      await WebClient.start(s.url)
    ).request('/api/register', {
      method: 'POST',
      json: { email: 'mallory@example.org', password: PASSWORD, invitation: code },
    });
    await expectProblem(wrong, 403, /for vera@example\.org/);
    const vera = await register(s.url, 'vera@example.org', code);
    assert.equal((await vera.refresh()).user?.role, 'viewer');
  });

  it('refuses withdrawn, expired and made-up invitations with the reason', async () => {
    const withdrawn = await invite(admin, 'viewer');
    const pending = await json<{ invitations: { id: number }[] }>(
      await admin.request('/api/admin/invitations'),
    );
    assert.equal(pending.invitations.length, 1);
    const del = await admin.request(`/api/admin/invitations/${pending.invitations[0]!.id}`, {
      method: 'DELETE',
    });
    assert.equal(del.status, 204);
    await register(s.url, 'w@example.org', withdrawn, 404);

    const expired = await invite(admin, 'viewer');
    await s.ws.db
      .updateTable('invitations')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('revoked_at', 'is', null)
      .where('used_at', 'is', null)
      .execute();
    const anonymous = await WebClient.start(s.url);
    await expectProblem(await anonymous.request(`/api/invitations/${expired}`), 404, /expired/);
    await expectProblem(await anonymous.request('/api/invitations/made-up'), 404, /not valid/);
    await expectProblem(
      await anonymous.request('/api/admin/invitations/99', { method: 'DELETE' }),
      401,
      /sign in/,
    );
    await expectProblem(await admin.request('/api/admin/invitations/99', { method: 'DELETE' }), 404, /99/);
  });

  it('explains bad registrations: email, password length, missing fields, duplicates, non-JSON', async () => {
    const code = await invite(admin, 'viewer');
    const client = await WebClient.start(s.url);
    const post = (json: unknown) => client.request('/api/register', { method: 'POST', json });
    await expectProblem(
      await post({ email: 'not-an-email', password: PASSWORD, invitation: code }),
      400,
      /not an email address/,
    );
    await expectProblem(
      await post({ email: 'short@example.org', password: 'short', invitation: code }),
      400,
      /at least 10 characters/,
    );
    await expectProblem(await post({ password: PASSWORD }), 400, /email/);
    await expectProblem(
      await post({ email: 'ADMIN@example.org', password: PASSWORD, invitation: code }),
      409,
      /exists already/,
    );
    const text = await client.request('/api/register', {
      method: 'POST',
      body: '{"email": ',
      headers: { 'content-type': 'application/json' },
    });
    await expectProblem(text, 400, /JSON/i);
    // None of these used the invitation up.
    await register(s.url, 'late@example.org', code);
  });

  it('gives open registration the configured role', async () => {
    const open = await start({ registration: 'open', defaultRole: 'annotator' });
    const first = await register(open.url, 'first@example.org');
    assert.equal((await first.refresh()).user?.role, 'admin');
    const second = await register(open.url, 'second@example.org');
    assert.equal((await second.refresh()).user?.role, 'annotator');
    assert.equal(
      (await json<{ registration: string }>(await second.request('/api/session'))).registration,
      'open',
    );
  });

  it('lets only one of two racing first sign-ups become admin', async () => {
    const open = await start({ registration: 'open' });
    const clients = await Promise.all([WebClient.start(open.url), WebClient.start(open.url)]);
    const results = await Promise.all(
      clients.map((c, i) =>
        c.request('/api/register', {
          method: 'POST',
          json: { email: `racer${i}@example.org`, password: PASSWORD },
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      [201, 201],
    );
    const roles = (await open.ws.db.selectFrom('users').select('role').execute()).map((r) => r.role).sort();
    assert.deepEqual(roles, ['admin', 'viewer']);
  });
});

describe('signing in and out', () => {
  let s: Started;
  before(async () => {
    s = await start();
    await createUser(s.ws, { email: 'admin@example.org', password: PASSWORD, role: 'admin' });
    await createUser(s.ws, { email: 'viewer@example.org', password: PASSWORD, role: 'viewer' });
  });

  it('answers a wrong password and an unknown email alike, in about the same time', async () => {
    const client = await WebClient.start(s.url);
    await expectProblem(
      await signIn(client, 'viewer@example.org', 'wrong password!'),
      401,
      /^wrong email or password$/,
    );
    await expectProblem(
      await signIn(client, 'nobody@example.org', 'wrong password!'),
      401,
      /^wrong email or password$/,
    );
    const time = async (email: string) => {
      const t = performance.now();
      const res = await signIn(client, email, 'wrong password!');
      await res.text();
      return performance.now() - t;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push(await time('viewer@example.org'));
      unknown.push(await time('nobody@example.org'));
    }
    // Both run one scrypt (~0.1-0.2 s); without the dummy hash the unknown email would answer in ~1 ms.
    const ratio = median(unknown) / median(known);
    assert.ok(ratio > 0.5 && ratio < 2, `unknown ${median(unknown)} ms vs known ${median(known)} ms`);
  });

  it('sets a session cookie that is HttpOnly, SameSite=Strict, not Secure over plain http, and stored hashed', async () => {
    const client = await WebClient.start(s.url);
    const res = await signIn(client, 'viewer@example.org');
    assert.equal(res.status, 200);
    const line = cookieLine(res, 'loupe_session');
    assert.match(line, /; HttpOnly/);
    assert.match(line, /; SameSite=Strict/);
    assert.match(line, /; Path=\//);
    assert.match(line, /; Expires=/);
    assert.doesNotMatch(line, /Secure/);
    const id = client.cookies.get('loupe_session')!;
    assert.ok(id.length >= 43, 'at least 256 bits');
    const rows = await s.ws.db.selectFrom('sessions').select('id_hash').execute();
    assert.ok(rows.some((r) => r.id_hash === sha256(id)));
    assert.ok(!rows.some((r) => r.id_hash === id));
  });

  it('starts a new session at every sign-in, ending the one the browser had', async () => {
    const client = await WebClient.start(s.url, { email: 'viewer@example.org', password: PASSWORD });
    const first = client.cookies.get('loupe_session')!;
    const res = await signIn(client, 'viewer@example.org');
    assert.equal(res.status, 200);
    const second = client.cookies.get('loupe_session')!;
    assert.notEqual(first, second);
    const old = await fetch(`${s.url}/api/admin/users`, { headers: { cookie: `loupe_session=${first}` } });
    assert.equal(old.status, 401);
  });

  it('logs out: the cookie is cleared and the old session id no longer works', async () => {
    const client = await WebClient.start(s.url, { email: 'viewer@example.org', password: PASSWORD });
    const id = client.cookies.get('loupe_session')!;
    assert.equal((await client.refresh()).user?.email, 'viewer@example.org');
    const res = await client.request('/api/session', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.match(cookieLine(res, 'loupe_session'), /Expires=Thu, 01 Jan 1970/);
    assert.equal((await client.refresh()).user, null);
    const replay = await fetch(`${s.url}/api/session`, { headers: { cookie: `loupe_session=${id}` } });
    assert.equal((await json<{ user: null }>(replay)).user, null);
  });

  it('upgrades a hash made with weaker parameters at the next sign-in', async () => {
    const weak = await hashPassword(PASSWORD, { N: 2 ** 10, r: 8, p: 1 });
    await s.ws.db
      .insertInto('users')
      .values({
        email: 'old@example.org',
        password_hash: weak,
        role: 'viewer',
        created_at: new Date().toISOString(),
        invited_by: null,
        last_login_at: null,
        disabled_at: null,
      })
      .execute();
    const client = await WebClient.start(s.url);
    assert.equal((await signIn(client, 'old@example.org')).status, 200);
    const row = await s.ws.db
      .selectFrom('users')
      .select('password_hash')
      .where('email', '=', 'old@example.org')
      .executeTakeFirstOrThrow();
    assert.ok(row.password_hash.startsWith(`scrypt$${SCRYPT_PARAMS.N}$`), row.password_hash);
    assert.equal((await signIn(client, 'old@example.org')).status, 200);
  });

  it('changes a password: the current one is checked, other sessions end, this one stays', async () => {
    await createUser(s.ws, { email: 'pat@example.org', password: PASSWORD, role: 'viewer' });
    const here = await WebClient.start(s.url, { email: 'pat@example.org', password: PASSWORD });
    const elsewhere = await WebClient.start(s.url, { email: 'pat@example.org', password: PASSWORD });
    const change = (currentPassword: string, newPassword: string) =>
      here.request('/api/account/password', { method: 'POST', json: { currentPassword, newPassword } });
    await expectProblem(
      await change('not my password', 'a brand new password'),
      403,
      /current password is wrong/,
    );
    await expectProblem(await change(PASSWORD, 'short'), 400, /at least 10/);
    const done = await json<{ endedSessions: number }>(await change(PASSWORD, 'a brand new password'));
    assert.equal(done.endedSessions, 1);
    assert.equal((await elsewhere.refresh()).user, null);
    assert.equal((await here.refresh()).user?.email, 'pat@example.org');
    await expectProblem(await signIn(await WebClient.start(s.url), 'pat@example.org'), 401, /wrong/);
    assert.equal(
      (await signIn(await WebClient.start(s.url), 'pat@example.org', 'a brand new password')).status,
      200,
    );
  });

  it('logs out everywhere', async () => {
    const a = await WebClient.start(s.url, { email: 'viewer@example.org', password: PASSWORD });
    const b = await WebClient.start(s.url, { email: 'viewer@example.org', password: PASSWORD });
    const res = await json<{ endedSessions: number }>(
      await a.request('/api/account/logout-all', { method: 'POST' }),
    );
    assert.ok(res.endedSessions >= 2);
    assert.equal((await a.refresh()).user, null);
    assert.equal((await b.refresh()).user, null);
  });
});

describe('sessions end', () => {
  it('after the idle timeout', async () => {
    const s = await start({ session: { idleMinutes: 1.5 / 60 } });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url, { email: 'v@example.org', password: PASSWORD });
    await sleep(600);
    assert.equal((await client.refresh()).user?.email, 'v@example.org', 'activity keeps it alive');
    await sleep(600);
    assert.equal((await client.refresh()).user?.email, 'v@example.org');
    await sleep(1800);
    assert.equal((await client.refresh()).user, null);
    await expectProblem(await client.request('/api/admin/users'), 401, /sign in/);
  });

  it('at the maximum age, however active', async () => {
    const s = await start({ session: { maxAgeHours: 2 / 3600 } });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url, { email: 'v@example.org', password: PASSWORD });
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.refresh()).user?.email, 'v@example.org');
      await sleep(400);
    }
    await sleep(1200);
    assert.equal((await client.refresh()).user, null);
    assert.equal(
      await s.ws.db
        .selectFrom('sessions')
        .select('id_hash')
        .execute()
        .then((r) => r.length),
      0,
    );
  });
});

describe('CSRF', () => {
  let s: Started;
  let admin: WebClient;
  let viewerId: number;
  before(async () => {
    s = await start();
    await createUser(s.ws, { email: 'admin@example.org', password: PASSWORD, role: 'admin' });
    viewerId = (await createUser(s.ws, { email: 'viewer@example.org', password: PASSWORD, role: 'viewer' }))
      .id;
    admin = await WebClient.start(s.url, { email: 'admin@example.org', password: PASSWORD });
  });

  const invitations = () =>
    s.ws.db
      .selectFrom('invitations')
      .select('id')
      .execute()
      .then((r) => r.length);
  const viewerRole = () =>
    s.ws.db.selectFrom('users').select('role').where('id', '=', viewerId).executeTakeFirstOrThrow();

  it('refuses a state change without the token, or with a wrong one, and changes nothing', async () => {
    for (const csrf of [false, '', 'wrong-token', 'x'.repeat(43)] as const) {
      await expectProblem(
        await admin.request('/api/admin/invitations', { method: 'POST', json: { role: 'admin' }, csrf }),
        403,
        /CSRF/,
      );
      await expectProblem(
        await admin.request(`/api/admin/users/${viewerId}`, {
          method: 'PATCH',
          json: { role: 'admin' },
          csrf,
        }),
        403,
        /CSRF/,
      );
      await expectProblem(await admin.request('/api/session', { method: 'DELETE', csrf }), 403, /CSRF/);
    }
    assert.equal(await invitations(), 0);
    assert.equal((await viewerRole()).role, 'viewer');
    assert.equal((await admin.refresh()).user?.role, 'admin', 'still signed in');
  });

  it('binds the token to its session: another session’s or the signed-out token is refused', async () => {
    const other = await WebClient.start(s.url, { email: 'admin@example.org', password: PASSWORD });
    const anonymousToken = admin.cookies.get('loupe_csrf')!;
    assert.ok(anonymousToken);
    for (const csrf of [other.csrf, anonymousToken])
      await expectProblem(
        await admin.request('/api/admin/invitations', { method: 'POST', json: { role: 'admin' }, csrf }),
        403,
        /CSRF/,
      );
    assert.equal(await invitations(), 0);
    assert.equal(
      (await admin.request('/api/admin/invitations', { method: 'POST', json: { role: 'viewer' } })).status,
      201,
    );
  });

  it('guards signing in and registering too (a page on another site cannot sign you in)', async () => {
    const client = await WebClient.start(s.url);
    await expectProblem(
      await client.request('/api/session', {
        method: 'POST',
        json: { email: 'viewer@example.org', password: PASSWORD },
        csrf: false,
      }),
      403,
      /CSRF/,
    );
    const cookieless = await fetch(`${s.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': client.csrf },
      body: JSON.stringify({ email: 'viewer@example.org', password: PASSWORD }),
    });
    await expectProblem(cookieless, 403, /CSRF/);
    await expectProblem(
      await client.request('/api/register', {
        method: 'POST',
        json: { email: 'n@example.org', password: PASSWORD },
        csrf: 'nope',
      }),
      403,
      /CSRF/,
    );
  });
});

describe('roles', () => {
  let s: Started;
  const ids: Record<string, number> = {};
  const clients: Record<string, WebClient> = {};
  before(async () => {
    s = await start();
    for (const role of ['admin', 'annotator', 'viewer'] as const) {
      ids[role] = (await createUser(s.ws, { email: `${role}@example.org`, password: PASSWORD, role })).id;
      clients[role] = await WebClient.start(s.url, { email: `${role}@example.org`, password: PASSWORD });
    }
  });

  it('keeps the admin API to admins: 403 for annotators and viewers, 401 signed out', async () => {
    for (const role of ['annotator', 'viewer'])
      await expectProblem(
        await clients[role]!.request('/api/admin/users'),
        403,
        new RegExp(`admin role.*${role}`),
      );
    await expectProblem(await (await WebClient.start(s.url)).request('/api/admin/users'), 401, /sign in/);
    const list = await json<{ users: { email: string; role: string }[] }>(
      await clients.admin!.request('/api/admin/users'),
    );
    assert.deepEqual(
      list.users.map((u) => `${u.email}:${u.role}`),
      ['admin@example.org:admin', 'annotator@example.org:annotator', 'viewer@example.org:viewer'],
    );
    assert.ok(list.users.every((u) => !('password_hash' in u) && !('passwordHash' in u)));
  });

  it('changes roles, and the change applies to live sessions at once', async () => {
    await expectProblem(await clients.viewer!.request('/api/admin/users'), 403, /admin/);
    const res = await clients.admin!.request(`/api/admin/users/${ids.viewer}`, {
      method: 'PATCH',
      json: { role: 'admin' },
    });
    assert.equal((await json<{ user: { role: string } }>(res)).user.role, 'admin');
    assert.equal((await clients.viewer!.request('/api/admin/users')).status, 200);
    const back = await clients.admin!.request(`/api/admin/users/${ids.viewer}`, {
      method: 'PATCH',
      json: { role: 'viewer' },
    });
    assert.equal(back.status, 200);
    await expectProblem(await clients.viewer!.request('/api/admin/users'), 403, /admin/);
  });

  it('explains bad role changes', async () => {
    const patch = (id: number | string, body: unknown) =>
      clients.admin!.request(`/api/admin/users/${id}`, { method: 'PATCH', json: body });
    await expectProblem(await patch(ids.viewer!, { role: 'owner' }), 400, /role/);
    await expectProblem(await patch(ids.viewer!, {}), 400, /give "role" or "disabled"/);
    await expectProblem(await patch('abc', { role: 'viewer' }), 400, /id/);
    await expectProblem(await patch(999, { role: 'viewer' }), 404, /no user with id 999/);
    await expectProblem(await patch(ids.admin!, { disabled: true }), 409, /your own account/);
    await expectProblem(await patch(ids.admin!, { role: 'viewer' }), 409, /only admin left/);
  });

  it('stops a disabled account at once: its sessions end and it cannot sign in until enabled', async () => {
    await createUser(s.ws, { email: 'dora@example.org', password: PASSWORD, role: 'annotator' });
    const dora = await WebClient.start(s.url, { email: 'dora@example.org', password: PASSWORD });
    const id = (await dora.refresh()).user!.id;
    const res = await clients.admin!.request(`/api/admin/users/${id}`, {
      method: 'PATCH',
      json: { disabled: true },
    });
    assert.ok((await json<{ user: { disabledAt: string | null } }>(res)).user.disabledAt);
    assert.equal((await dora.refresh()).user, null);
    await expectProblem(await dora.request('/api/account/logout-all', { method: 'POST' }), 401, /sign in/);
    await expectProblem(await signIn(await WebClient.start(s.url), 'dora@example.org'), 403, /disabled/);
    // A wrong password still says only "wrong": being disabled is not revealed without the password.
    await expectProblem(
      await signIn(await WebClient.start(s.url), 'dora@example.org', 'not the password'),
      401,
      /wrong/,
    );
    await clients.admin!.request(`/api/admin/users/${id}`, { method: 'PATCH', json: { disabled: false } });
    assert.equal((await signIn(await WebClient.start(s.url), 'dora@example.org')).status, 200);
  });

  it('stops a disabled account even if its session row survived (checked at every request)', async () => {
    await createUser(s.ws, { email: 'eve@example.org', password: PASSWORD, role: 'viewer' });
    const eve = await WebClient.start(s.url, { email: 'eve@example.org', password: PASSWORD });
    await s.ws.db
      .updateTable('users')
      .set({ disabled_at: new Date().toISOString() })
      .where('email', '=', 'eve@example.org')
      .execute();
    assert.equal((await eve.refresh()).user, null);
  });
});

describe('sign-in throttle', () => {
  it('answers 429 with Retry-After after too many failures for one account, even to the right password', async () => {
    const s = await start({ login: { maxFailuresPerAccount: 3, maxFailuresPerIp: 100, windowMinutes: 1 } });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    await createUser(s.ws, { email: 'w@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url);
    // Right passwords do not count.
    for (let i = 0; i < 3; i++) assert.equal((await signIn(client, 'v@example.org')).status, 200);
    for (let i = 0; i < 3; i++)
      await expectProblem(await signIn(client, 'V@example.org', 'guess'), 401, /wrong/);
    const limited = await signIn(client, 'v@example.org');
    const retry = Number(limited.headers.get('retry-after'));
    await expectProblem(limited, 429, /too many failed sign-ins for this account: try again in \d+ seconds/);
    assert.ok(retry > 0 && retry <= 60, `Retry-After: ${retry}`);
    // Other accounts are not held back.
    assert.equal((await signIn(client, 'w@example.org')).status, 200);
  });

  it('limits failures per client address, across accounts', async () => {
    const s = await start({ login: { maxFailuresPerAccount: 100, maxFailuresPerIp: 4, windowMinutes: 1 } });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url);
    for (let i = 0; i < 4; i++)
      await expectProblem(await signIn(client, `guess${i}@example.org`, 'guess'), 401, /wrong/);
    const limited = await signIn(client, 'v@example.org');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    await expectProblem(limited, 429, /from your address/);
    // A spoofed X-Forwarded-For changes nothing when no proxy is trusted.
    await expectProblem(
      await client.request('/api/session', {
        method: 'POST',
        json: { email: 'v@example.org', password: PASSWORD },
        headers: { 'x-forwarded-for': '203.0.113.9' },
      }),
      429,
      /from your address/,
    );
  });
});

describe('sign-in throttle kept in the workspace database', () => {
  const limits = { login: { maxFailuresPerAccount: 3, maxFailuresPerIp: 100, windowMinutes: 1 } };

  it('still refuses with 429 after a restart', async () => {
    const s = await start(limits);
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const before = await WebClient.start(s.url);
    for (let i = 0; i < 3; i++)
      await expectProblem(await signIn(before, 'v@example.org', 'guess'), 401, /wrong/);
    await s.stop();

    const restarted = await serverOn(s.ws.root, limits);
    const client = await WebClient.start(restarted.url);
    const limited = await signIn(client, 'v@example.org');
    await expectProblem(limited, 429, /too many failed sign-ins for this account/);
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 60, `Retry-After: ${retry}`);
  });

  it('shares the counts between two servers on one workspace', async () => {
    const a = await start(limits);
    const b = await serverOn(a.ws.root, limits);
    await createUser(a.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const [onA, onB] = [await WebClient.start(a.url), await WebClient.start(b.url)];
    // At once on both: each failure is one atomic upsert, so none is lost to the other.
    const failures = await Promise.all([
      signIn(onA, 'v@example.org', 'guess'),
      signIn(onB, 'v@example.org', 'guess'),
      signIn(onB, 'v@example.org', 'guess'),
    ]);
    for (const res of failures) await expectProblem(res, 401, /wrong/);
    await expectProblem(await signIn(onA, 'v@example.org'), 429, /for this account/);
    await expectProblem(await signIn(onB, 'v@example.org'), 429, /for this account/);
    const [row] = await b.ws.db
      .selectFrom('login_failures')
      .selectAll()
      .where('kind', '=', 'email')
      .execute();
    assert.deepEqual([row?.key, row?.failures], ['v@example.org', 3]);
  });

  it('opens a new window once the old one ends, and prunes ended windows as it writes', async () => {
    // A 3 s window.
    const s = await start({
      login: { maxFailuresPerAccount: 2, maxFailuresPerIp: 100, windowMinutes: 0.05 },
    });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url);
    for (let i = 0; i < 2; i++)
      await expectProblem(await signIn(client, 'v@example.org', 'guess'), 401, /wrong/);
    await expectProblem(await signIn(client, 'v@example.org'), 429, /try again in [1-3] seconds/);
    await sleep(3000);
    assert.equal((await signIn(client, 'v@example.org')).status, 200, 'the window ended');

    // Rows of ended windows, as many as a flood of guesses would leave.
    const ended = Date.now() - 1;
    await s.ws.db
      .insertInto('login_failures')
      .values(
        Array.from({ length: 250 }, (_, i) => ({
          kind: 'address' as const,
          key: `192.0.2.${i}`,
          failures: 9,
          window_ends_at: ended,
        })),
      )
      .execute();
    const count = async (expiredOnly: boolean) =>
      (
        await s.ws.db
          .selectFrom('login_failures')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .$if(expiredOnly, (q) => q.where('window_ends_at', '<=', Date.now()))
          .executeTakeFirstOrThrow()
      ).n;
    const expired = await count(true);
    assert.ok(expired >= 250);
    const throttle = new FailureThrottle(s.ws.db, 60_000);
    await throttle.fail('email', 'w@example.org');
    // 100 expired rows per write at most, so a write never holds the lock for long.
    assert.equal(await count(false), expired - 100 + 1);
    // A key whose window ended counts from one again.
    await throttle.fail('address', '192.0.2.249');
    for (let i = 0; i < 3; i++) await throttle.fail('email', 'w@example.org');
    const rows = await s.ws.db.selectFrom('login_failures').selectAll().execute();
    assert.ok(
      rows.every((r) => r.window_ends_at > Date.now()),
      `only live windows are left: ${JSON.stringify(rows)}`,
    );
    assert.deepEqual(rows.map((r) => [r.kind, r.key, r.failures]).sort(), [
      ['address', '192.0.2.249', 1],
      ['email', 'w@example.org', 4],
    ]);
  });
});

describe('behind a trusted proxy', () => {
  it('marks the cookie Secure when the proxy says https, and throttles per forwarded address', async () => {
    const s = await start({
      trustProxy: ['127.0.0.1'],
      login: { maxFailuresPerIp: 2, maxFailuresPerAccount: 100 },
    });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    // A new browser each time: a signed-in one would need its session's CSRF token.
    const via = async (ip: string, proto: string, password = PASSWORD) =>
      (await WebClient.start(s.url)).request('/api/session', {
        method: 'POST',
        json: { email: 'v@example.org', password },
        headers: { 'x-forwarded-for': ip, 'x-forwarded-proto': proto },
      });
    const https = await via('198.51.100.1', 'https');
    assert.equal(https.status, 200);
    assert.match(cookieLine(https, 'loupe_session'), /; Secure/);
    const http = await via('198.51.100.1', 'http');
    assert.doesNotMatch(cookieLine(http, 'loupe_session'), /Secure/);
    for (let i = 0; i < 2; i++)
      await expectProblem(await via('198.51.100.2', 'https', 'guess'), 401, /wrong/);
    await expectProblem(await via('198.51.100.2', 'https'), 429, /from your address/);
    assert.equal((await via('198.51.100.3', 'https')).status, 200, 'another client address is not held back');
  });

  it('ignores X-Forwarded-Proto from a peer that is not a trusted proxy', async () => {
    const s = await start({ trustProxy: ['10.9.8.7'] });
    await createUser(s.ws, { email: 'v@example.org', password: PASSWORD, role: 'viewer' });
    const client = await WebClient.start(s.url);
    const res = await client.request('/api/session', {
      method: 'POST',
      json: { email: 'v@example.org', password: PASSWORD },
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(res.status, 200);
    assert.doesNotMatch(cookieLine(res, 'loupe_session'), /Secure/);
  });
});

/**
 * Fastify's own listing of the routes, as method + URL pairs: from printRoutes' tree, where each
 * line's label continues its parent's path.
 */
function registeredRoutes(server: RunningServer): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of server.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│\s]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) out.push({ method, url: stack.join('') });
  }
  return out;
}

describe('every /api/ route', () => {
  let s: Started;
  let routes: { method: string; url: string }[];
  const PUBLIC = [
    'GET /api/session',
    'POST /api/session',
    'POST /api/register',
    'GET /api/invitations/:code',
  ];
  before(async () => {
    s = await start();
    routes = registeredRoutes(s.server).filter((r) => r.url.startsWith('/api/') && r.method !== 'HEAD');
  });

  it('is found in Fastify’s route list (the listing works)', () => {
    for (const r of ['GET /api/session', 'DELETE /api/session', 'PATCH /api/admin/users/:id'])
      assert.ok(
        routes.some((x) => `${x.method} ${x.url}` === r),
        `${r} in ${JSON.stringify(routes)}`,
      );
  });

  it('declares its role; only sign-in, registration and the session are public', () => {
    const declared = new Map(declaredRoutes(s.server.app).map((d) => [`${d.method} ${d.url}`, d.access]));
    for (const r of routes) {
      const key = `${r.method} ${r.url}`;
      assert.ok(declared.has(key), `${key} has no role declaration`);
      if (declared.get(key) === 'public') assert.ok(PUBLIC.includes(key), `${key} is public`);
    }
  });

  it('answers 401 without a session (except the public ones)', async () => {
    const anonymous = await WebClient.start(s.url);
    const failures: string[] = [];
    for (const r of routes) {
      const key = `${r.method} ${r.url}`;
      if (PUBLIC.includes(key)) continue;
      const url = r.url.replace(/:\w+/g, '1');
      const res = await anonymous.request(url, {
        method: r.method,
        ...(r.method === 'GET' ? {} : { json: {} }),
      });
      const text = await res.text();
      if (res.status !== 401) failures.push(`${key}: ${res.status} ${text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('answers 403 to every role below the one it declares', async () => {
    await createUser(s.ws, { email: 'viewer@example.org', password: PASSWORD, role: 'viewer' });
    await createUser(s.ws, { email: 'annotator@example.org', password: PASSWORD, role: 'annotator' });
    const viewer = await WebClient.start(s.url, { email: 'viewer@example.org', password: PASSWORD });
    const annotator = await WebClient.start(s.url, { email: 'annotator@example.org', password: PASSWORD });
    const below = { admin: [viewer, annotator], annotator: [viewer], viewer: [], public: [] };
    const failures: string[] = [];
    let checked = 0;
    for (const d of declaredRoutes(s.server.app)) {
      if (d.method === 'HEAD') continue;
      for (const client of below[d.access]) {
        const res = await client.request(d.url.replace(/:\w+/g, '1'), {
          method: d.method,
          ...(d.method === 'GET' ? {} : { json: {} }),
        });
        checked++;
        if (res.status !== 403)
          failures.push(`${d.method} ${d.url}: ${res.status} ${(await res.text()).slice(0, 200)}`);
        else await res.text();
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(checked >= 5, `${checked} checks`);
  });

  it('cannot be registered without a role declaration: the server would not start', async () => {
    const app = Fastify();
    enforceRoleDeclarations(app);
    app.get('/api/fine', { preHandler: requireRole('viewer') }, async () => ({}));
    app.get('/elsewhere', async () => ({}));
    assert.throws(() => app.get('/api/forgotten', async () => ({})), /GET \/api\/forgotten declares no role/);
    await app.close();
  });
});

describe('the built app', () => {
  before(buildWebApp);
  it('is served at / with safe headers, deep links get the page, API typos stay 404', async () => {
    const s = await start();
    const page = await fetch(`${s.url}/`);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /<div id="root">/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assertScriptsLockedDown(page.headers.get('content-security-policy'));
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('referrer-policy'), 'same-origin');
    const asset = /\/assets\/[\w.-]+\.js/.exec(html)?.[0];
    assert.ok(asset, 'the page loads a hashed script');
    const script = await fetch(`${s.url}${asset}`);
    await script.text();
    assert.equal(script.status, 200);
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const deep = await fetch(`${s.url}/admin/users`, { headers: { accept: 'text/html' } });
    assert.equal(deep.status, 200);
    assert.equal(await deep.text(), html);
    await expectProblem(await fetch(`${s.url}/admin/users`), 404, /no route GET \/admin\/users/);
    await expectProblem(
      await fetch(`${s.url}/v1/nothing`, { headers: { accept: 'text/html' } }),
      404,
      /no route/,
    );
    await expectProblem(
      await fetch(`${s.url}/api/nothing`, { headers: { accept: 'text/html' } }),
      404,
      /no route/,
    );
    await expectProblem(
      await fetch(`${s.url}/assets/missing.js`, { headers: { accept: 'text/html' } }),
      404,
      /no route/,
    );
  });

  it('says how to build it when it is not built, and the API still works', async () => {
    const s = await start({}, path.join(tmpdir(), 'loupe-no-such-web-dist'));
    const res = await fetch(`${s.url}/`);
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.match(text, /not built/);
    assert.match(text, /npx vite build --config web\/vite\.config\.ts/);
    assert.match(text, /make setup/);
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${s.url}/api/session`)).status, 200);
  });
});

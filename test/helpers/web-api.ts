import type { UserRole } from '../../src/web/accounts/roles.js';
import type { Workspace } from '../../src/workspace/workspace.js';
import { json } from './serve-fixture.js';
import { createUser, WebClient } from './web-e2e.js';

/** A signed-in WebClient with the shorthand the JSON API tests use. */
export interface ApiClient {
  email: string;
  client: WebClient;
  /** A request with the session; POST when a `json` body is given and no method is. */
  call(path: string, init?: { method?: string; json?: unknown }): Promise<Response>;
  /** GET, checking the status (200 unless given) and parsing the JSON. */
  get<T = Record<string, unknown>>(path: string, status?: number): Promise<T>;
  /** POST of a JSON body, checking the status (200 unless given) and parsing the JSON. */
  post<T = Record<string, unknown>>(path: string, body: unknown, status?: number): Promise<T>;
}

/** An account with `role` made directly in the workspace, then signed in over HTTP. */
export async function userWithRole(base: string, ws: Workspace, role: UserRole): Promise<ApiClient> {
  const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = 'correct horse battery';
  await createUser(ws, { email, password, role });
  const client = await WebClient.start(base, { email, password });
  const call: ApiClient['call'] = (path, init = {}) =>
    client.request(path, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      ...(init.json === undefined ? {} : { json: init.json }),
    });
  return {
    email,
    client,
    call,
    get: async <T>(path: string, status = 200) => json<T>(await call(path), status),
    post: async <T>(path: string, body: unknown, status = 200) =>
      json<T>(await call(path, { json: body }), status),
  };
}

/** One signed-in client of each role, as the role tests need them. */
export async function clientsByRole(
  base: string,
  ws: Workspace,
): Promise<{ viewer: ApiClient; annotator: ApiClient; admin: ApiClient }> {
  return {
    viewer: await userWithRole(base, ws, 'viewer'),
    annotator: await userWithRole(base, ws, 'annotator'),
    admin: await userWithRole(base, ws, 'admin'),
  };
}

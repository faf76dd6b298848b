import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Page, type Request } from 'playwright-core';
import type { z } from 'zod';
import { moveAlias } from '../../src/registry/registry-store.js';
import type { serveConfigSchema } from '../../src/serve/serve-config.js';
import { createUser as createAccount } from '../../src/web/accounts/user-store.js';
import type { UserRole } from '../../src/web/accounts/roles.js';
import { webConfigSchema } from '../../src/web/web-config.js';
import type { Workspace } from '../../src/workspace/workspace.js';
import { CHROMIUM } from './browser-onnx.js';
import { assertAccessible, assertNoSidewaysScroll } from './page-accessibility.js';
import { trainAndRegister } from './registry-fixture.js';
import { repoRoot } from './run-cli.js';
import { startServer, type RunningServer } from './serve-fixture.js';
import { trainingWorkspace } from './training-workspace.js';

/**
 * End-to-end tests of the web app: a real `loupe serve` (API and built app on one port) over a
 * workspace with a trained, promoted model, driven by a real Chromium through playwright-core.
 */

export { assertAccessible, assertNoSidewaysScroll, CHROMIUM };
/** For `describe(..., { skip })`: why the browser tests cannot run here, or false when they can. */
export const skipWithoutChromium: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}`;
export const SCREENSHOTS = path.join(repoRoot, 'test-results/screenshots');
/** The two viewports every page is tested at. */
export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;
export interface Viewport {
  width: number;
  height: number;
}

export const PASSWORD = 'correct horse battery';
/** The account `startWebApp({ accounts })` makes for each role, and `inBrowserAs` signs in with. */
export const ACCOUNTS: Record<UserRole, Credentials> = {
  admin: { email: 'admin@example.org', password: PASSWORD },
  annotator: { email: 'annotator@example.org', password: PASSWORD },
  viewer: { email: 'viewer@example.org', password: PASSWORD },
};

export interface WebApp {
  /** http://127.0.0.1:PORT, no trailing slash. */
  url: string;
  ws: Workspace;
  /** The workspace folder. */
  dir: string;
  server: RunningServer;
  close(): Promise<void>;
}

export interface WebAppOptions {
  /** The `web:` section (registration, sessions, throttle...). */
  web?: z.input<typeof webConfigSchema>;
  /** The `serve:` section. */
  serve?: z.input<typeof serveConfigSchema>;
  /** Train, register and promote a tiny model `fm` (default true); false for an empty registry. */
  model?: boolean;
  /** Roles to make an account of each for (see ACCOUNTS); default none. */
  accounts?: UserRole[];
}

/**
 * Builds web/dist when the web sources changed since the last build (scripts/build-web.sh: a
 * lock and a hash, so test files running at once build it once; milliseconds when up to date).
 */
export async function buildWebApp(): Promise<void> {
  await promisify(execFile)(path.join(repoRoot, 'scripts/build-web.sh'), { cwd: repoRoot });
}

/**
 * Builds the web app when its sources changed, then starts a server on 127.0.0.1 over a fresh
 * workspace: 4 Fashion-MNIST classes, and unless `model: false` a tiny CNN `fm` trained,
 * registered and promoted to champion (a few seconds).
 */
export async function startWebApp(options: WebAppOptions = {}): Promise<WebApp> {
  await buildWebApp();
  const { dir, ws } = await trainingWorkspace({ classes: 4, perClass: 20 });
  try {
    if (options.model !== false) {
      const { versions } = await trainAndRegister(ws, [{}]);
      await moveAlias(ws.db, {
        model: 'fm',
        alias: 'champion',
        version: versions[0]!.version,
        reason: 'e2e',
      });
    }
    for (const role of options.accounts ?? []) await createUser(ws, { ...ACCOUNTS[role], role });
    const server = await startServer(ws, options.serve ?? {}, {
      web: webConfigSchema.parse(options.web ?? {}),
    });
    return {
      url: server.url,
      ws,
      dir,
      server,
      async close() {
        await server.close();
        await ws.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** The window property the init script of openBrowser() collects Content-Security-Policy violations in. */
const VIOLATIONS = '__loupeCspViolations';

interface Watch {
  errors: string[];
  expected: RegExp[];
}
const watches = new WeakMap<Page, Watch>();

/**
 * A page in a fresh headless Chromium at the given viewport. Every console error and uncaught
 * page error is recorded; screenshot(), assertNoConsoleErrors() and page.close() (which also
 * closes the browser) fail the test if there is one that expectConsoleError() did not announce.
 */
export async function openBrowser(viewport: Viewport): Promise<Page> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60_000 });
  const context = await browser.newContext({ viewport });
  // Runs in every document before the app: what the Content-Security-Policy blocks, for chartsDrawn().
  await context.addInitScript(`
    window.${VIOLATIONS} = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.${VIOLATIONS}.push(e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber);
    }, true);`);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const watch: Watch = { errors: [], expected: [] };
  watches.set(page, watch);
  const record = (text: string) => {
    const i = watch.expected.findIndex((p) => p.test(text));
    if (i >= 0) watch.expected.splice(i, 1);
    else watch.errors.push(text);
  };
  page.on('console', (m) => {
    if (m.type() === 'error') record(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => record(`page error: ${e.message}`));
  const close = page.close.bind(page);
  page.close = async (o) => {
    await close(o);
    await browser.close();
    assertNoConsoleErrors(page);
  };
  return page;
}

/** Opens a browser, runs `work` in it, and closes it (which fails the test on console errors). */
export async function inBrowser(viewport: Viewport, work: (page: Page) => Promise<void>): Promise<void> {
  const page = await openBrowser(viewport);
  try {
    await work(page);
  } finally {
    await page.close();
  }
}

/** inBrowser, signed in first as the role's account of ACCOUNTS (and landed on `next`). */
export async function inBrowserAs(
  app: WebApp,
  role: UserRole,
  o: { viewport: Viewport; next?: string },
  work: (page: Page) => Promise<void>,
): Promise<void> {
  await inBrowser(o.viewport, async (page) => {
    await logIn(page, app.url, ACCOUNTS[role], o.next);
    await work(page);
  });
}

/**
 * Announces one console error the test provokes on purpose (Chromium logs every 4xx answer to
 * fetch as "Failed to load resource: ... status of 401", e.g. for a wrong password).
 */
export function expectConsoleError(page: Page, pattern: RegExp): void {
  watches.get(page)?.expected.push(pattern);
}

export function assertNoConsoleErrors(page: Page): void {
  const errors = watches.get(page)?.errors ?? [];
  assert.deepEqual(errors, [], `the page logged errors:\n  ${errors.join('\n  ')}`);
}

/**
 * Checks a page's Content-Security-Policy lets only the app's own files run scripts: `script-src`
 * is exactly 'self', so neither eval ('unsafe-eval') nor inline scripts are allowed.
 */
export function assertScriptsLockedDown(csp: string | null | undefined): void {
  assert.doesNotMatch(csp ?? '', /unsafe-eval/, `the Content-Security-Policy allows eval: ${csp}`);
  const scriptSrc = /(?:^|;)\s*script-src\s([^;]*)/
    .exec(csp ?? '')?.[1]
    ?.trim()
    .split(/\s+/);
  assert.deepEqual(scriptSrc, ["'self'"], `script-src of the Content-Security-Policy ${csp}`);
}

/**
 * Waits until the page's `count` charts have their marks drawn (SVG elements inside Vega's mark
 * groups), or until one says it could not be drawn. Then checks the page has exactly `count`
 * charts, all drawn and none showing a NaN (a value an expression got wrong), and that the
 * document reported no Content-Security-Policy violation: Vega compiles expressions with
 * `new Function` unless it is given its interpreter, and the policy's script-src forbids that.
 * Polls with page.evaluate, as waitForFunction evaluates its predicate with eval, which the
 * policy blocks; reads the page with a string expression, as the tests compile without the DOM
 * types.
 */
export async function chartsDrawn(page: Page, count: number): Promise<void> {
  // Polled rather than awaited once: a page that re-renders (or the previous page, until a
  // client-side navigation lands) can show other charts between a wait and a read.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { charts, drawn, failed, violations } = (await page.evaluate(`({
      charts: document.querySelectorAll('figure.chart').length,
      drawn: document.querySelectorAll('figure.chart:has(svg g.role-mark > *)').length,
      failed: [
        ...[...document.querySelectorAll('figure.chart [role=alert]')].map((e) => e.textContent),
        ...[...document.querySelectorAll('figure.chart svg')]
          .filter((svg) => /\\bNaN\\b/.test(svg.outerHTML))
          .map((svg) => 'NaN in the chart ' + svg.closest('figure').getAttribute('aria-label')),
      ],
      violations: window.${VIOLATIONS} ?? ['none recorded: the init script of openBrowser() did not run'],
    })`)) as { charts: number; drawn: number; failed: string[]; violations: string[] };
    assert.deepEqual(violations, [], 'Content-Security-Policy violations');
    assert.deepEqual(failed, [], 'charts that could not be drawn');
    if ((charts === count && drawn === count) || Date.now() > deadline) {
      assert.deepEqual({ charts, drawn }, { charts: count, drawn: count }, 'charts on the page, and drawn');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface HeldAnswer {
  /** The request, once the page has sent it and the server has answered it. */
  answered: Promise<Request>;
  /** Lets the answer through to the page. */
  release(): void;
}

/**
 * Holds back the answer to the next request whose address `matches` accepts: the server handles
 * it at once, the page gets the answer only on release(). For making answers come back in another
 * order than their requests went out, as they can on a busy network or server.
 */
export async function holdBackAnswer(page: Page, matches: (url: URL) => boolean): Promise<HeldAnswer> {
  let answered!: (r: Request) => void;
  const held: Promise<Request> = new Promise((resolve) => (answered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(
    matches,
    async (route) => {
      const response = await route.fetch();
      answered(route.request());
      await released;
      // The page may have given up on the request meanwhile (aborted it): nothing to deliver then.
      await route.fulfill({ response }).catch(() => undefined);
    },
    { times: 1 },
  );
  return { answered: held, release };
}

/** The checks every page must pass (named controls, readable text, no sideways scrolling), then its screenshot. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await assertAccessible(page);
  await assertNoSidewaysScroll(page);
  await screenshot(page, name);
}

/** Writes test-results/screenshots/<name>.png (the whole page), after checking the console is clean. */
export async function screenshot(page: Page, name: string): Promise<string> {
  assertNoConsoleErrors(page);
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface Credentials {
  email: string;
  password: string;
}

/** Signs up through the sign-up page (with an invitation code when given) and waits for the home page. */
export async function signUp(
  page: Page,
  url: string,
  c: Credentials & { invitation?: string },
): Promise<void> {
  await page.goto(`${url}/signup${c.invitation ? `?invite=${encodeURIComponent(c.invitation)}` : ''}`);
  const email = page.getByLabel('Email');
  // An invitation for one address fills the field in and locks it, once the page has fetched the
  // invitation: until then the field is open, and what is typed there would be overwritten.
  if (c.invitation) await page.getByText(/^You are invited as /).waitFor();
  if (await email.isEditable()) await email.fill(c.email);
  await page.getByLabel('Password', { exact: true }).fill(c.password);
  await page.getByLabel('Repeat the password').fill(c.password);
  await page.getByRole('button', { name: 'Create the account' }).click();
  await page.getByRole('heading', { name: 'Welcome to Loupe' }).waitFor();
}

/** Signs in through the sign-in page and waits until it has moved on (to the home page, or `next`). */
export async function logIn(page: Page, url: string, c: Credentials, next = ''): Promise<void> {
  await page.goto(`${url}/signin${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.getByLabel('Email').fill(c.email);
  await page.getByLabel('Password').fill(c.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
  // Attached, not visible: on a phone the navigation is folded into the Menu button.
  await page.getByRole('navigation', { name: 'Main', includeHidden: true }).waitFor({ state: 'attached' });
}

/** An account made directly through the accounts module, to set up roles quickly. */
export async function createUser(ws: Workspace, u: Credentials & { role: UserRole }) {
  return createAccount(ws.db, u);
}

/**
 * An HTTP client for the web API that behaves like the app in a browser: it keeps the cookies the
 * server sets, and sends the CSRF token from GET /api/session with every state-changing request.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly url: string) {}

  /** A client signed in as `c` (or, without `c`, signed out but holding a CSRF token). */
  static async start(url: string, c?: Credentials): Promise<WebClient> {
    const client = new WebClient(url);
    await client.refresh();
    if (c) {
      const res = await client.signIn(c);
      assert.equal(res.status, 200, `sign-in as ${c.email}: ${await res.text()}`);
    }
    return client;
  }

  /** POST /api/session; on success the client takes the new session's CSRF token, as the app does. */
  async signIn(c: Credentials): Promise<Response> {
    const res = await this.request('/api/session', { method: 'POST', json: c });
    if (res.status === 200) this.csrf = ((await res.clone().json()) as { csrf: string }).csrf;
    return res;
  }

  /** GET /api/session: who the server thinks this is, and a fresh CSRF token. */
  async refresh(): Promise<{ user: { id: number; email: string; role: UserRole } | null; csrf: string }> {
    const res = await this.request('/api/session');
    const body = (await res.json()) as {
      user: { id: number; email: string; role: UserRole } | null;
      csrf: string;
    };
    this.csrf = body.csrf;
    return body;
  }

  /** A request with this client's cookies (and CSRF header unless `csrf: false` or another token is given). */
  async request(
    route: string,
    o: {
      method?: string;
      json?: unknown;
      body?: RequestInit['body'];
      headers?: Record<string, string>;
      csrf?: string | false;
    } = {},
  ): Promise<Response> {
    const method = o.method ?? 'GET';
    const headers: Record<string, string> = { ...o.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (o.csrf !== false && method !== 'GET') headers['x-csrf-token'] = o.csrf ?? this.csrf;
    if (o.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers,
      body: o.json !== undefined ? JSON.stringify(o.json) : o.body,
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const gone = attributes.some(
        (a) => /^\s*expires=thu, 01 jan 1970/i.test(a) || /^\s*max-age=0/i.test(a),
      );
      if (gone || !value) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

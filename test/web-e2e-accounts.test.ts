import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  ACCOUNTS,
  assertAccessible,
  assertNoConsoleErrors,
  assertNoSidewaysScroll,
  assertScriptsLockedDown,
  chartsDrawn,
  checkPage,
  createUser,
  DESKTOP,
  expectConsoleError,
  inBrowser,
  inBrowserAs,
  logIn,
  openBrowser,
  PASSWORD,
  PHONE,
  screenshot,
  signUp,
  skipWithoutChromium,
  startWebApp,
  type WebApp,
} from './helpers/web-e2e.js';

/**
 * The accounts of the web app in a real Chromium against a real server: the first admin's
 * sign-up, invitations, each role's limits (in the page and at the server), sign-in and out by
 * mouse and by keyboard, the account and users pages, at 1280×800 and at a 390-pixel phone.
 */

/** The first person signs up through the page, and so becomes the admin. */
const ADMIN = ACCOUNTS.admin;
const VIEWPORTS = { desktop: DESKTOP, phone: PHONE };

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { name, level: 1 });
const nav = (page: Page) => page.getByRole('navigation', { name: 'Main' });

const roleOf = async (app: WebApp, id: number) =>
  (await app.ws.db.selectFrom('users').select('role').where('id', '=', id).executeTakeFirstOrThrow()).role;

const menuButton = (page: Page, o: { expanded?: boolean } = {}) =>
  page.getByRole('button', { name: 'Menu', ...o });

/** The header's links; on a phone, after opening the menu. */
async function navLinks(page: Page): Promise<string[]> {
  const menu = menuButton(page);
  if ((await menu.isVisible()) && (await menu.getAttribute('aria-expanded')) === 'false') await menu.click();
  // Role locators skip hidden elements: read the links only once the navigation shows.
  await nav(page).waitFor();
  return nav(page).getByRole('listitem').allInnerTexts();
}

describe('web app accounts in Chromium', { skip: skipWithoutChromium }, () => {
  let app: WebApp;
  before(async () => {
    app = await startWebApp({ model: false });
  });
  after(async () => {
    await app?.close();
  });

  it('lets the first person sign up, as admin', async () => {
    await inBrowser(DESKTOP, async (page) => {
      await page.goto(`${app.url}/`);
      await page.waitForURL(/\/signin$/);
      await page.getByText('Nobody has an account yet').waitFor();
      await checkPage(page, 'signin-first-desktop');
      await page.getByRole('link', { name: 'Create the first account' }).click();
      await heading(page, 'Create the first account').waitFor();
      await page.getByText('This first account will be the admin').waitFor();
      await checkPage(page, 'signup-first-desktop');
      await signUp(page, app.url, ADMIN);
      await page.getByText('Signed in as admin@example.org').waitFor();
      assert.ok((await navLinks(page)).includes('Users'));
      await checkPage(page, 'home-admin-desktop');
    });
    const rows = await app.ws.db.selectFrom('users').select(['email', 'role']).execute();
    assert.deepEqual(rows, [{ email: 'admin@example.org', role: 'admin' }]);
  });

  it('lets an admin invite an annotator, who signs up with the link on a phone', async () => {
    let link = '';
    await inBrowser(DESKTOP, async (page) => {
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await logIn(page, app.url, ADMIN);
      await nav(page).getByRole('link', { name: 'Users' }).click();
      await heading(page, 'Users').waitFor();
      await page.getByLabel('Role', { exact: true }).selectOption('annotator');
      await page.getByRole('button', { name: 'Create invitation link' }).click();
      const field = page.getByLabel(/Invitation link/);
      await field.waitFor();
      link = await field.inputValue();
      assert.match(link, new RegExp(`^${app.url}/signup\\?invite=[\\w-]+$`));
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), link);
      await page.getByText('annotator for anyone with the link').waitFor();
      await checkPage(page, 'users-invited-desktop');
    });
    await inBrowser(PHONE, async (page) => {
      await page.goto(link);
      await page.getByText('You are invited as annotator').waitFor();
      await checkPage(page, 'signup-invited-phone');
      await signUp(page, app.url, {
        email: 'ann@example.org',
        password: PASSWORD,
        invitation: new URL(link).searchParams.get('invite')!,
      });
      await page.getByText('Signed in as ann@example.org').waitFor();
      assert.equal(await nav(page).isVisible(), false, 'the phone folds the navigation away');
      const links = await navLinks(page);
      assert.ok(!links.includes('Users') && links.includes('Home'), links.join(', '));
      await checkPage(page, 'home-annotator-phone');
    });
    const ann = await app.ws.db
      .selectFrom('users')
      .select('role')
      .where('email', '=', 'ann@example.org')
      .executeTakeFirstOrThrow();
    assert.equal(ann.role, 'annotator');
  });

  it('keeps a viewer out of the admin page, and the server refuses its admin calls', async () => {
    const viewer = await createUser(app.ws, { email: 'vic@example.org', password: PASSWORD, role: 'viewer' });
    await inBrowser(DESKTOP, async (page) => {
      await logIn(page, app.url, { email: 'vic@example.org', password: PASSWORD });
      assert.ok(!(await navLinks(page)).includes('Users'));
      await page.goto(`${app.url}/admin/users`);
      await heading(page, 'Not allowed').waitFor();
      await page.getByText('This page needs the admin role; your account is viewer').waitFor();
      await checkPage(page, 'not-allowed-desktop');
      // What a crafted request from a viewer's browser gets: the page's rules are only courtesy.
      expectConsoleError(page, /status of 403/);
      expectConsoleError(page, /status of 403/);
      const statuses = await page.evaluate(async (id) => {
        const { csrf } = (await (await fetch('/api/session')).json()) as { csrf: string };
        const list = await fetch('/api/admin/users');
        const promote = await fetch(`/api/admin/users/${id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ role: 'admin' }),
        });
        return [list.status, promote.status];
      }, viewer.id);
      assert.deepEqual(statuses, [403, 403]);
    });
    assert.equal(await roleOf(app, viewer.id), 'viewer');
  });

  it('signs in and out, says what went wrong, and returns to the page asked for', async () => {
    for (const [name, viewport] of Object.entries(VIEWPORTS))
      await inBrowser(viewport, async (page) => {
        await page.goto(`${app.url}/account`);
        await page.waitForURL(/\/signin\?next=%2Faccount$/);
        await page.getByLabel('Email').fill(ADMIN.email);
        await page.getByLabel('Password').fill('not the password');
        expectConsoleError(page, /status of 401/);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('alert').getByText('Wrong email or password').waitFor();
        await checkPage(page, `signin-error-${name}`);
        await page.getByLabel('Password').fill(ADMIN.password);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await heading(page, 'Your account').waitFor();
        assert.equal(new URL(page.url()).pathname, '/account');
        const menu = page.getByRole('button', { name: 'Menu' });
        if (await menu.isVisible()) await menu.click();
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL(/\/signin$/);
        await page.reload();
        await heading(page, 'Sign in to Loupe').waitFor();
        await page.goto(`${app.url}/`);
        await page.waitForURL(/\/signin$/);
      });
  });

  it('can be used from the keyboard alone, with the focus always visible', async () => {
    await inBrowser(DESKTOP, async (page) => {
      await page.goto(`${app.url}/signin`);
      await heading(page, 'Sign in to Loupe').waitFor();
      const focused = async () => {
        const e = page.locator(':focus');
        return {
          label: (await e.getAttribute('name')) ?? (await e.innerText()),
          outline: await e.evaluate((x) => x.ownerDocument.defaultView!.getComputedStyle(x).outlineStyle),
        };
      };
      let at = { label: '', outline: '' };
      for (let i = 0; i < 6 && at.label !== 'email'; i++) {
        await page.keyboard.press('Tab');
        at = await focused();
        assert.notEqual(at.outline, 'none', `the focus on "${at.label}" is visible`);
      }
      assert.equal(at.label, 'email');
      await page.keyboard.type(ADMIN.email);
      await page.keyboard.press('Tab');
      assert.equal((await focused()).label, 'password');
      await page.keyboard.type(ADMIN.password);
      await page.keyboard.press('Enter');
      await heading(page, 'Welcome to Loupe').waitFor();
    });
    await inBrowserAs(app, 'admin', { viewport: PHONE }, async (page) => {
      // After moving to a page, the keyboard starts at its content (moved there once the page shows).
      await page.waitForFunction(`document.activeElement && document.activeElement.id === 'main'`);
      await page.goto(`${app.url}/`);
      await heading(page, 'Welcome to Loupe').waitFor();
      await page.keyboard.press('Tab');
      const skip = page.getByRole('link', { name: 'Skip to content' });
      assert.ok(await skip.evaluate((e) => e.matches(':focus')), 'the first stop skips the header');
      assert.ok((await skip.boundingBox())!.y >= 0, 'and shows itself when focused');
      const menu = menuButton(page);
      for (let i = 0; i < 3 && !(await menu.evaluate((e) => e.matches(':focus'))); i++)
        await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await menuButton(page, { expanded: true }).waitFor();
      await nav(page).getByRole('link', { name: 'Users' }).waitFor();
      await checkPage(page, 'menu-open-phone');
      await page.keyboard.press('Escape');
      await menuButton(page, { expanded: false }).waitFor();
      assert.ok(await menu.evaluate((e) => e.matches(':focus')), 'focus returns to the menu button');
      await page.keyboard.press('Enter');
      // Tabbing skips links still hidden: start once the menu shows them.
      await nav(page).getByRole('link', { name: 'Users' }).waitFor();
      const active = () => page.evaluate<string>('document.activeElement.textContent');
      for (let i = 0; i < 20 && (await active()) !== 'Users'; i++) await page.keyboard.press('Tab');
      assert.equal(await active(), 'Users');
      await page.keyboard.press('Enter');
      await heading(page, 'Users').waitFor();
      // The menu closes after the new page shows (on the change of address): wait, then check.
      await menuButton(page, { expanded: false }).waitFor();
    });
  });

  it('changes the password with clear errors, and logs out everywhere', async () => {
    await createUser(app.ws, { email: 'pat@example.org', password: PASSWORD, role: 'viewer' });
    const pat = { email: 'pat@example.org', password: PASSWORD };
    const other = await openBrowser(DESKTOP);
    try {
      await logIn(other, app.url, pat);
      await inBrowser(PHONE, async (page) => {
        await logIn(page, app.url, pat);
        await page.goto(`${app.url}/account`);
        await heading(page, 'Your account').waitFor();
        await page.getByLabel('Current password').fill('not my password');
        await page.getByLabel('New password', { exact: true }).fill('a brand new password');
        await page.getByLabel('Repeat the new password').fill('a brand new password!');
        await page.getByRole('button', { name: 'Change password' }).click();
        await page.getByRole('alert').getByText('The two new passwords differ').waitFor();
        await page.getByLabel('Repeat the new password').fill('a brand new password');
        expectConsoleError(page, /status of 403/);
        await page.getByRole('button', { name: 'Change password' }).click();
        await page.getByRole('alert').getByText('The current password is wrong').waitFor();
        await checkPage(page, 'account-error-phone');
        await page.getByLabel('Current password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Change password' }).click();
        await page.getByRole('status').getByText('Password changed. 1 other sign-in was ended.').waitFor();
        await checkPage(page, 'account-changed-phone');

        // The other browser was signed out by the change: its next page load goes to sign-in.
        await other.goto(`${app.url}/account`);
        await other.waitForURL(/\/signin/);
        await logIn(other, app.url, { email: pat.email, password: 'a brand new password' });

        await page.getByRole('button', { name: 'Log out everywhere' }).click();
        await page.waitForURL(/\/signin$/);
        await other.goto(`${app.url}/account`);
        await other.waitForURL(/\/signin/);
      });
    } finally {
      await other.close();
    }
  });

  it('lets an admin change a role and disable an account from the Users page', async () => {
    const dora = await createUser(app.ws, { email: 'dora@example.org', password: PASSWORD, role: 'viewer' });
    const doraPage = await openBrowser(DESKTOP);
    try {
      await logIn(doraPage, app.url, { email: dora.email, password: PASSWORD });
      await inBrowserAs(app, 'admin', { viewport: DESKTOP, next: '/admin/users' }, async (page) => {
        await heading(page, 'Users').waitFor();
        const saved = page.waitForResponse(
          (r) => r.url().endsWith(`/api/admin/users/${dora.id}`) && r.request().method() === 'PATCH',
        );
        await page.getByLabel('Role of dora@example.org').selectOption('annotator');
        assert.equal((await saved).status(), 200);
        await page
          .getByRole('combobox', { name: 'Role of dora@example.org' })
          .filter({ has: page.locator('option:checked[value="annotator"]') })
          .waitFor();
        assert.equal(await roleOf(app, dora.id), 'annotator');
        await page.getByRole('button', { name: 'Disable dora@example.org' }).click();
        await page.getByRole('button', { name: 'Enable dora@example.org' }).waitFor();
        await checkPage(page, 'users-disabled-desktop');
        // The last admin cannot demote themself: the page shows why.
        expectConsoleError(page, /status of 409/);
        await page.getByLabel('Role of admin@example.org').selectOption('viewer');
        await page
          .getByRole('alert')
          .getByText(/only admin left/)
          .waitFor();
      });
      await doraPage.reload();
      await doraPage.waitForURL(/\/signin/);
      expectConsoleError(doraPage, /status of 403/);
      await doraPage.getByLabel('Email').fill(dora.email);
      await doraPage.getByLabel('Password').fill(PASSWORD);
      await doraPage.getByRole('button', { name: 'Sign in' }).click();
      await doraPage
        .getByRole('alert')
        .getByText('This account is disabled: ask an admin to enable it')
        .waitFor();
    } finally {
      await doraPage.close();
    }
  });

  it('shows every account page readably at 1280×800 and at 390 px', async () => {
    for (const [name, viewport] of Object.entries(VIEWPORTS)) {
      await inBrowser(viewport, async (page) => {
        await page.goto(`${app.url}/signin`);
        await heading(page, 'Sign in to Loupe').waitFor();
        await checkPage(page, `signin-${name}`);
        await page.goto(`${app.url}/signup`);
        await page.getByText('takes new accounts by invitation only').waitFor();
        await checkPage(page, `signup-closed-${name}`);
        expectConsoleError(page, /status of 404/);
        await page.goto(`${app.url}/signup?invite=made-up`);
        await page
          .getByRole('alert')
          .getByText(/not valid/)
          .waitFor();
        await checkPage(page, `signup-bad-invitation-${name}`);
        await logIn(page, app.url, ADMIN);
        await heading(page, 'Welcome to Loupe').waitFor();
        await checkPage(page, `home-${name}`);
        await page.goto(`${app.url}/account`);
        await heading(page, 'Your account').waitFor();
        await checkPage(page, `account-${name}`);
        await page.goto(`${app.url}/admin/users`);
        await page.getByRole('table').getByText('dora@example.org').waitFor();
        await checkPage(page, `users-${name}`);
        await page.goto(`${app.url}/no/such/page`);
        await heading(page, 'Page not found').waitFor();
        await checkPage(page, `not-found-${name}`);
      });
    }
  });
});

describe('the page checks themselves', { skip: skipWithoutChromium }, () => {
  it('catch unlabelled controls, unreadable text, sideways scrolling, console errors and blocked scripts', async () => {
    const app = await startWebApp({ model: false });
    const page = await openBrowser(PHONE);
    try {
      await page.goto(`${app.url}/signin`);
      await heading(page, 'Sign in to Loupe').waitFor();
      await assertAccessible(page);
      await page.evaluate(`(() => {
        const main = document.getElementById('main');
        main.insertAdjacentHTML('beforeend', '<input id="bare"><p style="color:#bbb">faint</p>');
      })()`);
      await assert.rejects(assertAccessible(page), (e: Error) => {
        assert.match(e.message, /no accessible name: <input#bare>/);
        assert.match(e.message, /contrast 1\.79:1: <p> "faint"/);
        return true;
      });
      await page.evaluate(
        `document.getElementById('main').insertAdjacentHTML('beforeend', '<div style="width:600px">wide</div>')`,
      );
      await assert.rejects(assertNoSidewaysScroll(page), /6\d\d px wide in a 390 px viewport/);
      // A chart with its marks, and an inline script the page's policy refuses to run.
      expectConsoleError(page, /Refused to execute inline script/);
      await page.evaluate(`new Promise((reported) => {
        document.addEventListener('securitypolicyviolation', reported, { once: true });
        const main = document.getElementById('main');
        main.insertAdjacentHTML('beforeend', '<figure class="chart"><svg><g class="role-mark"><path d="M0 0h9"/></g></svg></figure>');
        main.append(Object.assign(document.createElement('script'), { textContent: 'window.ran = true' }));
      })`);
      await assert.rejects(
        chartsDrawn(page, 1),
        /Content-Security-Policy violations[^]*script-src(-elem)? blocked inline/,
      );
      assert.throws(
        () => assertScriptsLockedDown("frame-ancestors 'none'; object-src 'none'; base-uri 'self'"),
        /script-src of the Content-Security-Policy/,
      );
      assert.throws(() => assertScriptsLockedDown("script-src 'self' 'unsafe-eval'"), /allows eval/);
      await page.evaluate(`console.error('something broke')`);
      assert.throws(() => assertNoConsoleErrors(page), /something broke/);
      await assert.rejects(screenshot(page, 'never-written'), /something broke/);
      expectConsoleError(page, /announced/);
      await page.evaluate(`console.error('announced')`);
      await assert.rejects(page.close(), /something broke/);
    } finally {
      if (!page.isClosed()) await page.close().catch(() => undefined);
      await app.close();
    }
  });
});

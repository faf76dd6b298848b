import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { listFeedback } from '../src/monitor/feedback/feedback-store.js';
import { getVersion } from '../src/registry/registry-store.js';
import type { ReviewQueueView } from '../src/web/review/review-view.js';
import { repoRoot } from './helpers/run-cli.js';
import {
  ACCOUNTS,
  assertAccessible,
  checkPage,
  DESKTOP,
  inBrowserAs,
  PHONE,
  screenshot,
  skipWithoutChromium,
  startWebApp,
  type WebApp,
} from './helpers/web-e2e.js';

/**
 * The review queue in Chromium, driven by keys only: accept, correct with a digit, skip, undo;
 * each decision shown with who made it and when, and recorded as feedback.
 */

const SAMPLES = path.join(repoRoot, 'samples/fashion-mnist/test');
const ANNOTATOR = ACCOUNTS.annotator;

describe('the review page in Chromium', { skip: skipWithoutChromium }, () => {
  let app: WebApp;
  let classes: string[];

  before(async () => {
    app = await startWebApp({
      serve: { predictionLog: { storeInputs: true } },
      accounts: ['annotator', 'viewer'],
    });
    classes = (await getVersion(app.ws.db, { model: 'fm' })).classes;
    for (const c of (await readdir(SAMPLES)).sort().slice(0, 4))
      for (const f of (await readdir(path.join(SAMPLES, c))).sort().slice(0, 3)) {
        const res = await fetch(`${app.url}/v1/models/fm/predict`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: await readFile(path.join(SAMPLES, c, f)),
        });
        assert.equal(res.status, 200);
      }
    await app.server.predictionLog.flush();
  });
  after(async () => {
    await app?.close();
  });

  const left = async (page: Page) =>
    Number((await page.getByText(/^\d+ left$/).textContent())!.split(' ')[0]);
  const predictedNow = async (page: Page) => (await page.locator('.predicted').textContent())!;

  /**
   * Does `act`, then waits for the queue it made the page ask for (the one whose query `wanted`
   * accepts) and for the page to show it: its count, and its first item's picture. Returns it.
   */
  async function queueAfter(
    page: Page,
    wanted: (query: URLSearchParams) => boolean,
    act: () => Promise<unknown>,
  ): Promise<ReviewQueueView> {
    const response = page.waitForResponse((r) => {
      const url = new URL(r.url());
      return url.pathname === '/api/review/queue' && wanted(url.searchParams);
    });
    await act();
    const res = await response;
    assert.equal(res.status(), 200);
    const queue = (await res.json()) as ReviewQueueView;
    await page.getByText(`${queue.total} left`, { exact: true }).waitFor();
    const first = queue.items[0];
    if (first) await page.locator(`.review-item img[src="${first.image}?size=640"]`).waitFor();
    return queue;
  }

  it('decides from the keyboard alone: accept, correct, skip, undo (desktop)', async () => {
    await inBrowserAs(app, 'annotator', { viewport: DESKTOP, next: '/review' }, async (page) => {
      await page.getByText('12 left').waitFor();
      await page.getByRole('img', { name: /^Input predicted as / }).waitFor();
      await assertAccessible(page);
      await screenshot(page, 'review-desktop');

      // A: accept. The decision says who and when; one fewer left.
      const first = await predictedNow(page);
      await page.keyboard.press('a');
      await page.getByText(new RegExp(`^Accepted as ${first} by ${ANNOTATOR.email} at `)).waitFor();
      await page.getByText('11 left').waitFor();

      // A digit: correct to that class (or accept it, when it is the predicted one).
      const second = await predictedNow(page);
      const digit = classes.findIndex((c) => c !== second) + 1;
      await page.keyboard.press(String(digit));
      await page
        .getByText(new RegExp(`^Corrected from ${second} to ${classes[digit - 1]} by ${ANNOTATOR.email}`))
        .waitFor();
      await page.getByText('10 left').waitFor();

      // S: skip — recorded, nothing decided, the item goes to the back.
      await page.keyboard.press('s');
      await page.getByText(new RegExp(`^Skipped by ${ANNOTATOR.email} at `)).waitFor();
      assert.equal(await left(page), 10);
      await screenshot(page, 'review-decided-desktop');

      // U: undo the skip, then the correction.
      await page.keyboard.press('u');
      await page.getByText(/^Undid: Skipped by /).waitFor();
      await page.keyboard.press('u');
      await page.getByText(/^Undid: Corrected from /).waitFor();
      await page.getByText('11 left').waitFor();

      // Enter accepts too.
      await page.keyboard.press('Enter');
      await page.getByText(new RegExp(`^Accepted as .* by ${ANNOTATOR.email}`)).waitFor();
      await page.getByText('10 left').waitFor();

      const mine = (await listFeedback(app.ws.db, { actor: ANNOTATOR.email })).reverse();
      assert.deepEqual(
        mine.map((f) => f.action),
        ['accept', 'accept'],
      );
      for (const f of mine) {
        assert.equal(f.channel, 'review');
        assert.equal(f.model, 'fm');
        assert.ok(f.predictionId && f.requestId && f.inputBlob);
        assert.equal(f.label, f.predicted);
      }
    });
  });

  it('filters by entropy and class, and works with buttons on a phone', async () => {
    await inBrowserAs(app, 'annotator', { viewport: PHONE, next: '/review' }, async (page) => {
      const byEntropy = await queueAfter(
        page,
        (q) => q.get('order') === 'entropy' && !q.has('predicted'),
        () => page.getByLabel('Least sure by').selectOption('entropy'),
      );
      const entropies = byEntropy.items.filter((i) => !i.skipped_at).map((i) => i.entropy);
      assert.deepEqual(
        entropies,
        [...entropies].sort((a, b) => b - a),
        'most spread out first',
      );
      const label = byEntropy.items[0]!.predicted;
      const ofClass = await queueAfter(
        page,
        (q) => q.get('order') === 'entropy' && q.get('predicted') === label,
        () => page.getByLabel('Predicted class').selectOption(label),
      );
      assert.ok(ofClass.items.length && ofClass.items.every((i) => i.predicted === label));
      await page
        .getByRole('button', { name: `Accept as ${label} (key ${classes.indexOf(label) + 1})` })
        .click();
      await page.getByText(new RegExp(`^Accepted as ${label} by `)).waitFor();
      const all = await queueAfter(
        page,
        (q) => q.get('order') === 'entropy' && !q.has('predicted'),
        () => page.getByLabel('Predicted class').selectOption(''),
      );
      assert.equal(all.total, byEntropy.total - 1);
      await checkPage(page, 'review-phone');
    });
  });

  it('shows a viewer the queue without letting them decide', async () => {
    await inBrowserAs(app, 'viewer', { viewport: DESKTOP, next: '/review' }, async (page) => {
      await page.getByText('deciding needs the annotator role').waitFor();
      const before = await left(page);
      assert.equal(await page.getByRole('button', { name: 'Accept A', exact: true }).isDisabled(), true);
      // The keys must send nothing. The page would send a decision while handling the key; a
      // request it sends afterwards is reported after it, so once that one is seen, none came.
      const sent: string[] = [];
      page.on('request', (r) => {
        if (r.method() !== 'GET') sent.push(`${r.method()} ${r.url()}`);
      });
      await page.keyboard.press('a');
      await page.keyboard.press('1');
      await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/api/session?after-keys')),
        page.evaluate(`fetch('/api/session?after-keys').then((r) => r.status)`),
      ]);
      assert.deepEqual(sent, []);
      assert.equal(await left(page), before);
      assert.equal(await page.locator('.decided').textContent(), '', 'no decision is reported');
      await assertAccessible(page);
      await screenshot(page, 'review-viewer-desktop');
    });
  });
});

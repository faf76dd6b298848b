import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { listFeedback } from '../src/monitor/feedback/feedback-store.js';
import { getVersion } from '../src/registry/registry-store.js';
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
      await page.getByLabel('Least sure by').selectOption('entropy');
      const before = await left(page);
      const label = await predictedNow(page);
      await page.getByLabel('Predicted class').selectOption(label);
      await page.getByRole('img', { name: `Input predicted as ${label}` }).waitFor();
      await page
        .getByRole('button', { name: `Accept as ${label} (key ${classes.indexOf(label) + 1})` })
        .click();
      await page.getByText(new RegExp(`^Accepted as ${label} by `)).waitFor();
      await page.getByLabel('Predicted class').selectOption('');
      await page.getByText(`${before - 1} left`).waitFor();
      await checkPage(page, 'review-phone');
    });
  });

  it('shows a viewer the queue without letting them decide', async () => {
    await inBrowserAs(app, 'viewer', { viewport: DESKTOP, next: '/review' }, async (page) => {
      await page.getByText('deciding needs the annotator role').waitFor();
      const before = await left(page);
      assert.equal(await page.getByRole('button', { name: 'Accept A', exact: true }).isDisabled(), true);
      await page.keyboard.press('a');
      assert.equal(await left(page), before);
      await assertAccessible(page);
      await screenshot(page, 'review-viewer-desktop');
    });
  });
});

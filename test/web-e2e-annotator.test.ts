import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { listFeedback } from '../src/monitor/feedback/feedback-store.js';
import { AUDIO_SAMPLES, trainAudioModel } from './helpers/audio-model-fixture.js';
import {
  ACCOUNTS,
  assertAccessible,
  assertNoSidewaysScroll,
  checkPage,
  DESKTOP,
  holdBackAnswer,
  inBrowserAs,
  PHONE,
  screenshot,
  startWebApp,
  type WebApp,
} from './helpers/web-e2e.js';

/** Runs in the page: how wide the waveform's content and its box are (in wavesurfer's shadow root). */
const WIDTHS = `(() => {
  const scroll = document.querySelector('.waveform > div').shadowRoot.querySelector('.scroll');
  return { waveform: scroll.scrollWidth, waveformBox: scroll.clientWidth };
})()`;

/** The regions wavesurfer drew (in its open shadow root, which Playwright's CSS locators pierce). */
const regions = (page: Page) => page.locator('[part~="region"]');
const segmentItems = (page: Page) => page.locator('.segment-list > li');
const CLASSES = ['chirp', 'noise', 'tone'];

/** Uploads a recording through the form and waits for its annotator page. */
async function uploadThroughPage(page: Page, url: string, file: string): Promise<number> {
  await page.goto(`${url}/audio`);
  // The server's limits (web.annotator), as the form says them.
  await page.getByText('Up to 10 minutes and 64 MiB. Any sample rate, mono or stereo.').waitFor();
  await page.getByLabel('Recording (WAV)').setInputFiles(file);
  await page.getByRole('button', { name: 'Upload and pre-label' }).click();
  // The page moves on once the server has decoded and classified the whole recording.
  await page.waitForURL(/\/audio\/\d+$/, { timeout: 60_000 });
  await page.getByRole('heading', { level: 1, name: path.basename(file) }).waitFor();
  return Number(new URL(page.url()).pathname.split('/').pop());
}

describe('audio annotator in the browser', () => {
  let app: WebApp;
  before(async () => {
    app = await startWebApp({ accounts: ['annotator', 'viewer'] });
    await trainAudioModel(app.ws);
  });
  after(async () => app?.close());

  for (const [name, viewport, file] of [
    ['desktop', DESKTOP, 'rec-04.wav'],
    ['phone', PHONE, 'rec-02.wav'],
  ] as const)
    it(`uploads, shows the segments as regions, takes a class change and an accept (${name})`, async () => {
      await inBrowserAs(app, 'annotator', { viewport }, async (page) => {
        await page.goto(`${app.url}/audio`);
        await page.getByRole('heading', { name: 'Audio annotator' }).waitFor();
        await checkPage(page, `audio-list-${name}`);
        const id = await uploadThroughPage(page, app.url, path.join(AUDIO_SAMPLES, file));

        // One region per segment, each tagged with its class and probability. Regions scrolled out of
        // view are not in the DOM (wavesurfer renders the visible ones), so on a phone fewer are.
        // Wavesurfer adds them one timer tick apart: on a desktop, wait for the last.
        await page.getByText(/^Playhead/).waitFor();
        const n = await segmentItems(page).count();
        assert.ok(n >= 3, `${n} segments`);
        await regions(page)
          .nth(viewport === DESKTOP ? n - 1 : 0)
          .waitFor();
        const drawn = await regions(page).allTextContents();
        if (viewport === DESKTOP) assert.equal(drawn.length, n);
        else assert.ok(drawn.length >= 1 && drawn.length <= n, `${drawn.length} of ${n} regions drawn`);
        for (const tag of drawn) assert.match(tag, /^(chirp|noise|tone) \d+%$/);
        // The spectrogram picture loaded into the waveform's scroller (the element shows before its
        // picture has arrived: decode() waits for it, and fails if it cannot load).
        const spectrogram = page.getByAltText(/Log-mel spectrogram of/);
        await spectrogram.waitFor();
        const loaded = await spectrogram.evaluate((img) => {
          const image = img as unknown as { naturalWidth: number; decode(): Promise<void> };
          return image.decode().then(
            () => image.naturalWidth > 0,
            () => false,
          );
        });
        assert.equal(loaded, true);

        // Change the second segment's class with its dropdown.
        const second = segmentItems(page).nth(1);
        const select = second.getByRole('combobox', { name: 'Class of segment 2' });
        const was = await select.inputValue();
        const now = CLASSES.find((c) => c !== was)!;
        await select.selectOption(now);
        await page.getByText(`Segment 2 is now ${now}.`).waitFor();
        await assertRegionTag(page, 1, `✎ ${now}`);

        // Accept the first with its button, and the third with the keyboard.
        await page.getByRole('button', { name: 'Accept segment 1', exact: true }).click();
        await page.getByText(/^Segment 1 accepted as/).waitFor();
        await page.getByRole('button', { name: /^Segment 3:/ }).click();
        await page.keyboard.press('Escape');
        await page.keyboard.press('a');
        await page.getByText(/^Segment 3 accepted as/).waitFor();
        await assertRegionTag(page, 2, /^✓ /);
        // Space plays and pauses (the selected segment's button no longer has the focus).
        await page.keyboard.press(' ');
        await page.getByRole('button', { name: 'Pause' }).waitFor();
        await page.keyboard.press(' ');
        await page.getByRole('button', { name: 'Play', exact: true }).waitFor();
        await page.getByText('Keyboard shortcuts').click();
        await page.getByText('accept the selected segment', { exact: true }).waitFor();

        // Move the 4th segment's end: by dragging its region's edge on a desktop, by typing on a phone.
        const fourth = segmentItems(page).nth(3);
        const before = await fourth.getByRole('button', { name: /^Segment 4:/ }).textContent();
        if (viewport === DESKTOP) {
          const handle = regions(page).nth(3).locator('[part~="region-handle-right"]');
          const box = (await handle.boundingBox())!;
          await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
          await page.mouse.down();
          await page.mouse.move(box.x + box.width / 2 - 15, box.y + box.height / 2, { steps: 5 });
          await page.mouse.up();
        } else {
          await fourth.getByText('Edit times').click();
          const end = fourth.getByLabel('End (s)');
          await end.fill(String(Number(await end.inputValue()) - 0.05));
          await fourth.getByRole('button', { name: 'Save the times of segment 4' }).click();
        }
        await page.getByText(/^Segment 4 now spans/).waitFor();
        assert.notEqual(await fourth.getByRole('button', { name: /^Segment 4:/ }).textContent(), before);

        // The server has the decisions, with their provenance.
        const { blob } = await app.ws.db
          .selectFrom('recordings')
          .select('blob')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        const rows = await listFeedback(app.ws.db, { inputHash: blob });
        assert.deepEqual(rows.map((r) => r.action).sort(), ['accept', 'accept', 'correct', 'skip']);
        const correction = rows.find((r) => r.action === 'correct')!;
        assert.equal(correction.label, now);
        assert.equal(correction.predicted, was);
        assert.deepEqual(
          [correction.actor, correction.channel, correction.media, correction.model],
          [ACCOUNTS.annotator.email, 'annotator', 'audio', 'bursts'],
        );
        assert.ok(correction.segment && correction.segment.end > correction.segment.start);

        if (viewport === PHONE) {
          // The waveform scrolls sideways inside its box (the page itself does not: below).
          const widths = await page.evaluate<Record<string, number>>(WIDTHS);
          assert.ok(widths.waveform! > widths.waveformBox!, JSON.stringify(widths));
        }
        await assertAccessible(page);
        await assertNoSidewaysScroll(page);
        await second.scrollIntoViewIfNeeded();
        await screenshot(page, `audio-annotator-${name}`);
      });
    });

  it('lets a viewer look and listen but not edit (desktop and phone)', async () => {
    for (const [name, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      await inBrowserAs(app, 'viewer', { viewport }, async (page) => {
        await page.goto(`${app.url}/audio`);
        await page.getByText('uploading and editing need the annotator role').waitFor();
        await page.getByRole('link', { name: 'rec-04.wav' }).click();
        await page.getByText(/^Playhead/).waitFor();
        // Regions come after the waveform is ready; the list, with any Accept buttons, before it.
        await regions(page).first().waitFor();
        await segmentItems(page).first().waitFor();
        assert.equal(await page.getByRole('button', { name: /^Accept/ }).count(), 0);
        assert.ok(await page.getByRole('combobox', { name: 'Class of segment 1' }).isDisabled());
        await checkPage(page, `audio-annotator-viewer-${name}`);
      });
    }
  });

  it('shows two overlapping edits, whichever answer comes back last (desktop)', async () => {
    await inBrowserAs(app, 'annotator', { viewport: DESKTOP }, async (page) => {
      await page.goto(`${app.url}/audio`);
      await page.getByRole('link', { name: 'rec-04.wav' }).click();
      await page.getByText(/^Playhead/).waitFor();
      const classOf = (n: number) => page.getByRole('combobox', { name: `Class of segment ${n}` });
      const was = [await classOf(1).inputValue(), await classOf(3).inputValue()];
      const [to1, to3] = was.map((w) => CLASSES.find((c) => c !== w)!);
      // The first edit's answer (the server has made the edit) comes back after the second's.
      const first = await holdBackAnswer(page, (u) =>
        /^\/api\/recordings\/\d+\/segments\/\d+$/.test(u.pathname),
      );
      await classOf(1).selectOption(to1!);
      await first.answered;
      await classOf(3).selectOption(to3!);
      await page.getByText(`Segment 3 is now ${to3}.`).waitFor();
      first.release();
      await page.getByText(`Segment 1 is now ${to1}.`).waitFor();
      assert.deepEqual([await classOf(1).inputValue(), await classOf(3).inputValue()], [to1, to3]);
      // The page holds segment 3 at its current revision: the next edit of it is not refused.
      const again = CLASSES.find((c) => c !== was[1] && c !== to3)!;
      await classOf(3).selectOption(again);
      await page.getByText(`Segment 3 is now ${again}.`).waitFor();
      assert.equal(await classOf(3).inputValue(), again);
    });
  });
});

/** The tag of the n-th region drawn (0-based) comes to match. */
async function assertRegionTag(page: Page, n: number, expected: string | RegExp): Promise<void> {
  await regions(page).nth(n).filter({ hasText: expected }).waitFor();
}

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { listFeedback } from '../src/monitor/feedback/feedback-store.js';
import { repoRoot } from './helpers/run-cli.js';
import {
  ACCOUNTS,
  assertAccessible,
  checkPage,
  DESKTOP,
  holdBackAnswer,
  inBrowserAs,
  PHONE,
  screenshot,
  skipWithoutChromium,
  startWebApp,
  type WebApp,
} from './helpers/web-e2e.js';
import { zipEntries } from './helpers/zip-entries.js';

/**
 * The organiser page in Chromium: pick images with the file chooser, watch them upload and land
 * in class tabs, correct one from the keyboard, relabel two at once, delete one, download the zip
 * and check it against the class folders on disk.
 */

const SAMPLES = path.join(repoRoot, 'samples/fashion-mnist/test');
const ANNOTATOR = ACCOUNTS.annotator;

interface Row {
  id: number;
  original_name: string;
  label: string;
  class_folder: string;
  stored_name: string;
  blob_hash: string;
  corrected: number;
}

/**
 * Runs in the page: the grid's cards as "<name>: <class>", sorted (a card's label goes on with
 * ", predicted 91%" or ", corrected": up to the first comma).
 */
const GRID = `[...document.querySelectorAll('ul[aria-label="Images"] article')]
  .map((a) => a.getAttribute('aria-label').split(',')[0]).sort()`;
const gridNow = (page: Page) => page.evaluate<string[]>(GRID);
const cardsOf = (rows: Row[]) => rows.map((r) => `${r.original_name}: ${r.label}`).sort();

/**
 * Waits until the grid holds exactly `wanted` (it re-renders once a tab's page arrives: read
 * mid-swap, it still shows the previous tab); on a timeout, fails showing what it held.
 */
async function gridComesToHold(page: Page, wanted: string[]): Promise<void> {
  await page
    .waitForFunction(`JSON.stringify(${GRID}) === ${JSON.stringify(JSON.stringify(wanted))}`)
    .catch(async () => assert.deepEqual(await gridNow(page), wanted));
}

describe('the organiser page in Chromium', { skip: skipWithoutChromium }, () => {
  let app: WebApp;
  let files: string;
  let classes: string[];
  const rows = (): Promise<Row[]> =>
    app.ws.db.selectFrom('organised_images').selectAll().orderBy('id').execute() as Promise<Row[]>;

  before(async () => {
    app = await startWebApp({ accounts: ['annotator'] });
    classes = (await readdir(SAMPLES)).sort().slice(0, 4);
    files = await mkdtemp(path.join(tmpdir(), 'loupe-e2e-files-'));
    for (const [k, c] of classes.entries())
      for (const f of (await readdir(path.join(SAMPLES, c))).sort().slice(0, 2))
        await writeFile(path.join(files, `${k}-${f}`), await readFile(path.join(SAMPLES, c, f)));
    await writeFile(path.join(files, 'dog.jpg'), await readFile('/usr/share/darknet/data/dog.jpg'));
    await writeFile(path.join(files, 'notes.jpg'), 'not,an\nimage,at all\n');
  });
  after(async () => {
    await app?.close();
    if (files) await rm(files, { recursive: true, force: true });
  });

  /** Picks files through the page's own chooser, as a person would. */
  async function pick(page: Page, names: string[]): Promise<void> {
    const chooser = page.waitForEvent('filechooser');
    await page.getByText('Choose images…').click();
    await (await chooser).setFiles(names.map((n) => path.join(files, n)));
  }

  it('upload, see progress and tabs, correct by keyboard, relabel two, delete one, download (desktop)', async () => {
    await inBrowserAs(app, 'annotator', { viewport: DESKTOP, next: '/organise' }, async (page) => {
      await page.getByRole('heading', { name: 'Organise' }).waitFor();
      // The heading shows at once; the grid's state once the classes arrive.
      await page.getByText('No images yet.').waitFor();
      await screenshot(page, 'organise-empty-desktop');

      const names = (await readdir(files)).sort();
      await pick(page, names);
      // 10 files go up in two requests, each with its own progress bar.
      const bars = page.getByRole('progressbar');
      await bars.first().waitFor();
      assert.equal(await bars.count(), 2);
      await page.getByText(/of 8 organised/).waitFor({ timeout: 30_000 });
      await page.getByText(/of 2 organised/).waitFor({ timeout: 30_000 });
      await page.getByText(/notes\.jpg: The upload is text|notes\.jpg.*the upload is text/i).waitFor();
      const kept = await rows();
      assert.equal(kept.length, names.length - 1);
      await page.getByRole('tab', { name: `All ${kept.length}` }).waitFor();
      for (const label of new Set(kept.map((r) => r.label))) {
        const n = kept.filter((r) => r.label === label).length;
        await page.getByRole('tab', { name: `${label} ${n}` }).waitFor();
      }
      await assertAccessible(page);
      await screenshot(page, 'organise-uploaded-desktop');

      // Correct the first card from the keyboard: focus it, press the digit of another class.
      const first = kept[0]!;
      const target = classes.findIndex((c) => c !== first.label);
      const card = page.getByRole('article', { name: new RegExp(`^${first.original_name}:`) });
      await card.focus();
      await page.keyboard.press(String(target + 1));
      await page
        .getByRole('article', { name: `${first.original_name}: ${classes[target]}, corrected` })
        .waitFor();
      const corrected = (await rows()).find((r) => r.id === first.id)!;
      assert.equal(corrected.label, classes[target]);
      assert.ok(existsSync(path.join(app.dir, 'organised', corrected.class_folder, corrected.stored_name)));
      assert.equal(existsSync(path.join(app.dir, 'organised', first.class_folder, first.stored_name)), false);
      const [feedback] = await listFeedback(app.ws.db, { inputHash: first.blob_hash });
      assert.equal(feedback?.actor, ANNOTATOR.email);
      assert.equal(feedback?.channel, 'organiser');

      // Select two more with the keyboard (arrow, Space, Shift+arrow), relabel both at once.
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press(' ');
      await page.keyboard.press('Shift+ArrowRight');
      await page.getByText('2 selected').waitFor();
      const bulkClass = classes[3]!;
      await page.getByLabel('Class for the selected images').selectOption(bulkClass);
      await page.getByRole('button', { name: 'Relabel selected' }).click();
      await page.getByText(`2 images are now ${bulkClass}.`).waitFor();
      const after2 = await rows();
      for (const r of [after2[1]!, after2[2]!]) assert.equal(r.label, bulkClass, r.original_name);
      await assertAccessible(page);
      await screenshot(page, 'organise-relabelled-desktop');

      // Delete one, after confirming in the dialog.
      const doomed = after2[3]!;
      await page.getByRole('button', { name: `Delete ${doomed.original_name}` }).click();
      const dialog = page.getByRole('dialog', { name: `Delete ${doomed.original_name}?` });
      await dialog.waitFor();
      await screenshot(page, 'organise-confirm-delete-desktop');
      await dialog.getByRole('button', { name: 'Delete' }).click();
      await page.getByText('Deleted 1 image.').waitFor();
      assert.equal(
        (await rows()).some((r) => r.id === doomed.id),
        false,
      );
      assert.equal(
        existsSync(path.join(app.dir, 'organised', doomed.class_folder, doomed.stored_name)),
        false,
      );

      // A class tab shows only its images.
      await page.getByRole('tab', { name: new RegExp(`^${bulkClass} `) }).click();
      await page.getByRole('tab', { name: new RegExp(`^${bulkClass} `), selected: true }).waitFor();
      const inTab = (await rows()).filter((r) => r.label === bulkClass);
      assert.ok(inTab.length >= 2);
      await gridComesToHold(page, cardsOf(inTab));
      await screenshot(page, 'organise-class-tab-desktop');

      // Download everything: a zip of class folders holding exactly the organised files.
      const download = page.waitForEvent('download');
      await page.getByRole('link', { name: 'Download all (zip)' }).click();
      const zipFile = await (await download).path();
      const entries = zipEntries(await readFile(zipFile));
      const final = await rows();
      assert.equal(entries.length, final.length);
      for (const r of final) {
        const bytes = await readFile(path.join(app.dir, 'organised', r.class_folder, r.stored_name));
        const entry = entries.find((e) => createHash('sha256').update(e.data).digest('hex') === r.blob_hash);
        assert.ok(entry, `${r.original_name} is in the zip`);
        assert.equal(entry.name.split('/')[0], r.class_folder);
        assert.deepEqual(entry.data, bytes);
      }
    });
  });

  it('works on a phone: upload, tabs, the dropdown, no sideways scrolling', async () => {
    await inBrowserAs(app, 'annotator', { viewport: PHONE, next: '/organise' }, async (page) => {
      await page.getByRole('tab', { name: /^All / }).waitFor();
      await pick(page, ['dog.jpg', '3-' + (await readdir(path.join(SAMPLES, classes[3]!))).sort()[0]]);
      await page.getByText(/of 2 organised/).waitFor({ timeout: 30_000 });
      const dog = (await rows()).find((r) => r.original_name === 'dog.jpg')!;
      const other = classes.find((c) => c !== dog.label)!;
      await page.getByLabel('Class of dog.jpg').selectOption(other);
      await page.getByText(`dog.jpg is now ${other}.`).waitFor();
      assert.equal((await rows()).find((r) => r.id === dog.id)!.label, other);
      await checkPage(page, 'organise-phone');
    });
  });

  it('keeps the tab chosen when a reload started before it answers after it', async () => {
    await inBrowserAs(app, 'annotator', { viewport: DESKTOP, next: '/organise' }, async (page) => {
      await gridComesToHold(page, cardsOf(await rows()));
      const [card, ...others] = await rows();
      const target = others.find((r) => r.label !== card!.label)!.label;
      // The All tab's reload that follows a change answers only once the tab chosen meanwhile is
      // showing: the answer to a load started earlier comes back last.
      const reload = await holdBackAnswer(
        page,
        (u) => u.pathname === '/api/organiser/images' && !u.searchParams.has('label'),
      );
      await page.getByLabel(`Class of ${card!.original_name}`).selectOption(target);
      const stale = await reload.answered;
      await page.getByRole('tab', { name: new RegExp(`^${target} `) }).click();
      const inTab = (await rows()).filter((r) => r.label === target);
      assert.ok(inTab.some((r) => r.id === card!.id));
      await gridComesToHold(page, cardsOf(inTab));

      reload.release();
      // Delivered in full, or failed because the page aborted it.
      await stale.response().then(
        (r) => r?.finished(),
        () => undefined,
      );
      await page.getByText(`${card!.original_name} is now ${target}.`).waitFor();
      assert.deepEqual(await gridNow(page), cardsOf(inTab), 'the late answer did not replace the tab');
      await page.getByRole('tab', { name: new RegExp(`^${target} `), selected: true }).waitFor();
    });
  });
});

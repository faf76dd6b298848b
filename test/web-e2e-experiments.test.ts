import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { aliasTarget, auditLog } from '../src/registry/registry-store.js';
import { listRuns } from '../src/track/run-store.js';
import { setGatePolicy, trainAndRegister } from './helpers/registry-fixture.js';
import { repoRoot } from './helpers/run-cli.js';
import {
  ACCOUNTS,
  assertScriptsLockedDown,
  chartsDrawn,
  checkPage,
  DESKTOP,
  expectConsoleError,
  inBrowserAs,
  PHONE,
  skipWithoutChromium,
  startWebApp,
  type WebApp,
} from './helpers/web-e2e.js';

/**
 * The runs, models, monitoring and jobs pages in Chromium at both viewports: sort the runs table
 * and compare two runs, open a version and click a confusion-matrix cell to see its images,
 * promote and roll back as an admin while the audit log follows, watch a job started from the
 * page; a viewer gets no promote button and the API refuses them too.
 */

const ADMIN = ACCOUNTS.admin;
const VIEWPORTS = [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const;

describe('experiments, models, monitoring and jobs in Chromium', { skip: skipWithoutChromium }, () => {
  let app: WebApp;
  let data: string;

  before(async () => {
    // Images outside the workspace for the ingest job: the server may read them once allowed.
    data = await mkdtemp(path.join(tmpdir(), 'loupe-e2e-jobs-'));
    const source = path.join(repoRoot, 'samples/fashion-mnist/test');
    for (const c of (await readdir(source)).sort().slice(0, 2))
      for (const f of (await readdir(path.join(source, c))).sort().slice(0, 6))
        await cp(path.join(source, c, f), path.join(data, c, f));
    app = await startWebApp({ accounts: ['admin', 'viewer'], web: { jobs: { ingestRoots: [data] } } });
    // A second run and version: something to compare, and something to promote.
    await trainAndRegister(app.ws, [{ epochs: 2, seed: 3 }]);
    await setGatePolicy(app.dir, {
      rules: [
        { metric: 'accuracy', min: 0 },
        { champion: 'macro_f1', notWorseBy: 1 },
      ],
    });
    const now = Date.now();
    for (let i = 0; i < 30; i++)
      app.server.predictionLog.record({
        at: new Date(now - (30 - i) * 60_000),
        model: 'fm',
        version: 1,
        inputHash: i.toString(16).padStart(64, '0'),
        source: 'upload',
        topK: [{ label: i % 3 ? 'Bag' : 'Coat', probability: 0.5 + (i % 5) / 10 }],
        latencyMs: 5 + (i % 7),
        requestId: `e2e-${i}`,
      });
    await app.server.predictionLog.flush();
  });

  after(async () => {
    await app?.close();
    if (data) await rm(data, { recursive: true, force: true });
  });

  async function runsTableAndCompare(page: Page, vp: string): Promise<void> {
    const loaded = await page.goto(`${app.url}/runs`);
    // The charts below are drawn under this policy, which forbids eval.
    assertScriptsLockedDown(loaded?.headers()['content-security-policy']);
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    const runs = (await listRuns(app.ws.db)).filter((r) => r.status === 'finished');
    assert.equal(runs.length, 2);
    // By duration: two tiny runs can tie on any metric, never on seconds taken.
    const byDuration = [...runs].sort((a, b) => a.duration_s! - b.duration_s!).map((r) => r.id);
    const sortButton = page.getByRole('button', { name: /^Duration/ });
    const header = page.locator('th', { has: sortButton });
    const rowIds = () => page.locator('table.runs-table tbody .run-id').allTextContents();
    const firstRow = page.locator('table.runs-table tbody tr').first();
    await sortButton.click();
    await page.locator('th[aria-sort="descending"]', { has: sortButton }).waitFor();
    await firstRow.filter({ hasText: byDuration[1]! }).waitFor();
    assert.deepEqual(await rowIds(), [...byDuration].reverse());
    await sortButton.click();
    await page.locator('th[aria-sort="ascending"]', { has: sortButton }).waitFor();
    await firstRow.filter({ hasText: byDuration[0]! }).waitFor();
    assert.deepEqual(await rowIds(), byDuration);
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');
    await checkPage(page, `runs-${vp}`);

    for (const r of runs) await page.getByRole('checkbox', { name: `Compare ${r.name} (${r.id})` }).check();
    await page.getByRole('button', { name: 'Compare selected' }).click();
    await page.getByRole('heading', { name: 'Compare runs' }).waitFor();
    // One chart per compared metric: validation macro-F1 and accuracy, training loss.
    await chartsDrawn(page, 3);
    const differing = page.locator('table.compare-table tr.differs th');
    assert.ok(
      (await differing.allTextContents()).some((t) => t.startsWith('seed')),
      'the seeds differ',
    );
    await checkPage(page, `runs-compare-${vp}`);

    await page.getByRole('link', { name: runs[0]!.name }).first().click();
    // 'Curves' heads the compare page too: wait for a heading only the run's page has.
    await page.getByRole('heading', { name: 'Lineage' }).waitFor();
    await chartsDrawn(page, 2);
    await page.getByRole('heading', { name: 'Configuration' }).waitFor();
    await checkPage(page, `run-${vp}`);
  }

  async function confusionCell(page: Page, vp: string): Promise<void> {
    await page.goto(`${app.url}/models/fm/2`);
    await page.getByRole('heading', { name: 'Evaluation' }).waitFor();
    await chartsDrawn(page, 3);
    const report = (await (await page.request.get(`${app.url}/api/models/fm/versions/2/report`)).json()) as {
      classes: string[];
      confusion: number[][];
    };
    const t = report.confusion.findIndex((row, i) => row[i]! > 0);
    const label = report.classes[t]!;
    // The number drawn in the chart's cell, as Vega labels it for screen readers.
    await page
      .locator(`[aria-label^="predicted label: ${label}; true label: ${label}; value:"]`)
      .first()
      .click();
    const panel = page.locator('.cell-panel');
    await panel
      .getByRole('heading', {
        name: new RegExp(`${label}, predicted right — ${report.confusion[t]![t]} items?`),
      })
      .waitFor();
    await panel.locator('img').first().waitFor();
    assert.equal(await panel.locator('img').count(), Math.min(24, report.confusion[t]![t]!));
    await checkPage(page, `model-version-${vp}`);
  }

  async function promoteAndRollBack(page: Page, vp: string): Promise<void> {
    await page.goto(`${app.url}/models/fm/2`);
    await page.getByRole('table', { name: 'Gate rules' }).waitFor();
    await page.getByRole('button', { name: 'Promote…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Promote fm@2' });
    await dialog.waitFor();
    await dialog.getByLabel('Reason').fill(`better (${vp})`);
    await checkPage(page, `model-promote-dialog-${vp}`);
    await dialog.getByRole('button', { name: 'Promote', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'fm@2 is now champion (was v1).' }).waitFor();
    assert.equal(await aliasTarget(app.ws.db, 'fm', 'champion'), 2);
    const firstRow = page.getByRole('table', { name: 'Audit log' }).locator('tbody tr').first();
    await firstRow.filter({ hasText: `better (${vp})` }).waitFor();
    assert.match((await firstRow.textContent())!, new RegExp(`${ADMIN.email}.*promote.*champion: v1 → v2`));

    await page.getByRole('button', { name: 'Roll back champion…' }).click();
    const back = page.getByRole('dialog', { name: 'Roll back fm:champion' });
    await back.getByLabel('Reason').fill(`undo (${vp})`);
    await back.getByRole('button', { name: 'Roll back', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'fm:champion is back at fm@1 (was fm@2).' }).waitFor();
    await firstRow.filter({ hasText: `undo (${vp})` }).waitFor();
    assert.equal(await aliasTarget(app.ws.db, 'fm', 'champion'), 1);
    const last = (await auditLog(app.ws.db, 'fm')).at(-1)!;
    assert.deepEqual([last.action, last.actor, last.reason], ['rollback', ADMIN.email, `undo (${vp})`]);
    await checkPage(page, `model-audit-${vp}`);
  }

  async function monitoring(page: Page, vp: string): Promise<void> {
    await page.goto(`${app.url}/monitoring`);
    await page.getByRole('heading', { name: 'Monitoring' }).waitFor();
    await chartsDrawn(page, 5);
    await page.getByText('No drift check has run for fm yet').waitFor();
    assert.equal(await page.locator('.headline li').first().locator('.metric-value').textContent(), '30');
    await checkPage(page, `monitoring-${vp}`);
  }

  async function job(page: Page, vp: string): Promise<void> {
    await page.goto(`${app.url}/jobs`);
    await page.getByRole('heading', { name: 'Start a job' }).waitFor();
    await page.getByLabel('Kind').selectOption('ingest');
    await page.getByLabel('Path on the server').fill(data);
    await page.getByLabel('Dataset', { exact: true }).fill(`extra-${vp}`);
    await page.getByRole('button', { name: 'Start ingest' }).click();
    await page.waitForURL(/\/jobs\/\w{13}$/);
    await page.locator('.job-view .status').filter({ hasText: 'finished' }).waitFor({ timeout: 60_000 });
    await page.locator('.job-progress progress').waitFor();
    const log = await page.locator('.job-log').textContent();
    // The same images make the same version, so the second viewport's ingest finds it unchanged.
    assert.match(
      log!,
      new RegExp(`dataset {4}extra-${vp}: (new|unchanged: same items as) version \\w{12}, 12 items`),
      log!,
    );
    await checkPage(page, `jobs-${vp}`);
  }

  for (const [vp, viewport] of VIEWPORTS)
    it(`an admin sorts and compares runs, explores a version, promotes and rolls back, monitors and starts a job (${vp})`, async () => {
      // Signed in at the desktop size, where the helper finds the navigation, then resized.
      await inBrowserAs(app, 'admin', { viewport: DESKTOP }, async (page) => {
        await page.setViewportSize(viewport);
        await runsTableAndCompare(page, vp);
        await confusionCell(page, vp);
        await promoteAndRollBack(page, vp);
        await monitoring(page, vp);
        await job(page, vp);
        await page.goto(`${app.url}/models`);
        await page.getByRole('link', { name: 'champion → v1' }).waitFor();
        await checkPage(page, `models-${vp}`);
      });
    });

  it('a viewer sees the version without a promote button, and the API refuses their promotion', async () => {
    await inBrowserAs(app, 'viewer', { viewport: DESKTOP }, async (page) => {
      await page.goto(`${app.url}/models/fm/2`);
      await page.getByRole('table', { name: 'Gate rules' }).waitFor();
      await chartsDrawn(page, 3);
      assert.equal(await page.getByRole('button', { name: /Promote|Roll back/ }).count(), 0);
      const before = await auditLog(app.ws.db, 'fm');
      expectConsoleError(page, /status of 403/);
      const status = await page.evaluate(async () => {
        const { csrf } = (await (await fetch('/api/session')).json()) as { csrf: string };
        const res = await fetch('/api/models/fm/versions/2/promote', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ reason: 'let me' }),
        });
        return res.status;
      });
      assert.equal(status, 403);
      assert.deepEqual(await auditLog(app.ws.db, 'fm'), before);
      assert.equal(await aliasTarget(app.ws.db, 'fm', 'champion'), 1);
      await checkPage(page, 'model-version-viewer-desktop');
    });
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { compile, type TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../src/charts/render.js';
import { LoupeError } from '../src/errors/loupe-error.js';
import { registerRun } from '../src/registry/register-model.js';
import { runArtifacts, runMetrics } from '../src/track/run-store.js';
import { trainModel } from '../src/train/train-run.js';
import type { RunComparison } from '../src/web/experiments/compare-runs.js';
import type { RunDetail } from '../src/web/experiments/run-detail.js';
import type { RunsPage } from '../src/web/experiments/runs-query.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { tinyScratch } from './helpers/registry-fixture.js';
import { expectProblem, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';
import { userWithRole, type ApiClient } from './helpers/web-api.js';

let dir: string;
let ws: Workspace;
let server: RunningServer;
let viewer: ApiClient;
/** Three real tiny runs: two finished with different settings, one stopped (killed) after its first epoch. */
const ids = { baseline: '', higherLr: '', stopped: '' };
/** The shortest prefix (8 characters at least) naming only this run: ids made in the same second share more. */
const prefix = (id: string): string => {
  const others = Object.values(ids).filter((o) => o !== id);
  let n = 8;
  while (others.some((o) => o.startsWith(id.slice(0, n)))) n++;
  return id.slice(0, n);
};

before(async () => {
  ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 16 }));
  ids.baseline = (await trainModel(ws, { name: 'baseline', config: tinyScratch({ epochs: 2 }) })).runId;
  ids.higherLr = (
    await trainModel(ws, {
      name: 'higher lr',
      config: tinyScratch({ epochs: 3, seed: 7, optimizer: { lr: 0.01 } }),
    })
  ).runId;
  const stop = new AbortController();
  await assert.rejects(
    trainModel(ws, {
      name: 'stopped 50%',
      config: tinyScratch({ epochs: 2 }),
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'start') ids.stopped = e.runId;
        if (e.type === 'epoch') stop.abort(new LoupeError('INTERRUPTED', 'stopped by the test'));
      },
    }),
    /stopped by the test/,
  );
  await registerRun(ws, ids.baseline, { name: 'fm', reason: 'lineage' });
  server = await startServer(ws, {});
  viewer = await userWithRole(server.url, ws, 'viewer');
});

after(async () => {
  await server?.close();
  await ws?.close();
  await rm(dir, { recursive: true, force: true });
});

const page = (query = '') => viewer.get<RunsPage>(`/api/runs${query}`);
const names = (p: RunsPage) => p.runs.map((r) => r.name);

/** A spec the web page would draw: it compiles and renders. */
async function drawable(spec: TopLevelSpec): Promise<void> {
  compile(spec);
  assert.match(await renderSvg(spec), /^<svg/);
}

describe('the runs table', () => {
  it('lists runs newest first, with their dataset, status and final metrics', async () => {
    const p = await page();
    assert.equal(p.total, 3);
    assert.deepEqual(
      p.runs.map((r) => r.id),
      [ids.stopped, ids.higherLr, ids.baseline],
    );
    assert.deepEqual(
      p.runs.map((r) => r.status),
      ['killed', 'finished', 'finished'],
    );
    assert.ok(p.runs.every((r) => r.dataset === 'fm' && r.mode === 'scratch'));
    assert.equal(typeof p.runs[1]!.summary!['val.macro_f1'], 'number');
    assert.deepEqual(p.facets.datasets, ['fm']);
  });

  it('sorts by a column or a final metric either way, runs without the value last', async () => {
    const finished = (await page()).runs.filter((r) => r.summary);
    const byF1 = [...finished].sort(
      (a, b) => a.summary!['val.macro_f1']! - b.summary!['val.macro_f1']! || b.id.localeCompare(a.id),
    );
    const asc = await page('?sort=val_f1&order=asc');
    assert.deepEqual(
      asc.runs.map((r) => r.id),
      [...byF1.map((r) => r.id), ids.stopped],
    );
    const desc = await page('?sort=val_f1&order=desc');
    assert.equal(desc.runs.at(-1)!.id, ids.stopped, 'the killed run has no metrics: last either way');
    assert.deepEqual(names(await page('?sort=name&order=asc')), ['baseline', 'higher lr', 'stopped 50%']);
    assert.deepEqual(names(await page('?sort=name&order=desc')), ['stopped 50%', 'higher lr', 'baseline']);
    const byDuration = await page('?sort=duration&order=asc');
    const durations = byDuration.runs.map((r) => r.durationS);
    assert.deepEqual(
      durations,
      [...durations].sort((a, b) => a - b),
    );
  });

  it('filters by status, mode, dataset and text, and pages', async () => {
    assert.deepEqual(names(await page('?status=killed')), ['stopped 50%']);
    assert.deepEqual(names(await page('?status=finished')), ['higher lr', 'baseline']);
    assert.equal((await page('?mode=probe')).total, 0);
    assert.equal((await page('?mode=scratch')).total, 3);
    assert.equal((await page('?dataset=fm')).total, 3);
    const version = (await page()).runs[0]!.datasetVersion;
    assert.equal((await page(`?dataset=${version.slice(0, 8)}`)).total, 3, 'a version id prefix');
    assert.equal((await page('?dataset=other')).total, 0);
    assert.deepEqual(names(await page('?q=lr')), ['higher lr']);
    assert.deepEqual(names(await page(`?q=${prefix(ids.baseline)}`)), ['baseline']);
    // LIKE wildcards in the text are literal: "_" would match any character, but no name has one.
    assert.equal((await page('?q=_')).total, 0);
    assert.deepEqual(names(await page('?q=50%25')), ['stopped 50%']);
    const second = await page('?limit=1&offset=1');
    assert.equal(second.total, 3);
    assert.deepEqual(names(second), ['higher lr']);
  });

  it('refuses bad queries and callers without a session', async () => {
    for (const [query, detail] of [
      ['?sort=colour', /sort/],
      ['?order=up', /order/],
      ['?limit=0', /limit/],
      ['?limit=1000', /limit/],
      ['?status=paused', /status/],
      ['?shape=round', /shape|unrecognized/i],
    ] as const)
      await expectProblem(await viewer.call(`/api/runs${query}`), 400, detail);
    await expectProblem(await fetch(`${server.url}/api/runs`), 401, /sign in/);
  });
});

describe("a run's page", () => {
  it('has its settings, every logged metric, artifacts, lineage and drawable curves', async () => {
    const d = await viewer.get<RunDetail>(`/api/runs/${prefix(ids.higherLr)}`);
    assert.equal(d.run.id, ids.higherLr);
    assert.equal(d.settings['optimizer.lr'], '0.01');
    assert.equal(d.settings.epochs, '3');
    assert.deepEqual(d.metrics, await runMetrics(ws.db, ids.higherLr));
    assert.deepEqual(
      d.artifacts.map((a) => a.name),
      (await runArtifacts(ws.db, ids.higherLr)).map((a) => a.name),
    );
    assert.equal(d.lineage.dataset?.name, 'fm');
    assert.deepEqual(d.lineage.models, []);
    assert.deepEqual(
      d.charts.map((c) => (c as { title: string }).title),
      ['Loss', 'Quality'],
    );
    const loss = (d.charts[0] as { data: { values: { series: string; x: number; y: number }[] } }).data
      .values;
    const logged = d.metrics.filter((m) => m.name === 'train.loss');
    assert.deepEqual(
      loss.filter((v) => v.series === 'train (augmented)').map((v) => [v.x, v.y]),
      logged.map((m) => [m.step, m.value]),
    );
    for (const c of d.charts) await drawable(c);
  });

  it('names the model versions registered from the run', async () => {
    const d = await viewer.get<RunDetail>(`/api/runs/${ids.baseline}`);
    assert.deepEqual(d.lineage.models, [{ model: 'fm', version: 1, aliases: [] }]);
  });

  it('serves an artifact with the bytes its checksum names, and 404s for others', async () => {
    const curves = (await runArtifacts(ws.db, ids.baseline)).find((a) => a.name.endsWith('.png'))!;
    const res = await viewer.call(`/api/runs/${ids.baseline}/artifacts/${encodeURIComponent(curves.name)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), curves.sha256);
    await expectProblem(
      await viewer.call(`/api/runs/${ids.baseline}/artifacts/nothing.bin`),
      404,
      /no artifact/,
    );
    // A row pointing outside the workspace (edited by hand, say) is not followed.
    const outside = ws.db
      .updateTable('run_artifacts')
      .where('run_id', '=', ids.baseline)
      .where('name', '=', curves.name);
    await outside.set({ path: '../../etc/hostname' }).execute();
    try {
      await expectProblem(
        await viewer.call(`/api/runs/${ids.baseline}/artifacts/${encodeURIComponent(curves.name)}`),
        404,
        /outside the workspace/,
      );
    } finally {
      await outside.set({ path: curves.path }).execute();
    }
    await expectProblem(await viewer.call('/api/runs/zzzzzzzz'), 404, /no run/);
    await expectProblem(await viewer.call('/api/runs/ab'), 400, /id/);
  });
});

describe('comparing runs', () => {
  it('shows every setting, flags only those that differ, and overlays the curves', async () => {
    const c = await viewer.get<RunComparison>(`/api/runs/compare?ids=${ids.baseline},${ids.higherLr}`);
    assert.deepEqual(
      c.runs.map((r) => r.id),
      [ids.baseline, ids.higherLr],
    );
    const row = (key: string) => c.settings.find((s) => s.key === key)!;
    assert.deepEqual(row('config.epochs'), { key: 'config.epochs', values: ['2', '3'], differs: true });
    assert.deepEqual(row('seed'), { key: 'seed', values: ['0', '7'], differs: true });
    assert.equal(row('config.optimizer.lr').differs, true);
    assert.deepEqual(row('mode'), { key: 'mode', values: ['scratch', 'scratch'], differs: false });
    assert.equal(row('dataset_version').differs, false);
    assert.ok(c.settings.some((s) => !s.differs) && c.settings.some((s) => s.differs));
    const f1 = c.metrics.find((m) => m.key === 'val.macro_f1')!;
    assert.equal(f1.values.length, 2);
    assert.deepEqual(
      c.charts.map((s) => (s as { title: string }).title),
      ['validation macro-F1', 'validation accuracy', 'training loss'],
    );
    for (const chart of c.charts) {
      const series = new Set(
        (chart as { data: { values: { series: string }[] } }).data.values.map((v) => v.series),
      );
      assert.deepEqual([...series], [`baseline (${ids.baseline})`, `higher lr (${ids.higherLr})`]);
      await drawable(chart);
    }
  });

  it('compares up to four runs, and refuses fewer than two, repeats and unknown runs', async () => {
    const three = await viewer.get<RunComparison>(
      `/api/runs/compare?ids=${ids.baseline},${ids.higherLr},${ids.stopped}`,
    );
    assert.equal(three.runs.length, 3);
    assert.equal(three.settings.find((s) => s.key === 'config.epochs')!.values.length, 3);
    await expectProblem(await viewer.call(`/api/runs/compare?ids=${ids.baseline}`), 400, /2 to 4 runs/);
    await expectProblem(
      await viewer.call(
        `/api/runs/compare?ids=${[ids.baseline, ids.higherLr, ids.stopped, ids.baseline, ids.higherLr].join(',')}`,
      ),
      400,
      /2 to 4 runs/,
    );
    await expectProblem(
      await viewer.call(`/api/runs/compare?ids=${ids.baseline},${prefix(ids.baseline)}`),
      400,
      /named twice/,
    );
    await expectProblem(await viewer.call(`/api/runs/compare?ids=${ids.baseline},zzzzzzzz`), 404, /no run/);
    await expectProblem(await viewer.call('/api/runs/compare'), 400, /ids/);
  });
});

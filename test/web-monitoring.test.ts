import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compile, type TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../src/charts/render.js';
import { recordDriftCheck, type DriftCheck, type DriftCheckInput } from '../src/monitor/drift/drift-store.js';
import type { TrafficStats } from '../src/web/monitoring/traffic-stats.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { expectProblem, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { userWithRole, type ApiClient } from './helpers/web-api.js';

let dir: string;
let ws: Workspace;
let server: RunningServer;
let viewer: ApiClient;

const MINUTE = 60_000;
/** The start of the first minute of the range: an hour ago, on a minute boundary. */
const t0 = Math.floor((Date.now() - 60 * MINUTE) / MINUTE) * MINUTE;
const at = (minute: number, second = 0) => new Date(t0 + minute * MINUTE + second * 1000);

/**
 * What was served, by construction: minute 0 has 100 requests of fm@1 taking 1..100 ms (so p50 is
 * 50, p95 95, p99 99 by nearest rank); minute 1 has none; minute 2 has two of fm@2 (5 and 7 ms);
 * minute 3 has one of another model, which fm's figures must not count.
 */
interface Served {
  minute: number;
  model: string;
  version: number;
  label: string;
  confidence: number;
  latencyMs: number;
}
const served: Served[] = [
  ...Array.from({ length: 100 }, (_, i) => ({
    minute: 0,
    model: 'fm',
    version: 1,
    label: i < 70 ? 'Bag' : 'Coat',
    // 0.05, 0.15 ... 0.95 in turn: ten in each confidence bin.
    confidence: (i % 10) / 10 + 0.05,
    latencyMs: 100 - i,
  })),
  { minute: 2, model: 'fm', version: 2, label: 'Coat', confidence: 1, latencyMs: 7 },
  { minute: 2, model: 'fm', version: 2, label: 'Dress', confidence: 0.5, latencyMs: 5 },
  { minute: 3, model: 'other', version: 1, label: 'Cat', confidence: 0.9, latencyMs: 1000 },
];

before(async () => {
  dir = path.join(await mkdtemp(path.join(tmpdir(), 'loupe-web-monitoring-')), 'ws');
  await initWorkspace(dir);
  ws = await openWorkspace({ workspace: dir, env: {} });
  server = await startServer(ws, {});
  for (const [i, s] of served.entries())
    server.predictionLog.record({
      at: at(s.minute, i % 60),
      model: s.model,
      version: s.version,
      inputHash: i.toString(16).padStart(64, '0'),
      source: 'upload',
      topK: [{ label: s.label, probability: s.confidence }],
      latencyMs: s.latencyMs,
      requestId: `r${i}`,
    });
  await server.predictionLog.flush();
  viewer = await userWithRole(server.url, ws, 'viewer');
});

after(async () => {
  await server?.close();
  await ws?.close();
  await rm(path.dirname(dir), { recursive: true, force: true });
});

const range = `from=${at(0).toISOString()}&to=${at(4).toISOString()}`;
const traffic = (query: string) =>
  viewer.get<TrafficStats & { charts: Record<string, TopLevelSpec> }>(`/api/monitoring/traffic?${query}`);

describe('monitoring from the prediction log', () => {
  it('counts requests per minute, with latency percentiles, mean confidence and class mix', async () => {
    const s = await traffic(`model=fm&${range}&bucket=minute`);
    assert.equal(s.bucket, 'minute');
    assert.equal(s.total, 102);
    assert.deepEqual(
      s.buckets.map((b) => [b.t, b.requests, b.p50, b.p95, b.p99]),
      [
        [at(0).toISOString(), 100, 50, 95, 99],
        [at(1).toISOString(), 0, null, null, null],
        [at(2).toISOString(), 2, 5, 7, 7],
        [at(3).toISOString(), 0, null, null, null],
      ],
    );
    assert.deepEqual(s.buckets[0]!.classes, { Bag: 70, Coat: 30 });
    assert.deepEqual(s.buckets[2]!.classes, { Coat: 1, Dress: 1 });
    assert.ok(Math.abs(s.buckets[0]!.meanConfidence! - 0.5) < 1e-9);
    assert.equal(s.buckets[2]!.meanConfidence, 0.75);
    assert.deepEqual(s.classTotals, [
      { label: 'Bag', count: 70 },
      { label: 'Coat', count: 31 },
      { label: 'Dress', count: 1 },
    ]);
    assert.deepEqual(s.versions, [
      { version: 1, count: 100 },
      { version: 2, count: 2 },
    ]);
  });

  it('bins confidence over [0, 1], the last bin holding 1', async () => {
    const s = await traffic(`model=fm&${range}&bucket=minute`);
    assert.deepEqual(
      s.confidence.map((b) => b.count),
      [10, 10, 10, 10, 10, 11, 10, 10, 10, 11],
    );
    assert.deepEqual([s.confidence[0]!.lo, s.confidence[9]!.hi], [0, 1]);
  });

  it('narrows to one version, and buckets by hour', async () => {
    const v2 = await traffic(`model=fm&version=2&${range}&bucket=minute`);
    assert.equal(v2.total, 2);
    assert.deepEqual(v2.versions, [{ version: 2, count: 2 }]);
    const hourly = await traffic(`model=fm&${range}&bucket=hour`);
    assert.equal(
      hourly.buckets.reduce((a, b) => a + b.requests, 0),
      102,
    );
    assert.ok(hourly.buckets.length <= 2);
    const auto = await traffic(`model=fm&${range}`);
    assert.equal(auto.bucket, 'minute', 'four minutes are shown by the minute');
  });

  it('draws every chart from the same figures', async () => {
    const s = await traffic(`model=fm&${range}&bucket=minute`);
    assert.deepEqual(Object.keys(s.charts).sort(), [
      'classMix',
      'confidence',
      'confidenceTrend',
      'latency',
      'traffic',
    ]);
    const requests = (s.charts.traffic as { data: { values: { x: number; y: number }[] } }).data.values;
    assert.deepEqual(
      requests.map((v) => [v.x, v.y]),
      s.buckets.map((b) => [Date.parse(b.t), b.requests]),
    );
    for (const spec of Object.values(s.charts)) {
      compile(spec);
      assert.match(await renderSvg(spec), /^<svg/);
    }
  });

  it('lists the models it has predictions for, and registered ones without any', async () => {
    const { models } = await viewer.get<{
      models: { model: string; versions: number[]; predictions: number }[];
    }>('/api/monitoring/models');
    assert.deepEqual(models.map((m) => [m.model, m.versions, m.predictions]).sort(), [
      ['fm', [1, 2], 102],
      ['other', [1], 1],
    ]);
  });

  it('refuses bad ranges and queries', async () => {
    const call = (q: string) => viewer.call(`/api/monitoring/traffic?${q}`);
    await expectProblem(await call(range), 400, /model/);
    await expectProblem(
      await call(`model=fm&from=${at(4).toISOString()}&to=${at(0).toISOString()}`),
      400,
      /before/,
    );
    await expectProblem(await call('model=fm&from=yesterday'), 400, /ISO 8601/);
    await expectProblem(
      await call(`model=fm&from=${new Date(t0 - 30 * 86_400_000).toISOString()}&bucket=minute`),
      400,
      /choose a larger bucket/,
    );
    await expectProblem(await call(`model=fm&bucket=week`), 400, /bucket/);
    await expectProblem(await call(`model=fm&version=0`), 400, /version/);
    await expectProblem(await fetch(`${server.url}/api/monitoring/traffic?model=fm`), 401, /sign in/);
  });

  it("shows a model's latest drift checks, newest first, as the drift engine recorded them", async () => {
    const none = await viewer.get<{ intervalMs: number; checks: DriftCheck[] }>(
      '/api/monitoring/drift?model=fm',
    );
    assert.deepEqual(none, { intervalMs: ws.config.monitor.drift.intervalMs, checks: [] });
    const check = (status: DriftCheck['status'], minute: number): DriftCheckInput => ({
      at: at(minute).toISOString(),
      model: 'fm',
      version: 1,
      status,
      source: 'cli',
      windowSize: 100,
      referenceSize: 200,
      datasetVersion: null,
      alpha: 0.05,
      tests: [],
      skipped: [],
      message: status === 'drift' ? 'the predicted classes shifted' : 'nothing moved',
    });
    await recordDriftCheck(ws.db, check('ok', 1));
    await recordDriftCheck(ws.db, check('drift', 2));
    await recordDriftCheck(ws.db, { ...check('ok', 3), model: 'other' });
    const { checks } = await viewer.get<{ checks: DriftCheck[] }>('/api/monitoring/drift?model=fm');
    assert.deepEqual(
      checks.map((c) => [c.status, c.message]),
      [
        ['drift', 'the predicted classes shifted'],
        ['ok', 'nothing moved'],
      ],
    );
    assert.equal(
      (await viewer.get<{ checks: DriftCheck[] }>('/api/monitoring/drift?model=fm&limit=1')).checks.length,
      1,
    );
    await expectProblem(await viewer.call('/api/monitoring/drift'), 400, /model/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, View } from 'vega';
import { expressionInterpreter } from 'vega-interpreter';
import { compile, type TopLevelSpec } from 'vega-lite';
import { chartGrid } from '../src/charts/line-chart.js';
import { renderSvg } from '../src/charts/render.js';
import { evalCharts } from '../src/eval/report/eval-charts.js';
import {
  embeddingMapSpec,
  noveltyScoresSpec,
  permutationNullSpec,
  sharesChartSpec,
} from '../src/monitor/drift/drift-charts.js';
import { runCurveCharts } from '../src/track/run-curves.js';
import type { RunMetric } from '../src/track/run-store.js';
import { monitoringCharts } from '../src/web/monitoring/monitoring-charts.js';
import type { TrafficBucket, TrafficStats } from '../src/web/monitoring/traffic-stats.js';
import { evalReportFixture, HOSTILE_LABEL } from './helpers/eval-report-fixture.js';

/**
 * Charts are drawn with Vega's expressions interpreted (the web app's Content-Security-Policy
 * forbids compiling them), on the server too. Every kind of chart Loupe draws must come out as it
 * does with Vega's compiled expressions, the reference.
 */

/** Vega's default: expressions compiled to functions with `new Function`. */
async function compiledSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Gradient ids come from a counter shared by every view in the process. */
const sameIds = (svg: string) => svg.replace(/gradient_\d+/g, 'gradient_N');

const MINUTE = 60_000;
const FROM = Date.parse('2026-11-22T20:03:00Z');

/** Four minutes of traffic, one of them idle: what the monitoring page charts. */
const traffic: TrafficStats = {
  model: 'fm',
  version: 1,
  from: new Date(FROM).toISOString(),
  to: new Date(FROM + 4 * MINUTE).toISOString(),
  bucket: 'minute',
  total: 6,
  buckets: [3, 0, 2, 1].map((requests, i): TrafficBucket => ({
    t: new Date(FROM + i * MINUTE).toISOString(),
    requests,
    p50: requests ? 5 + i : null,
    p95: requests ? 9 + i : null,
    p99: requests ? 12 + i : null,
    meanConfidence: requests ? 0.6 + i / 20 : null,
    classes: requests ? { Coat: requests - 1, [HOSTILE_LABEL]: 1 } : {},
  })),
  classTotals: [
    { label: 'Coat', count: 3 },
    { label: HOSTILE_LABEL, count: 3 },
  ],
  versions: [{ version: 1, count: 6 }],
  confidence: Array.from({ length: 10 }, (_, i) => ({ lo: i / 10, hi: (i + 1) / 10, count: i % 3 })),
};

/** Three epochs of a run's metrics, one value missing (non-finite), as the run page charts them. */
const metrics: RunMetric[] = [
  'train.loss',
  'val.loss',
  'train.accuracy',
  'val.accuracy',
  'val.macro_f1',
].flatMap((name, k) =>
  [1, 2, 3].map((step) => ({
    run_id: 'r1',
    step,
    name,
    value: name === 'val.loss' && step === 2 ? null : (k + 1) / (step + 5),
    at: new Date(FROM + step * MINUTE).toISOString(),
  })),
);

/** A few numbers spread over [0, 1), for the drift charts' histograms. */
const spread = (n: number, shift: number) =>
  Array.from({ length: n }, (_, i) => ((i * 0.37 + shift) % 1) / 2);

const drift = {
  shares: sharesChartSpec({
    title: 'Predicted classes',
    subtitle: 'share of each side',
    categories: ['Coat', HOSTILE_LABEL],
    reference: [30, 10],
    window: [12, 18],
    xTitle: 'class',
  }),
  permutations: permutationNullSpec(spread(200, 0.1), 0.42, 0.01),
  novelty: noveltyScoresSpec({ calibration: spread(80, 0), window: spread(40, 0.3), threshold: 0.4 }, 0.03),
  map: embeddingMapSpec({
    reference: spread(30, 0).map((v, i) => [v, (i % 7) / 7]),
    window: spread(20, 0.5).map((v, i) => [v + 0.3, (i % 5) / 5]),
    explained: 0.61,
  }),
};

describe('charts drawn with interpreted expressions', () => {
  it('come out as with compiled expressions: eval report, monitoring, drift and training charts', async () => {
    const charts: Record<string, TopLevelSpec> = {
      ...evalCharts(await evalReportFixture()),
      ...monitoringCharts(traffic),
      ...drift,
      ...Object.fromEntries(runCurveCharts(metrics).map((c, i) => [`run curve ${i + 1}`, c])),
      grid: chartGrid(runCurveCharts(metrics)),
    };
    assert.equal(Object.keys(charts).length, 17);
    for (const [name, spec] of Object.entries(charts))
      assert.equal(sameIds(await renderSvg(spec)), sameIds(await compiledSvg(spec)), `the ${name} chart`);
  });

  it('put times along a time axis with an explicit domain', async () => {
    const svg = await renderSvg(monitoringCharts(traffic).traffic);
    assert.doesNotMatch(svg, /NaN/);
    for (const tick of ['20:03', '20:05', '20:07'])
      assert.ok(svg.includes(`>${tick}</text>`), `tick ${tick}`);
    assert.match(svg, /utc scale with values from 20:03 to 20:07/);
  });

  // A canary: when Vega fixes vega/vega#3632, this fails, and the correction in
  // chartInterpreter (datetime) can go.
  it('need their datetime correction: vega-interpreter alone reads datetime(t) as a year', async () => {
    const spec = monitoringCharts(traffic).traffic;
    const view = new View(parse(compile(spec).spec, undefined, { ast: true }), {
      renderer: 'none',
      expr: expressionInterpreter,
    });
    try {
      assert.match(await view.toSVG(), /values from NaN:NaN to NaN:NaN/);
    } finally {
      view.finalize();
    }
  });
});

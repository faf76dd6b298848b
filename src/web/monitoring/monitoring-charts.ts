import type { TopLevelSpec } from 'vega-lite';
import { REPORT_CHART_CONFIG, VEGA_LITE_SCHEMA } from '../../charts/chart-theme.js';
import { lineChartSpec, type LineSeries } from '../../charts/line-chart.js';
import type { TrafficStats } from './traffic-stats.js';

export type MonitoringChartName = 'traffic' | 'latency' | 'classMix' | 'confidence' | 'confidenceTrend';

/** Tick labels per bucket; the axis is in UTC, as the buckets are. */
const TIME_FORMAT = { minute: '%H:%M', hour: '%d %b %H:%M', day: '%d %b' } as const;

/**
 * lineChartSpec's chart with time along x: the same marks, legend and scale as every other
 * line chart; x holds epoch milliseconds, so only the axis type changes.
 */
function timeLineSpec(
  stats: TrafficStats,
  /** yScale replaces the line chart's (zero: false, which suits metrics moving in a narrow band). */
  o: {
    title: string;
    yTitle: string;
    series: LineSeries[];
    yScale?: { zero: true } | { domain: [number, number] };
  },
): TopLevelSpec {
  const spec = lineChartSpec({ title: o.title, xTitle: 'time (UTC)', yTitle: o.yTitle, series: o.series });
  const encoding = (spec as unknown as { encoding: Record<string, Record<string, unknown>> }).encoding;
  return {
    ...spec,
    config: REPORT_CHART_CONFIG,
    encoding: {
      ...encoding,
      x: {
        field: 'x',
        type: 'temporal',
        title: 'time (UTC)',
        scale: { type: 'utc', domain: [Date.parse(stats.from), Date.parse(stats.to)] },
        axis: { format: TIME_FORMAT[stats.bucket], labelOverlap: true },
      },
      ...(o.yScale ? { y: { ...encoding.y, scale: o.yScale } } : {}),
    },
  } as TopLevelSpec;
}

const points = (stats: TrafficStats, pick: (b: TrafficStats['buckets'][number]) => number | null) =>
  stats.buckets.flatMap((b): [number, number][] => {
    const v = pick(b);
    return v === null ? [] : [[Date.parse(b.t), v]];
  });

/** Share of each class per bucket, stacked to 100%: a shift in the mix shows as a band growing. */
function classMixSpec(stats: TrafficStats): TopLevelSpec {
  const labels = stats.classTotals.map((c) => c.label);
  const values = stats.buckets.flatMap((b) =>
    b.requests ? labels.map((label) => ({ t: b.t, label, count: b.classes[label] ?? 0 })) : [],
  );
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: { text: 'Class mix', subtitle: 'share of predictions per class' },
    width: 360,
    height: 240,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 't',
        type: 'temporal',
        timeUnit: {
          unit:
            stats.bucket === 'day'
              ? 'utcyearmonthdate'
              : stats.bucket === 'hour'
                ? 'utcyearmonthdatehours'
                : 'utcyearmonthdatehoursminutes',
        },
        title: 'time (UTC)',
        axis: { format: TIME_FORMAT[stats.bucket], labelOverlap: true },
      },
      y: {
        field: 'count',
        type: 'quantitative',
        stack: 'normalize',
        title: 'share',
        axis: { format: '.0%' },
      },
      color: {
        field: 'label',
        type: 'nominal',
        title: null,
        scale: { domain: labels, scheme: 'tableau10' },
        legend: { orient: 'bottom', direction: 'vertical', labelLimit: 300 },
      },
      tooltip: [
        { field: 't', type: 'temporal', title: 'from (UTC)', format: '%Y-%m-%d %H:%M' },
        { field: 'label', type: 'nominal', title: 'class' },
        { field: 'count', type: 'quantitative', title: 'predictions' },
      ],
    },
  } as TopLevelSpec;
}

function confidenceHistogramSpec(stats: TrafficStats): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: { text: 'Confidence', subtitle: 'top-1 probability of each prediction' },
    width: 360,
    height: 200,
    data: { values: stats.confidence },
    mark: { type: 'rect', color: '#4c78a8', stroke: 'white', strokeWidth: 1 },
    encoding: {
      x: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'confidence' },
      x2: { field: 'hi' },
      y: { field: 'count', type: 'quantitative', title: 'predictions' },
      y2: { datum: 0 },
      tooltip: [
        { field: 'lo', type: 'quantitative', title: 'from', format: '.1f' },
        { field: 'hi', type: 'quantitative', title: 'to', format: '.1f' },
        { field: 'count', type: 'quantitative', title: 'predictions' },
      ],
    },
  } as TopLevelSpec;
}

/** The monitoring page's charts, as Vega-Lite specs built from the stats they draw. */
export function monitoringCharts(stats: TrafficStats): Record<MonitoringChartName, TopLevelSpec> {
  const per = stats.bucket;
  return {
    traffic: timeLineSpec(stats, {
      title: `Requests per ${per}`,
      yTitle: 'requests',
      series: [{ name: 'requests', points: points(stats, (b) => b.requests) }],
      yScale: { zero: true },
    }),
    latency: timeLineSpec(stats, {
      title: 'Latency',
      yTitle: 'milliseconds',
      series: [
        { name: 'p50', points: points(stats, (b) => b.p50) },
        { name: 'p95', points: points(stats, (b) => b.p95) },
        { name: 'p99', points: points(stats, (b) => b.p99) },
      ],
      yScale: { zero: true },
    }),
    classMix: classMixSpec(stats),
    confidence: confidenceHistogramSpec(stats),
    confidenceTrend: timeLineSpec(stats, {
      title: 'Mean confidence',
      yTitle: 'top-1 probability',
      series: [{ name: 'mean confidence', points: points(stats, (b) => b.meanConfidence) }],
      yScale: { domain: [0, 1] },
    }),
  };
}

import type { TopLevelSpec } from 'vega-lite';
import { lineChartSpec, type LineSeries } from '../charts/line-chart.js';
import type { Run, RunMetric } from './run-store.js';

/** The curves runs are compared on: [metric, chart title, y axis title]. */
export const COMPARED_CURVES = [
  ['val.macro_f1', 'validation macro-F1', 'macro-F1'],
  ['val.accuracy', 'validation accuracy', 'accuracy'],
  ['train.loss', 'training loss', 'loss'],
] as const;

/** One logged metric of a run as a line, its non-finite (null) values left out. */
export function metricSeries(name: string, metrics: readonly RunMetric[], metric: string): LineSeries {
  return {
    name,
    points: metrics
      .filter((m) => m.name === metric && m.value !== null)
      .map((m): [number, number] => [m.step, m.value!]),
  };
}

/**
 * Runs overlaid, one chart per compared metric (those no run logged are left out); each chart
 * is one Vega-Lite spec with a line per run, named "name (id)".
 */
export function comparedCurveCharts(
  runs: readonly { run: Run; metrics: readonly RunMetric[] }[],
): TopLevelSpec[] {
  return COMPARED_CURVES.map(([metric, title, yTitle]) => ({
    title,
    yTitle,
    series: runs.map((r) => metricSeries(`${r.run.name} (${r.run.id})`, r.metrics, metric)),
  }))
    .filter((c) => c.series.some((s) => s.points.length))
    .map((c) => lineChartSpec({ ...c, xTitle: 'epoch' }));
}

/** A run's own curves from its logged metrics: loss, and accuracy and macro-F1, per epoch. */
export function runCurveCharts(metrics: readonly RunMetric[]): TopLevelSpec[] {
  const charts = [
    {
      title: 'Loss',
      yTitle: 'cross-entropy',
      series: [
        metricSeries('train (augmented)', metrics, 'train.loss'),
        metricSeries('val', metrics, 'val.loss'),
      ],
    },
    {
      title: 'Quality',
      yTitle: 'score',
      series: [
        metricSeries('train accuracy', metrics, 'train.accuracy'),
        metricSeries('val accuracy', metrics, 'val.accuracy'),
        metricSeries('val macro-F1', metrics, 'val.macro_f1'),
      ],
    },
  ];
  return charts
    .map((c) => ({ ...c, series: c.series.filter((s) => s.points.length) }))
    .filter((c) => c.series.length)
    .map((c) => lineChartSpec({ ...c, xTitle: 'epoch' }));
}

import type { TopLevelSpec } from 'vega-lite';

export interface LineSeries {
  name: string;
  points: [x: number, y: number][];
}

export interface LineChartOptions {
  title: string;
  series: LineSeries[];
  xTitle: string;
  yTitle: string;
  width?: number;
  height?: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * A Vega-Lite line chart with one coloured line per series. It is plain data, so the same spec
 * renders to PNG on the server (render.ts), in HTML reports and in the web app.
 */
export function lineChartSpec(o: LineChartOptions): TopLevelSpec {
  const values = o.series.flatMap((s) => s.points.map(([x, y]) => ({ series: s.name, x, y })));
  // Epochs are whole numbers; without this the axis would label 1.5.
  const wholeX = values.every((v) => Number.isInteger(v.x));
  return {
    $schema: SCHEMA,
    title: o.title,
    width: o.width ?? 360,
    height: o.height ?? 240,
    data: { values },
    // Points as well as lines, so a series of one value still shows.
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: o.xTitle,
        ...(wholeX ? { axis: { format: 'd', tickMinStep: 1 } } : {}),
      },
      // Metrics move within a narrow band; a zero baseline would flatten every curve.
      y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        sort: o.series.map((s) => s.name),
        legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 },
      },
    },
  };
}

/** Charts side by side (wrapping after `columns`), sharing one legend for series of the same name. */
export function chartGrid(charts: TopLevelSpec[], columns = charts.length): TopLevelSpec {
  // Vega-Lite's types keep top-level specs out of concat for their top-level-only properties
  // (config, autosize, ...); without $schema, a chart from lineChartSpec has none of them.
  return {
    $schema: SCHEMA,
    columns,
    concat: charts.map(({ $schema: _schema, ...chart }) => chart),
    resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } },
  } as TopLevelSpec;
}

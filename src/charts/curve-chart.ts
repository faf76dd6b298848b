import type { TopLevelSpec } from 'vega-lite';
import { REPORT_CHART_CONFIG, VEGA_LITE_SCHEMA } from './chart-theme.js';

export interface Curve {
  name: string;
  /** In drawing order: a curve may go back on itself or step straight down at one x. */
  points: [x: number, y: number][];
}

export interface CurveChartOptions {
  title: string;
  subtitle?: string;
  curves: Curve[];
  xTitle: string;
  yTitle: string;
  /**
   * Curves drawn in colour and named in the legend; the others are thin grey lines behind them.
   * Every curve when not given. More than ten repeat colours.
   */
  highlight?: string[];
  /** A dashed line from (0, 0) to (1, 1): the chance line of a ROC curve. */
  diagonal?: boolean;
  /** 'step-before' holds each y back to the previous x, as average precision sums a PR curve. */
  interpolate?: 'linear' | 'step-before';
  size?: number;
}

/**
 * Curves over the unit square (precision-recall, ROC): both axes fixed to [0, 1] so charts of
 * different models compare at a glance, and the points joined in the order given rather than
 * sorted by x, which would scramble a vertical drop.
 */
export function curveChartSpec(o: CurveChartOptions): TopLevelSpec {
  const highlighted = new Set(o.highlight ?? o.curves.map((c) => c.name));
  const rows = (curves: Curve[]) =>
    curves.flatMap((c) => c.points.map(([x, y], i) => ({ curve: c.name, i, x, y })));
  const position = {
    x: { field: 'x', type: 'quantitative' as const, title: o.xTitle, scale: { domain: [0, 1] } },
    y: { field: 'y', type: 'quantitative' as const, title: o.yTitle, scale: { domain: [0, 1] } },
    order: { field: 'i', type: 'quantitative' as const },
  };
  const interpolate = o.interpolate ?? 'linear';
  const background = o.curves.filter((c) => !highlighted.has(c.name));
  const foreground = o.curves.filter((c) => highlighted.has(c.name));
  const layers = [
    ...(o.diagonal
      ? [
          {
            data: {
              values: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
            mark: { type: 'line' as const, color: '#9ca3af', strokeDash: [4, 4], strokeWidth: 1 },
            encoding: { x: position.x, y: position.y },
          },
        ]
      : []),
    ...(background.length
      ? [
          {
            data: { values: rows(background) },
            mark: { type: 'line' as const, interpolate, color: '#9ca3af', strokeWidth: 1, opacity: 0.45 },
            encoding: { ...position, detail: { field: 'curve', type: 'nominal' as const } },
          },
        ]
      : []),
    {
      data: { values: rows(foreground) },
      mark: { type: 'line' as const, interpolate, strokeWidth: 2 },
      encoding: {
        ...position,
        color: {
          field: 'curve',
          type: 'nominal' as const,
          title: null,
          // An explicit domain keeps the curves' order without an expression built from their names.
          scale: { domain: foreground.map((c) => c.name), scheme: 'tableau10' },
          // Below the plot, so the chart stays narrow enough for a phone without shrinking its text.
          legend: {
            orient: 'bottom' as const,
            direction: 'vertical' as const,
            labelLimit: 300,
            symbolType: 'stroke',
            symbolStrokeWidth: 3,
          },
        },
        tooltip: [
          { field: 'curve', type: 'nominal' as const, title: 'class' },
          { field: 'x', type: 'quantitative' as const, title: o.xTitle, format: '.3f' },
          { field: 'y', type: 'quantitative' as const, title: o.yTitle, format: '.3f' },
        ],
      },
    },
  ];
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    width: o.size ?? 320,
    height: o.size ?? 320,
    layer: layers,
  };
}

import type { TopLevelSpec } from 'vega-lite';
import { REPORT_CHART_CONFIG, VEGA_LITE_SCHEMA } from '../../charts/chart-theme.js';
import type { EmbeddingMap } from './embedding-map.js';

/** The two sides every drift chart compares, in legend order, with their colours. */
const SIDES = { domain: ['reference', 'window'], range: ['#6b7280', '#d97706'] };
const sideColour = {
  field: 'side',
  type: 'nominal' as const,
  title: null,
  scale: SIDES,
  legend: { orient: 'bottom' as const },
};

export interface SharesOptions {
  title: string;
  subtitle: string;
  categories: string[];
  reference: number[];
  window: number[];
  xTitle: string;
}

/**
 * Each category's share of the reference beside its share of the window, as paired bars: shares
 * rather than counts, because the two sides differ in size.
 */
export function sharesChartSpec(o: SharesOptions): TopLevelSpec {
  const total = (v: number[]) => v.reduce((a, b) => a + b, 0) || 1;
  const values = (['reference', 'window'] as const).flatMap((side) => {
    const counts = o[side];
    return o.categories.map((category, i) => ({
      side,
      category,
      share: counts[i]! / total(counts),
      n: counts[i]!,
    }));
  });
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: { text: o.title, subtitle: o.subtitle },
    width: Math.max(320, o.categories.length * (o.categories.length > 12 ? 18 : 34)),
    height: 220,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: {
        field: 'category',
        type: 'nominal',
        title: o.xTitle,
        sort: o.categories,
        axis: { labelAngle: -40 },
      },
      xOffset: { field: 'side', type: 'nominal', sort: SIDES.domain },
      y: { field: 'share', type: 'quantitative', title: 'share', axis: { format: '.0%' } },
      color: sideColour,
    },
  };
}

/** The MMD² of each permutation as a histogram, and a line at the window's own value. */
export function permutationNullSpec(
  nullStats: ArrayLike<number>,
  observed: number,
  pValue: number,
): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: {
      text: 'MMD² against its permutation null',
      subtitle: `${nullStats.length} permutations; the window: ${observed.toExponential(2)}, p = ${pValue.toPrecision(2)}`,
    },
    width: 360,
    height: 220,
    layer: [
      {
        data: { values: Array.from(nullStats, (v) => ({ v })) },
        mark: { type: 'bar', color: SIDES.range[0], opacity: 0.8 },
        encoding: {
          x: {
            field: 'v',
            type: 'quantitative',
            bin: { maxbins: 40, extent: extent(nullStats, observed) },
            title: 'MMD²',
          },
          y: { aggregate: 'count', type: 'quantitative', title: 'permutations' },
        },
      },
      {
        data: { values: [{ v: observed }] },
        mark: { type: 'rule', color: SIDES.range[1], strokeWidth: 2 },
        encoding: { x: { field: 'v', type: 'quantitative' } },
      },
    ],
  };
}

/**
 * Nearest-neighbour distances of held-out reference rows and of window rows as overlaid
 * histograms of shares (the sides differ in size), and a line at the outlier threshold.
 */
export function noveltyScoresSpec(
  scores: { calibration: ArrayLike<number>; window: ArrayLike<number>; threshold: number },
  pValue: number,
): TopLevelSpec {
  const above = (v: ArrayLike<number>) =>
    Array.from(v).filter((s) => s > scores.threshold).length / Math.max(1, v.length);
  const values = [
    ...Array.from(scores.calibration, (v) => ({ side: 'reference', v })),
    ...Array.from(scores.window, (v) => ({ side: 'window', v })),
  ];
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: {
      text: 'Distance to the nearest reference embedding',
      subtitle: `beyond the line: reference ${(above(scores.calibration) * 100).toFixed(1)}%, window ${(above(scores.window) * 100).toFixed(1)}%, p = ${pValue.toPrecision(2)}`,
    },
    width: 360,
    height: 220,
    layer: [
      {
        data: { values },
        transform: [
          { joinaggregate: [{ op: 'count', as: 'rows' }], groupby: ['side'] },
          { calculate: '1 / datum.rows', as: 'weight' },
        ],
        mark: { type: 'bar', opacity: 0.6 },
        encoding: {
          x: {
            field: 'v',
            type: 'quantitative',
            bin: {
              maxbins: 40,
              extent: extent(
                values.map((d) => d.v),
                scores.threshold,
              ),
            },
            title: 'distance (unit-length embeddings)',
          },
          y: {
            aggregate: 'sum',
            field: 'weight',
            type: 'quantitative',
            stack: null,
            title: 'share',
            axis: { format: '.0%' },
          },
          color: sideColour,
        },
      },
      {
        data: { values: [{ v: scores.threshold }] },
        mark: { type: 'rule', color: '#111827', strokeDash: [4, 3], strokeWidth: 1.5 },
        encoding: { x: { field: 'v', type: 'quantitative' } },
      },
    ],
  };
}

/** Bins spanning both the null and the observed value, so a far-off window still shows. */
function extent(values: ArrayLike<number>, also: number): [number, number] {
  let low = also;
  let high = also;
  for (let i = 0; i < values.length; i++) {
    low = Math.min(low, values[i]!);
    high = Math.max(high, values[i]!);
  }
  return high > low ? [low, high] : [low - 1e-6, high + 1e-6];
}

/** Reference and window embeddings on the reference's first two principal axes. */
export function embeddingMapSpec(map: EmbeddingMap): TopLevelSpec {
  const values = [
    ...map.reference.map(([x, y]) => ({ side: 'reference', x, y })),
    ...map.window.map(([x, y]) => ({ side: 'window', x, y })),
  ];
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: {
      text: 'Embeddings, projected',
      subtitle: `the reference's first two principal axes, ${(map.explained * 100).toFixed(0)}% of its variance`,
    },
    width: 360,
    height: 300,
    data: { values },
    mark: { type: 'circle', size: 14, opacity: 0.55 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'axis 1', scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: 'axis 2', scale: { zero: false } },
      color: sideColour,
      // The window drawn last, over the reference it is compared with.
      order: { field: 'side', sort: 'ascending' },
    },
  };
}

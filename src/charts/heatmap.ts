import type { TopLevelSpec } from 'vega-lite';
import { REPORT_CHART_CONFIG, VEGA_LITE_SCHEMA } from './chart-theme.js';

export interface HeatmapOptions {
  title: string;
  subtitle?: string;
  /** Labels down the y axis, top to bottom. */
  rows: string[];
  /** Labels along the x axis, left to right. */
  columns: string[];
  /** values[row][column]. */
  values: number[][];
  xTitle: string;
  yTitle: string;
  legendTitle: string;
  /** d3-format of the numbers written in the cells and on the legend. */
  format: string;
  /** Top of the colour scale; the largest value when not given. */
  max?: number;
}

/** Above this many rows or columns cells are too small to hold a number. */
const MAX_LABELLED_CELLS = 20;

/**
 * A grid of coloured cells, one per (row, column), with each value written in its cell while
 * the grid is small enough to read it. Rows and columns keep the given order, so a confusion
 * matrix reads with its diagonal from top left to bottom right.
 */
export function heatmapSpec(o: HeatmapOptions): TopLevelSpec {
  const n = Math.max(o.rows.length, o.columns.length, 1);
  // Cells shrink as classes are added, so 50 classes still fit a page; below 12 px a label
  // no longer fits next to its row.
  const step = n <= 6 ? 48 : n <= 12 ? 36 : n <= MAX_LABELLED_CELLS ? 28 : Math.max(12, Math.floor(600 / n));
  const values = o.rows.flatMap((row, r) =>
    o.columns.map((column, c) => ({ row, column, value: o.values[r]?.[c] ?? 0 })),
  );
  const max = o.max ?? Math.max(1, ...values.map((v) => v.value));
  const labelFontSize = n <= MAX_LABELLED_CELLS ? 11 : Math.max(8, Math.min(10, step - 3));
  const longest = Math.max(0, ...o.columns.map((c) => c.length));
  // Horizontal column labels only when they fit their cell; a rough 6.5 px per character.
  const labelAngle = longest * 6.5 <= step ? 0 : n > MAX_LABELLED_CELLS ? -90 : -45;
  const cells = {
    mark: {
      type: 'rect' as const,
      stroke: 'white',
      strokeWidth: n > MAX_LABELLED_CELLS ? 0.5 : 1,
      // A screen reader reading out thousands of cells helps no one, and their labels would make
      // up half of an inline SVG's bytes.
      aria: n <= MAX_LABELLED_CELLS,
    },
    encoding: {
      color: {
        field: 'value',
        type: 'quantitative' as const,
        title: o.legendTitle,
        // Square root, so that a handful of confusions next to a diagonal of hundreds still shows;
        // from near-white, so that empty cells read as empty.
        scale: {
          type: 'sqrt',
          domain: [0, max],
          range: ['#f7fafd', '#c6dbef', '#6baed6', '#2171b5', '#08306b'],
        },
        legend: { format: o.format, gradientLength: Math.min(240, Math.max(120, step * n)) },
      },
      tooltip: [
        { field: 'row', type: 'nominal' as const, title: o.yTitle },
        { field: 'column', type: 'nominal' as const, title: o.xTitle },
        { field: 'value', type: 'quantitative' as const, title: o.legendTitle, format: o.format },
      ],
    },
  };
  const numbers = {
    mark: { type: 'text' as const, fontSize: n <= 6 ? 13 : n <= 12 ? 12 : 10 },
    encoding: {
      text: { field: 'value', type: 'quantitative' as const, format: o.format },
      // Light text where the fill turns dark (past ~55% along the square-root scale); zeros muted
      // so the non-zero cells stand out.
      color: {
        condition: [
          { test: 'datum.value === 0', value: '#9ca3af' },
          { test: `datum.value > ${max * 0.3}`, value: 'white' },
        ],
        value: '#111827',
      },
    },
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    width: { step },
    height: { step },
    data: { values },
    encoding: {
      x: {
        field: 'column',
        type: 'nominal',
        title: o.xTitle,
        // An explicit domain keeps the given order (and lists a column with no data).
        scale: { domain: o.columns },
        axis: { labelAngle, labelLimit: 140, labelFontSize, ticks: false, domain: false },
      },
      y: {
        field: 'row',
        type: 'nominal',
        title: o.yTitle,
        scale: { domain: o.rows },
        axis: { labelLimit: 140, labelFontSize, ticks: false, domain: false },
      },
    },
    layer: n > MAX_LABELLED_CELLS ? [cells] : [cells, numbers],
  };
}

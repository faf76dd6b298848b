import type { TopLevelSpec } from 'vega-lite';
import type { ReliabilityBin } from '../eval/evaluation.js';
import { REPORT_CHART_CONFIG, VEGA_LITE_SCHEMA } from './chart-theme.js';

export interface ReliabilityDiagramOptions {
  title: string;
  subtitle?: string;
  bins: ReliabilityBin[];
  width?: number;
}

const ACCURACY = 'accuracy';
const GAP = 'gap to mean confidence';
const DIAGONAL = 'perfect calibration';

/**
 * A reliability diagram as Guo et al. (2017) draw it: per confidence bin, a bar of accuracy,
 * the gap between it and the bin's mean confidence in red (the bin's term of the ECE, before
 * weighting by its share of items), and the diagonal a calibrated model would follow. Below it
 * the histogram of items per bin with the overall accuracy and mean confidence marked, since a
 * large gap in a nearly empty bin matters little.
 */
export function reliabilityDiagramSpec(o: ReliabilityDiagramOptions): TopLevelSpec {
  const width = o.width ?? 320;
  // Empty bins have no accuracy or confidence (NaN, which JSON cannot carry either).
  const filled = o.bins.filter((b) => b.count > 0);
  const total = filled.reduce((a, b) => a + b.count, 0);
  const mean = (f: (b: ReliabilityBin) => number) =>
    total ? filled.reduce((a, b) => a + b.count * f(b), 0) / total : 0;
  const x = { field: 'lo', type: 'quantitative' as const, scale: { domain: [0, 1] }, title: null };
  const kind = {
    field: 'kind',
    type: 'nominal' as const,
    title: null,
    scale: { domain: [ACCURACY, GAP, DIAGONAL], range: ['#4c78a8', '#e45756', '#6b7280'] },
    legend: { orient: 'top-left' as const, labelLimit: 220, fillColor: 'rgba(255,255,255,0.9)', padding: 6 },
  };
  const bars = filled.map((b) => ({
    lo: b.lo,
    hi: b.hi,
    count: b.count,
    accuracy: b.accuracy,
    confidence: b.confidence,
  }));
  const diagram = {
    width,
    height: width,
    layer: [
      {
        data: { values: bars.map((b) => ({ ...b, kind: ACCURACY })) },
        mark: { type: 'rect' as const, stroke: 'white', strokeWidth: 1 },
        encoding: {
          x,
          x2: { field: 'hi' },
          y: {
            field: 'accuracy',
            type: 'quantitative' as const,
            scale: { domain: [0, 1] },
            title: 'accuracy',
          },
          y2: { datum: 0 },
          color: kind,
          tooltip: [
            { field: 'lo', type: 'quantitative' as const, title: 'from', format: '.2f' },
            { field: 'hi', type: 'quantitative' as const, title: 'to', format: '.2f' },
            { field: 'accuracy', type: 'quantitative' as const, format: '.3f' },
            { field: 'confidence', type: 'quantitative' as const, title: 'mean confidence', format: '.3f' },
            { field: 'count', type: 'quantitative' as const, title: 'items' },
          ],
        },
      },
      {
        data: { values: bars.map((b) => ({ ...b, kind: GAP })) },
        mark: { type: 'rect' as const, opacity: 0.35, stroke: '#e45756', strokeWidth: 1 },
        encoding: {
          x,
          x2: { field: 'hi' },
          y: { field: 'accuracy', type: 'quantitative' as const },
          y2: { field: 'confidence' },
          color: kind,
        },
      },
      {
        data: {
          values: [
            { lo: 0, accuracy: 0, kind: DIAGONAL },
            { lo: 1, accuracy: 1, kind: DIAGONAL },
          ],
        },
        mark: { type: 'line' as const, strokeDash: [5, 4], strokeWidth: 1.5 },
        encoding: { x, y: { field: 'accuracy', type: 'quantitative' as const }, color: kind },
      },
    ],
  };
  // The overall figures as coloured rules, named in the corner rather than beside the rules,
  // where the two labels would collide whenever accuracy and confidence are close.
  const histogramX = { ...x, title: 'confidence (top-1 probability)' };
  const overall = (value: number, label: string, color: string, row: number) => ({
    data: { values: [{ lo: value, label: `${label} ${value.toFixed(2)}` }] },
    layer: [
      {
        mark: { type: 'rule' as const, color, strokeWidth: 1.5, strokeDash: [4, 3] },
        encoding: { x: histogramX },
      },
      {
        mark: {
          type: 'text' as const,
          color,
          align: 'left' as const,
          baseline: 'top' as const,
          x: 4,
          y: 4 + row * 14,
        },
        encoding: { text: { field: 'label', type: 'nominal' as const } },
      },
    ],
  });
  const histogram = {
    width,
    height: 120,
    layer: [
      {
        data: { values: bars },
        mark: { type: 'rect' as const, color: '#9ca3af', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: histogramX,
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative' as const, title: 'items' },
          y2: { datum: 0 },
        },
      },
      ...(total
        ? [
            overall(
              mean((b) => b.accuracy),
              'overall accuracy',
              '#2f5f8f',
              0,
            ),
            overall(
              mean((b) => b.confidence),
              'mean confidence',
              '#c0392b',
              1,
            ),
          ]
        : []),
    ],
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    config: REPORT_CHART_CONFIG,
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    vconcat: [diagram, histogram],
    spacing: 14,
  };
}

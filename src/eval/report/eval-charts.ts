import type { TopLevelSpec } from 'vega-lite';
import { curveChartSpec, type Curve } from '../../charts/curve-chart.js';
import { heatmapSpec } from '../../charts/heatmap.js';
import { reliabilityDiagramSpec } from '../../charts/reliability-diagram.js';
import type { EvalReport } from '../evaluation.js';

/** The report's charts; each name is also the stem of its PNG file. */
export type EvalChartName =
  'confusion_matrix' | 'confusion_matrix_normalized' | 'pr_curves' | 'roc_curves' | 'reliability';

/** Beyond this many classes only the weakest are coloured: more colours stop being told apart. */
const MAX_COLOURED_CURVES = 10;

const score = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/**
 * Every class's curve, and the ones to colour: all of them for a few classes, otherwise the
 * weakest by area (undefined areas first, as they need looking at), in class order.
 */
function curves(
  items: { label: string; area: number; points: [number, number][] }[],
  areaName: string,
): { curves: Curve[]; highlight: string[]; note?: string } {
  const named = items.map((c) => ({ ...c, name: `${c.label} (${areaName} ${score(c.area)})` }));
  const all = named.map((c) => ({ name: c.name, points: c.points }));
  if (named.length <= MAX_COLOURED_CURVES) return { curves: all, highlight: named.map((c) => c.name) };
  const weakest = new Set(
    [...named]
      .sort((a, b) => (Number.isFinite(a.area) ? a.area : -1) - (Number.isFinite(b.area) ? b.area : -1))
      .slice(0, MAX_COLOURED_CURVES)
      .map((c) => c.name),
  );
  return {
    curves: all,
    highlight: named.filter((c) => weakest.has(c.name)).map((c) => c.name),
    note: `the ${MAX_COLOURED_CURVES} lowest-${areaName} of ${named.length} classes in colour, the rest in grey`,
  };
}

/** The charts of an evaluation, as Vega-Lite specs: plain data, for PNGs, the HTML report and the web app. */
export function evalCharts(report: EvalReport): Record<EvalChartName, TopLevelSpec> {
  const m = report.metrics;
  const confusion = {
    rows: m.classes,
    columns: m.classes,
    xTitle: 'predicted label',
    yTitle: 'true label',
  };
  const pr = curves(
    m.pr.map((c) => ({ label: c.label, area: c.ap, points: c.points.map((p) => [p.recall, p.precision]) })),
    'AP',
  );
  const roc = curves(
    m.roc.map((c) => ({ label: c.label, area: c.auc, points: c.points.map((p) => [p.fpr, p.tpr]) })),
    'AUC',
  );
  return {
    confusion_matrix: heatmapSpec({
      ...confusion,
      title: 'Confusion matrix',
      subtitle: `items per true and predicted label, n = ${m.n}`,
      values: m.confusion,
      legendTitle: 'items',
      format: 'd',
    }),
    confusion_matrix_normalized: heatmapSpec({
      ...confusion,
      title: 'Confusion matrix, normalised',
      subtitle: 'each true label’s row sums to 100%: the diagonal is recall',
      values: m.confusionNormalized,
      legendTitle: 'share of row',
      format: '.0%',
      max: 1,
    }),
    pr_curves: curveChartSpec({
      title: `Precision–recall, mAP ${score(m.mapMacro)}`,
      ...(pr.note ? { subtitle: pr.note } : {}),
      curves: pr.curves,
      highlight: pr.highlight,
      xTitle: 'recall',
      yTitle: 'precision',
      interpolate: 'step-before',
    }),
    roc_curves: curveChartSpec({
      title: `ROC, macro AUC ${score(m.rocAucMacro)}`,
      ...(roc.note ? { subtitle: roc.note } : {}),
      curves: roc.curves,
      highlight: roc.highlight,
      xTitle: 'false positive rate',
      yTitle: 'true positive rate',
      diagonal: true,
    }),
    reliability: reliabilityDiagramSpec({
      title: `Reliability, ECE ${m.ece.toFixed(3)}`,
      subtitle: report.calibration
        ? `after temperature scaling (T = ${report.calibration.temperature.toFixed(2)}); ECE ${report.calibration.eceBefore.toFixed(3)} before`
        : 'top-1 probability against accuracy',
      bins: m.reliability,
    }),
  };
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { renderPng, renderSvg } from '../../charts/render.js';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { EvalReport } from '../evaluation.js';
import { evalCharts, type EvalChartName } from './eval-charts.js';
import { renderReportHtml } from './render-report-html.js';

/** metrics.json: the figures a CI gate or a dashboard reads, one level deep and snake_case. */
export interface EvalMetricsSummary {
  model: string;
  dataset_version: string;
  split: string;
  n: number;
  accuracy: number;
  /** Top-k accuracy keyed by k. */
  top_k: Record<string, number>;
  macro_precision: number;
  macro_recall: number;
  macro_f1: number;
  weighted_precision: number;
  weighted_recall: number;
  weighted_f1: number;
  /** null where undefined (NaN): no class with positives, or none with both positives and negatives. */
  map: number | null;
  roc_auc: number | null;
  ece: number;
  nll: number;
  brier: number;
  /** null when latency or calibration was not measured, so every key is always there. */
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  temperature: number | null;
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function metricsSummary(report: EvalReport): EvalMetricsSummary {
  const m = report.metrics;
  return {
    model: report.model,
    dataset_version: report.datasetVersion,
    split: report.split,
    n: m.n,
    accuracy: m.accuracy,
    top_k: m.topK,
    macro_precision: m.macro.precision,
    macro_recall: m.macro.recall,
    macro_f1: m.macro.f1,
    weighted_precision: m.weighted.precision,
    weighted_recall: m.weighted.recall,
    weighted_f1: m.weighted.f1,
    map: finite(m.mapMacro),
    roc_auc: finite(m.rocAucMacro),
    ece: m.ece,
    nll: m.nll,
    brier: m.brier,
    latency_p50_ms: report.latency?.p50 ?? null,
    latency_p95_ms: report.latency?.p95 ?? null,
    temperature: report.calibration?.temperature ?? null,
    // fromEntries, not assignment, so a class named "__proto__" is an ordinary key.
    per_class: Object.fromEntries(
      m.perClass.map((c) => [
        c.label,
        { precision: c.precision, recall: c.recall, f1: c.f1, support: c.support },
      ]),
    ),
  };
}

// JSON.stringify writes NaN (an undefined AUC, an empty bin's accuracy) as null.
const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);

/**
 * Writes the evaluation into `dir`: eval_report.json (all of it), metrics.json (the summary),
 * a PNG per chart and report.html, each file atomically. Returns the paths by file name.
 */
export async function writeEvalReport(
  report: EvalReport,
  dir: string,
): Promise<{ files: Record<string, string> }> {
  // A system error (EACCES, ENOTDIR, EROFS...) means a bad destination, not a bug: say which
  // and why. Anything else, such as a chart that fails to render, is left as it is.
  const cannotWrite = (e: unknown, file: string) =>
    typeof (e as NodeJS.ErrnoException | undefined)?.code !== 'string'
      ? e
      : fsError(e, file, {
          otherwise: (err) =>
            new LoupeError(
              'INVALID_ARGUMENT',
              `cannot write the evaluation report to ${dir}: ${err.message}`,
              { dir, file },
              { cause: err },
            ),
        });
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw cannotWrite(e, dir);
  }
  const files: Record<string, string> = {};
  const write = async (name: string, op: (file: string) => Promise<void>) => {
    const file = path.join(dir, name);
    try {
      await op(file);
    } catch (e) {
      throw cannotWrite(e, file);
    }
    files[name] = file;
  };
  await write('eval_report.json', (f) => writeFileAtomic(f, json(report)));
  await write('metrics.json', (f) => writeFileAtomic(f, json(metricsSummary(report))));
  const specs = evalCharts(report);
  const names = Object.keys(specs) as EvalChartName[];
  const svgs = Object.fromEntries(
    await Promise.all(names.map(async (name) => [name, await renderSvg(specs[name])] as const)),
  ) as Record<EvalChartName, string>;
  for (const name of names) await write(`${name}.png`, (f) => renderPng(specs[name], f));
  await write('report.html', (f) => writeFileAtomic(f, Buffer.from(renderReportHtml(report, svgs))));
  return { files };
}

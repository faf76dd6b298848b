import type { TopLevelSpec } from 'vega-lite';
import type { StoredPredictions } from '../../eval/evaluate-classifier.js';
import type { EvalReport, ItemFinding } from '../../eval/evaluation.js';
import { evalCharts, type EvalChartName } from '../../eval/report/eval-charts.js';
import { metricsSummary, type EvalMetricsSummary } from '../../eval/report/write-eval-report.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { readModelFile } from '../../registry/model-files.js';
import { EVAL_REPORT_FILE, PREDICTIONS_FILE } from '../../registry/register-model.js';
import type { ModelVersion } from '../../registry/registry-store.js';
import type { Workspace } from '../../workspace/workspace.js';

const json = <T>(bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as T;

function requireEvaluation(version: ModelVersion): void {
  if (!version.files[EVAL_REPORT_FILE] || !version.files[PREDICTIONS_FILE])
    throw new LoupeError(
      'NOT_FOUND',
      `${version.ref} was registered without an evaluation (no dataset to evaluate on); evaluate it with \`loupe eval ${version.ref}\``,
    );
}

/** The evaluation stored with a version at registration, checked against its checksum. */
export async function storedReport(ws: Workspace, version: ModelVersion): Promise<EvalReport> {
  requireEvaluation(version);
  return json<EvalReport>(await readModelFile(ws.blobs, version, EVAL_REPORT_FILE));
}

/** The per-item predictions of that evaluation, which the confusion cells are made of. */
export async function storedPredictions(ws: Workspace, version: ModelVersion): Promise<StoredPredictions> {
  requireEvaluation(version);
  return json<StoredPredictions>(await readModelFile(ws.blobs, version, PREDICTIONS_FILE));
}

/** A finding without its picture: the page fetches pictures per cell, not all at once. */
type Finding = Omit<ItemFinding, 'thumbnail'>;

export interface VersionReport {
  summary: EvalMetricsSummary;
  classes: string[];
  /** confusion[true][predicted], in `classes` order, so a click on a cell names a pair of classes. */
  confusion: number[][];
  calibration: EvalReport['calibration'] | null;
  latency: EvalReport['latency'] | null;
  createdAt: string;
  hardestMistakes: Finding[];
  labelIssues: { source: string; items: Finding[] };
  /** The report's charts, the same Vega-Lite specs as its HTML and PNG files. */
  charts: Record<EvalChartName, TopLevelSpec>;
}

const withoutThumbnail = ({ thumbnail: _thumbnail, ...rest }: ItemFinding): Finding => rest;

export async function versionReport(ws: Workspace, version: ModelVersion): Promise<VersionReport> {
  const report = await storedReport(ws, version);
  return {
    summary: metricsSummary(report),
    classes: report.metrics.classes,
    confusion: report.metrics.confusion,
    calibration: report.calibration ?? null,
    latency: report.latency ?? null,
    createdAt: report.createdAt,
    hardestMistakes: report.hardestMistakes.map(withoutThumbnail),
    labelIssues: { source: report.labelIssues.source, items: report.labelIssues.items.map(withoutThumbnail) },
    charts: evalCharts(report),
  };
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { renderSvg } from '../../charts/render.js';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { driftCharts, type DriftChartName, type DriftReport } from './drift-report.js';
import { renderDriftReportHtml } from './drift-report-html.js';

export const DRIFT_REPORT_JSON = 'drift_report.json';
export const DRIFT_REPORT_HTML = 'drift_report.html';

/** Writes drift_report.json and drift_report.html into `dir` (created if need be), each atomically. */
export async function writeDriftReport(
  report: DriftReport,
  dir: string,
): Promise<{ json: string; html: string }> {
  const specs = driftCharts(report);
  const svgs: Partial<Record<DriftChartName, string>> = {};
  for (const [name, spec] of Object.entries(specs)) svgs[name as DriftChartName] = await renderSvg(spec);
  const files = {
    json: path.join(dir, DRIFT_REPORT_JSON),
    html: path.join(dir, DRIFT_REPORT_HTML),
  };
  let at = dir;
  try {
    await mkdir(dir, { recursive: true });
    at = files.json;
    // JSON.stringify writes a NaN (an undefined mean) as null.
    await writeFileAtomic(files.json, Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
    at = files.html;
    await writeFileAtomic(files.html, Buffer.from(renderDriftReportHtml(report, svgs)));
  } catch (e) {
    throw fsError(e, at, {
      otherwise: (err) =>
        new LoupeError(
          'INVALID_ARGUMENT',
          `cannot write the drift report to ${dir}: ${err.message}`,
          { dir },
          { cause: err },
        ),
    });
  }
  return files;
}

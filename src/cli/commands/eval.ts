import type { Command } from 'commander';
import path from 'node:path';
import { resolveVersion } from '../../data/versions/version-store.js';
import { evaluateModel } from '../../eval/evaluate-model.js';
import type { EvalReport } from '../../eval/evaluation.js';
import { withStages } from '../stage-progress.js';
import { writeEvalReport } from '../../eval/report/write-eval-report.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { renderTable } from '../../util/render-table.js';
import { resolveModelTarget } from '../model-target.js';

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/** The headline of an evaluation for a terminal: overall figures, then the per-class table. */
export function printEvaluation(log: (line: string) => void, r: EvalReport): void {
  const m = r.metrics;
  const top = Object.entries(m.topK)
    .filter(([k]) => k !== '1')
    .map(([k, v]) => `top-${k} ${f3(v)}`)
    .join('  ');
  log(`${r.model} on ${r.datasetVersion.slice(0, 12)} ${r.split} (${m.n.toLocaleString('en')} items)`);
  log(`accuracy ${f3(m.accuracy)}  ${top}  macro-F1 ${f3(m.macro.f1)}  weighted-F1 ${f3(m.weighted.f1)}`);
  log(
    `mAP ${f3(m.mapMacro)}  ROC-AUC ${f3(m.rocAucMacro)}  ECE ${f3(m.ece)}  NLL ${f3(m.nll)}  Brier ${f3(m.brier)}`,
  );
  if (r.calibration)
    log(
      `calibration: temperature ${r.calibration.temperature.toFixed(3)} (fitted on ${r.calibration.fittedOn.n} ${r.calibration.fittedOn.split} items); ` +
        `ECE ${f3(r.calibration.eceBefore)} → ${f3(m.ece)}, NLL ${f3(r.calibration.nllBefore)} → ${f3(m.nll)}`,
    );
  if (r.latency)
    log(
      `latency per image (batch 1, decode+preprocess+infer): p50 ${r.latency.p50.toFixed(1)} ms, p95 ${r.latency.p95.toFixed(1)} ms`,
    );
  log('');
  log(
    renderTable(
      ['class', 'precision', 'recall', 'F1', 'support'],
      m.perClass.map((c) => [c.label, f3(c.precision), f3(c.recall), f3(c.f1), c.support]),
    ),
  );
  log('');
  log(
    `${r.hardestMistakes.length} hardest mistakes and ${r.labelIssues.items.length} likely label errors (${r.labelIssues.source}) are in the report`,
  );
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .argument('<model>', 'a registered model (name, name@3, name:alias) or a finished run id')
    .description(
      'Evaluate a model: metrics, calibration, latency, hardest mistakes, likely label errors, plots and an HTML report',
    )
    .option('--data <ref>', "dataset name or version id (default: the model's own dataset version)")
    .option('--split <split>', 'split to evaluate on (default: test, else val)')
    .option(
      '--oof <run>',
      'label issues from this cross-validation run (default: the latest on the data, if any)',
    )
    .option('--out <dir>', 'where to write the report (default: .loupe/reports/eval-…)')
    .addHelpText(
      'after',
      `
Examples:
  loupe eval fashion                 # the champion (else the latest version) on its test split
  loupe eval fashion@3 --data fashion --split val
  loupe eval 01jf3k2m --out reports/run-eval   # a run, before it is registered
  loupe train --cv kfold:5 && loupe eval fashion   # label issues over the whole dataset, out of fold`,
    )
    .action(
      async (
        model: string,
        flags: { data?: string; split?: string; oof?: string; out?: string },
        command: Command,
      ) => {
        await withStages(command, async (ws, signal, progress) => {
          const target = await resolveModelTarget(ws, model, { signal, onProgress: progress });
          const dataRef = flags.data ?? target.datasetVersion;
          if (!dataRef)
            throw new LoupeError(
              'INVALID_ARGUMENT',
              `${target.label} has no dataset of its own; name one with --data`,
            );
          const data = await resolveVersion(ws.db, dataRef);
          const { report } = await evaluateModel(ws, target.onnx, data, {
            model: target.label,
            ...(flags.split ? { split: flags.split } : {}),
            ...(target.calibratedOn ? { calibratedOn: target.calibratedOn } : {}),
            ...(flags.oof ? { outOfFoldRun: flags.oof } : {}),
            onProgress: progress,
            signal,
          });
          const slug = `${target.label.replace(/[^A-Za-z0-9._-]+/g, '-')}-${data.id.slice(0, 8)}-${report.split}`;
          const dir = path.resolve(flags.out ?? path.join(ws.stateDir, 'reports', `eval-${slug}`));
          await writeEvalReport(report, dir);
          const log = (line: string) => console.log(line);
          printEvaluation(log, report);
          log(
            `report: ${path.join(dir, 'report.html')} (metrics.json, eval_report.json and PNG plots beside it)`,
          );
        });
      },
    );
}

import type { Command } from 'commander';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import type { RetrainEvent, RetrainReport } from '../../monitor/retrain/retrain-report.js';
import { retrain } from '../../monitor/retrain/retrain.js';
import { interruptible } from '../interrupt.js';
import { stageProgress, type StageUpdate } from '../stage-progress.js';
import { trainReporter } from '../train-reporter.js';
import { withWorkspace } from '../workspace-options.js';
import { printGate } from './promote.js';

interface RetrainFlags {
  minFeedback?: string;
  ifDrift?: boolean;
  tune?: boolean;
  alias: string;
  dryRun?: boolean;
  json?: boolean;
}

const seconds = (s: number) =>
  s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;

/** A retrain's events as the terminal shows them: a line per trigger and step, training as `loupe train` prints it. */
export function retrainPrinter(
  log: (line: string) => void,
  progress: StageUpdate,
): (e: RetrainEvent) => void {
  const train = trainReporter(log, '         ');
  return (e) => {
    switch (e.type) {
      case 'trigger':
        for (const reason of e.decision.reasons)
          log(`${e.decision.fired ? 'trigger ' : 'skip    '} ${reason}`);
        break;
      case 'step-start':
        log(`${e.step.padEnd(8)} ${e.detail}…`);
        break;
      case 'step': {
        const r = e.report;
        const mark = r.status === 'done' ? '' : `${r.status}: `;
        log(`${r.step.padEnd(8)} ${mark}${r.detail} (${seconds(r.seconds)})`);
        if (r.step === 'gate' && 'gate' in r && r.gate) printGate(log, r.gate);
        break;
      }
      case 'train':
        train(e.event);
        break;
      case 'trial':
        log(
          `         trial ${e.trial.number}: ${e.trial.state}${e.trial.value !== undefined ? `, val macro-F1 ${e.trial.value.toFixed(4)}` : ''}${e.trial.runId ? ` (run ${e.trial.runId})` : ''}`,
        );
        break;
      case 'progress':
        progress(e.stage, e.done, e.total);
        break;
    }
  };
}

/** The last lines: what happened and where the report is. */
export function printRetrainResult(log: (line: string) => void, r: RetrainReport): void {
  const alias = `${r.model}:${r.alias}`;
  const line = {
    promoted: `promoted: ${alias} → ${r.after} (was ${r.before ?? 'unset'})`,
    kept: `kept: ${alias} stays ${r.before ?? 'unset'}; the candidate failed ${r.failedRules?.map((f) => f.rule).join('; ') ?? 'its gate'}`,
    unchanged: `unchanged: nothing new to train on; ${alias} is ${r.after ?? 'unset'}`,
    skipped: `skipped: no trigger fired; ${alias} is ${r.before ?? 'unset'}`,
    planned: `dry run: nothing was changed`,
    failed: `failed: ${alias} stays ${r.before ?? 'unset'}`,
  }[r.outcome];
  log(`result   ${line}${r.retrainId ? ` (retrain ${r.retrainId}, ${seconds(r.seconds)})` : ''}`);
  if (r.tookOverLockFrom)
    log(
      `         took over the lock of pid ${r.tookOverLockFrom.pid} on ${r.tookOverLockFrom.host}, which had died`,
    );
  if (r.plan) {
    const p = r.plan;
    log(
      `plan     dataset ${p.dataset.dataset} @ ${p.dataset.base.slice(0, 12)} + ${p.dataset.decisions} decisions` +
        (p.dataset.base !== p.dataset.referenceVersion
          ? ' (newer than what the reference was trained on)'
          : ''),
    );
    log(
      `         train with the settings of ${p.train.configFrom}${p.train.tune ? ', searching (tune:)' : ''}` +
        (p.train.reuses ? `; run ${p.train.reuses} would be reused` : ''),
    );
    log(`         gate against ${p.gate.against ?? 'no version yet'}: ${p.gate.rules.join('; ')}`);
  }
  if (r.reportFile) log(`report   ${path.relative(process.cwd(), r.reportFile)}`);
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new LoupeError('INVALID_ARGUMENT', `--min-feedback takes a whole number ≥ 0, got "${text}"`);
  return n;
}

export function registerRetrain(program: Command): void {
  program
    .command('retrain')
    .argument('<model>', 'the registered model to retrain')
    .description(
      'Retrain a model on its dataset plus the corrections people made, and promote the result if it passes the gate',
    )
    .option('--min-feedback <n>', 'only when at least n decisions (accepts and corrections) are pending')
    .option(
      '--if-drift',
      "only when the model's latest drift check found drift (with --min-feedback: either)",
    )
    .option(
      '--tune',
      'run the hyperparameter search (tune: in loupe.yaml) instead of the champion’s settings',
    )
    .option('--alias <alias>', 'the alias to judge against and promote to', 'champion')
    .option('--dry-run', 'say what would happen; change nothing')
    .option('--json', 'print the report as JSON (progress goes to stderr)')
    .addHelpText(
      'after',
      `
Exit status: 0 promoted, unchanged or skipped; 5 the gate failed (the champion stays);
2 another retrain holds the workspace's lock; 130 interrupted.

Examples:
  loupe retrain fashion                            # by hand: corrections in, train, gate, promote
  loupe retrain fashion --min-feedback 50          # only once 50 decisions are waiting
  loupe retrain fashion --if-drift --min-feedback 50 --json   # from a scheduled job
  loupe retrain fashion --dry-run`,
    )
    .action(async (model: string, flags: RetrainFlags, command: Command) => {
      const log = (line: string) => (flags.json ? console.error(line) : console.log(line));
      const minFeedback = flags.minFeedback === undefined ? undefined : count(flags.minFeedback);
      // withStages, but its stage lines go where this command's log goes: stdout is the JSON's.
      const report = await withWorkspace(command, (ws) =>
        interruptible(async (signal) => {
          const progress = stageProgress(log);
          try {
            return await retrain(ws, {
              model,
              alias: flags.alias,
              ...(minFeedback !== undefined ? { minFeedback } : {}),
              ...(flags.ifDrift ? { ifDrift: true } : {}),
              ...(flags.tune ? { tune: true } : {}),
              ...(flags.dryRun ? { dryRun: true } : {}),
              startedBy: process.env.LOUPE_RETRAIN_STARTED_BY || 'hand',
              signal,
              onEvent: retrainPrinter(log, progress.update),
            });
          } finally {
            progress.stop();
          }
        }),
      );
      if (flags.json) console.log(JSON.stringify(report));
      else printRetrainResult(log, report);
      if (report.outcome === 'kept')
        throw new LoupeError(
          'GATE_FAILED',
          `the candidate failed its gate; ${model}:${flags.alias} stays ${report.before ?? 'unset'}`,
        );
    });
}

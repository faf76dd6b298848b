import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import { tuneConfigSchema } from '../../train/tune/tune-config.js';
import { tuneModel } from '../../train/tune-run.js';
import { interruptible } from '../interrupt.js';
import { progressBar, type ProgressBar } from '../progress.js';
import { withWorkspace } from '../workspace-options.js';
import { trainConfigWithFlags } from './train.js';

interface TuneFlags {
  trials?: string;
  seconds?: string;
  parallel?: string;
  sampler?: string;
  mode?: string;
  data?: string;
  set: string[];
}

const shown = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : String(v));

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description('Search hyper-parameters (tune.space in loupe.yaml); every trial is a tracked run')
    .option('--trials <n>', 'trials to run (default: tune.trials)')
    .option('--seconds <s>', 'time budget for the whole study')
    .option('--parallel <n>', 'trials at once, each in its own process (default: one per core)')
    .option('--sampler <name>', 'tpe | random')
    .option('--mode <mode>', 'training mode of the trials (default: train.mode)')
    .option('--data <ref>', 'dataset name or version id')
    .option(
      '--set <key=value>',
      'a train setting for every trial (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .addHelpText(
      'after',
      `
Examples:
  loupe tune --trials 20                       # TPE over tune.space, ASHA pruning, one trial per core
  loupe tune --seconds 600 --sampler random
  loupe runs ls --study <id>                   # the trials, best first in 'loupe runs show'`,
    )
    .action(async (flags: TuneFlags, command: Command) => {
      const number = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new LoupeError('INVALID_ARGUMENT', `--${name} takes a positive number, got "${v}"`);
        return n;
      };
      await withWorkspace(command, (ws) =>
        interruptible(async (signal) => {
          const config = trainConfigWithFlags(ws.config.train, { ...flags });
          const trials = number(flags.trials, 'trials');
          const seconds = number(flags.seconds, 'seconds');
          const parallel = number(flags.parallel, 'parallel');
          const parsed = tuneConfigSchema.safeParse({
            ...ws.config.tune,
            ...(trials ? { trials } : {}),
            ...(seconds ? { seconds } : {}),
            ...(parallel ? { parallel } : {}),
            ...(flags.sampler ? { sampler: flags.sampler } : {}),
          });
          if (!parsed.success) {
            const issue = parsed.error.issues[0]!;
            throw new LoupeError('INVALID_ARGUMENT', `tune.${issue.path.join('.')}: ${issue.message}`);
          }
          const tune = parsed.data;
          let bar: ProgressBar | undefined;
          const started = performance.now();
          const outcome = await tuneModel(ws, {
            config,
            tune,
            signal,
            onPrepare: (stage, done, total) => {
              bar ??= progressBar(total, 'images', ` | ${stage}`);
              bar.update(done);
              if (done === total) {
                bar.stop();
                bar = undefined;
              }
            },
            onTrial: (t) =>
              console.log(
                `trial ${String(t.number).padStart(3)}  ${t.state.padEnd(8)}  ${t.value === undefined ? '   -  ' : `${(t.value * 100).toFixed(1).padStart(5)}%`}  ${t.seconds.toFixed(1).padStart(6)} s  ${t.runId ?? ''}  ${Object.entries(
                  t.params,
                )
                  .map(([k, v]) => `${k}=${shown(v)}`)
                  .join(' ')}${t.error ? `  (${t.error})` : ''}`,
              ),
          });
          const r = outcome.result;
          const count = (state: string) => r.trials.filter((t) => t.state === state).length;
          console.log(
            `study ${outcome.studyId}: ${r.trials.length} trials (${count('complete')} complete, ${count('pruned')} pruned, ${count('failed')} failed) in ${((performance.now() - started) / 1000).toFixed(1)} s, stopped by ${r.stoppedBy}`,
          );
          if (r.best)
            console.log(
              `best: trial ${r.best.number}, val macro-F1 ${(r.best.value! * 100).toFixed(1)}%, run ${outcome.bestRunId} (${Object.entries(
                r.best.params,
              )
                .map(([k, v]) => `${k}=${shown(v)}`)
                .join(' ')})`,
            );
        }),
      );
    });
}

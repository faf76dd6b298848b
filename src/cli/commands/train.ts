import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { deepMerge } from '../../config/load-config.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { trainConfigSchema, type TrainConfig } from '../../train/config/train-config.js';
import { crossValidate, parseCv } from '../../train/cross-validate.js';
import { resumeTraining, trainModel } from '../../train/train-run.js';
import { interruptible } from '../interrupt.js';
import { pct, printOutcome, trainReporter } from '../train-reporter.js';
import { withWorkspace } from '../workspace-options.js';

export interface TrainFlags {
  mode?: string;
  data?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  seed?: string;
  backbone?: string;
  tap?: string;
  set: string[];
  resume?: string;
  cv?: string;
}

/** `--set probe.head.hidden=256`: a train setting by its path, the value read as YAML. */
function setting(text: string): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq < 1) throw new LoupeError('INVALID_ARGUMENT', `--set takes key=value, got "${text}"`);
  const keys = text.slice(0, eq).split('.');
  let value: unknown = parseDocument(text.slice(eq + 1)).toJS();
  for (const k of keys.reverse()) value = { [k]: value };
  return value as Record<string, unknown>;
}

/** loupe.yaml's train section with the command line's overrides on top, validated. */
export function trainConfigWithFlags(base: TrainConfig, f: TrainFlags): TrainConfig {
  const number = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new LoupeError('INVALID_ARGUMENT', `--${name} takes a number, got "${v}"`);
    return n;
  };
  const flags: Record<string, unknown> = {
    ...(f.mode ? { mode: f.mode } : {}),
    ...(f.data ? { data: f.data } : {}),
    ...(f.epochs ? { epochs: number(f.epochs, 'epochs') } : {}),
    ...(f.batchSize ? { batchSize: number(f.batchSize, 'batch-size') } : {}),
    ...(f.lr ? { optimizer: { lr: number(f.lr, 'lr') } } : {}),
    ...(f.seed ? { seed: number(f.seed, 'seed') } : {}),
    ...(f.backbone || f.tap
      ? { probe: { ...(f.backbone ? { backbone: f.backbone } : {}), ...(f.tap ? { tap: f.tap } : {}) } }
      : {}),
    ...(f.backbone ? { finetune: { backbone: f.backbone } } : {}),
  };
  const merged = [flags, ...f.set.map(setting)].reduce(
    (a, b) => deepMerge(a, b),
    base as Record<string, unknown>,
  );
  const parsed = trainConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LoupeError('INVALID_CONFIG', `train.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Train a classifier on a dataset version; every run is tracked (see `loupe runs`)')
    .option('--mode <mode>', 'probe | finetune | scratch | audio (default: train.mode, auto)')
    .option('--data <ref>', 'dataset name or version id (default: the only dataset)')
    .option('--epochs <n>', 'epochs (default: the mode’s)')
    .option('--batch-size <n>', 'batch size')
    .option('--lr <rate>', 'learning rate')
    .option('--seed <n>', 'seed for initial weights, shuffling and augmentation')
    .option('--backbone <ref>', 'probe/finetune backbone: mobilenet_v2, a .onnx file, or hf:owner/name')
    .option('--tap <name>', 'probe features: the backbone tap or ONNX output')
    .option(
      '--set <key=value>',
      'any train setting, e.g. --set probe.head.hidden=256 (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--cv <scheme>', 'cross-validate: kfold:K or group (leave one group out)')
    .option('--resume <run>', 'continue a killed or failed run from its last checkpoint')
    .addHelpText(
      'after',
      `
Examples:
  loupe train                                  # probe mode on the only dataset, settings from loupe.yaml
  loupe train --mode scratch --epochs 20       # a CNN from scratch
  loupe train --backbone hf:Xenova/dinov2-small --set probe.views=2
  loupe train --cv kfold:5                     # five runs and their mean ± std
  loupe train --resume 01jf3k2m                # after Ctrl-C or a crash`,
    )
    .action(async (flags: TrainFlags, command: Command) => {
      const log = (line: string) => console.log(line);
      await withWorkspace(command, (ws) =>
        interruptible(async (signal) => {
          const resumeHint = (id: string) =>
            `run ${id} stopped; continue it with: loupe train --resume ${id}`;
          if (flags.resume) {
            const outcome = await resumeTraining(ws, flags.resume, { onEvent: trainReporter(log), signal });
            printOutcome(log, ws, outcome);
            return;
          }
          const config = trainConfigWithFlags(ws.config.train, flags);
          if (flags.cv) {
            const cv = await crossValidate(ws, {
              config,
              scheme: parseCv(flags.cv),
              onEvent: (fold, e) => trainReporter(log, `[fold ${fold}] `)(e),
              signal,
            });
            for (const key of ['val.macro_f1', 'val.accuracy', 'test.accuracy', 'test.macro_f1'])
              if (cv.mean[key] !== undefined)
                log(`${key.padEnd(14)} ${pct(cv.mean[key])} ± ${(cv.std[key]! * 100).toFixed(1)}`);
            log(`cross-validation run ${cv.runId}: ${cv.folds.length} folds (loupe runs ls)`);
            return;
          }
          let runId: string | undefined;
          const report = trainReporter(log);
          try {
            const outcome = await trainModel(ws, {
              config,
              onEvent: (e) => {
                if (e.type === 'start') runId = e.runId;
                report(e);
              },
              signal,
            });
            printOutcome(log, ws, outcome);
          } catch (e) {
            if (runId && signal.aborted) console.error(resumeHint(runId));
            throw e;
          }
        }),
      );
    });
}

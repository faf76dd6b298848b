import type { Command } from 'commander';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { deepMerge } from '../../config/load-config.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { trainConfigSchema, type TrainConfig } from '../../train/config/train-config.js';
import { crossValidate, parseCv } from '../../train/cross-validate.js';
import { resumeTraining, trainModel, type TrainEvent, type TrainOutcome } from '../../train/train-run.js';
import { interruptible } from '../interrupt.js';
import { progressBar, type ProgressBar } from '../progress.js';
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

const pct = (v: number | undefined) => (v === undefined ? '   -  ' : `${(v * 100).toFixed(1).padStart(5)}%`);

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

/**
 * Prints a run as it goes: a progress bar per epoch (loss, images/s, ETA) in a terminal, and one
 * line per epoch everywhere, so logs in CI read like the terminal.
 */
function reporter(log: (line: string) => void, prefix = '') {
  let bar: ProgressBar | undefined;
  let barKey = '';
  return (e: TrainEvent) => {
    switch (e.type) {
      case 'start':
        log(
          `${prefix}run ${e.runId}: ${e.mode}, ${e.classes.length} classes, ${e.counts.train} train / ${e.counts.val} val / ${e.counts.test} test, ${e.parameters.toLocaleString('en')} parameters${e.resumedAt !== undefined ? `, resuming after epoch ${e.resumedAt}` : ''}`,
        );
        break;
      case 'prepare': {
        const key = `prepare ${e.stage}`;
        if (barKey !== key) {
          bar?.stop();
          bar = progressBar(e.total, 'images', ` | ${e.stage}`);
          barKey = key;
        }
        bar!.update(e.done);
        if (e.done === e.total) {
          bar!.stop();
          bar = undefined;
        }
        break;
      }
      case 'phase':
        log(`${prefix}phase ${e.name}: ${e.epochs} epochs`);
        break;
      case 'progress': {
        const key = `epoch ${e.phase} ${e.progress.epoch}`;
        if (barKey !== key) {
          bar?.stop();
          bar = progressBar(
            e.progress.batches,
            'batches',
            ` | epoch ${e.progress.epoch}/${e.progress.epochs} | loss {loss} | {ips} img/s`,
          );
          barKey = key;
        }
        bar!.update(e.progress.batch, {
          loss: e.progress.loss.toFixed(4),
          ips: Math.round(e.progress.imagesPerSecond).toLocaleString('en'),
        });
        break;
      }
      case 'epoch':
        bar?.stop();
        bar = undefined;
        barKey = '';
        log(
          `${prefix}epoch ${String(e.epoch).padStart(3)}/${e.epochs}  loss ${e.result.trainLoss.toFixed(4)}  val acc ${pct(e.result.val?.accuracy)}  val F1 ${pct(e.result.val?.macroF1)}  ${Math.round(e.result.imagesPerSecond).toLocaleString('en')} img/s  ${e.result.seconds.toFixed(1)} s${e.best ? '  *' : ''}`,
        );
        break;
      case 'early-stop':
        log(`${prefix}stopping early: no better validation macro-F1 since epoch ${e.bestEpoch}`);
        break;
    }
  };
}

function printOutcome(log: (line: string) => void, ws: { stateDir: string }, o: TrainOutcome): void {
  const s = o.summary;
  log(
    `run ${o.runId} ${o.status}: best epoch ${s.best_epoch}, val F1 ${pct(s['val.macro_f1'])}, test accuracy ${pct(s['test.accuracy'])}, test F1 ${pct(s['test.macro_f1'])}`,
  );
  log(
    `model, ONNX, curves and metadata.json in ${path.relative(process.cwd(), path.join(ws.stateDir, 'runs', o.runId)) || '.'}`,
  );
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
            const outcome = await resumeTraining(ws, flags.resume, { onEvent: reporter(log), signal });
            printOutcome(log, ws, outcome);
            return;
          }
          const config = trainConfigWithFlags(ws.config.train, flags);
          if (flags.cv) {
            const cv = await crossValidate(ws, {
              config,
              scheme: parseCv(flags.cv),
              onEvent: (fold, e) => reporter(log, `[fold ${fold}] `)(e),
              signal,
            });
            for (const key of ['val.macro_f1', 'val.accuracy', 'test.accuracy', 'test.macro_f1'])
              if (cv.mean[key] !== undefined)
                log(`${key.padEnd(14)} ${pct(cv.mean[key])} ± ${(cv.std[key]! * 100).toFixed(1)}`);
            log(`cross-validation run ${cv.runId}: ${cv.folds.length} folds (loupe runs ls)`);
            return;
          }
          let runId: string | undefined;
          const report = reporter(log);
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

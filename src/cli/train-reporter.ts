import path from 'node:path';
import type { TrainEvent, TrainOutcome } from '../train/train-run.js';
import { progressBar, type ProgressBar } from './progress.js';

export const pct = (v: number | undefined) =>
  v === undefined ? '   -  ' : `${(v * 100).toFixed(1).padStart(5)}%`;

/**
 * Prints a run as it goes: a progress bar per epoch (loss, images/s, ETA) in a terminal, and one
 * line per epoch everywhere, so logs in CI read like the terminal.
 */
export function trainReporter(log: (line: string) => void, prefix = '') {
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

export function printOutcome(log: (line: string) => void, ws: { stateDir: string }, o: TrainOutcome): void {
  const s = o.summary;
  log(
    `run ${o.runId} ${o.status}: best epoch ${s.best_epoch}, val F1 ${pct(s['val.macro_f1'])}, test accuracy ${pct(s['test.accuracy'])}, test F1 ${pct(s['test.macro_f1'])}`,
  );
  log(
    `model, ONNX, curves and metadata.json in ${path.relative(process.cwd(), path.join(ws.stateDir, 'runs', o.runId)) || '.'}`,
  );
}

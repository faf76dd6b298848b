import type { Command } from 'commander';
import type { Workspace } from '../workspace/workspace.js';
import { interruptible } from './interrupt.js';
import { progressBar, type ProgressBar } from './progress.js';
import { withWorkspace } from './workspace-options.js';

const UNITS: Record<string, string> = { calibrate: 'items', evaluate: 'items', embed: 'images' };

/**
 * Progress of multi-stage work (calibrate, evaluate, …) as one terminal bar per stage, with rate
 * and ETA; off a terminal, one line when each stage starts so logs show where time went.
 */
export function stageProgress(log: (line: string) => void): {
  update: (stage: string, done: number, total: number) => void;
  stop: () => void;
} {
  let stage: string | undefined;
  let bar: ProgressBar | undefined;
  return {
    update(next, done, total) {
      if (next !== stage) {
        bar?.stop();
        stage = next;
        if (!process.stderr.isTTY) log(`${next}: ${total.toLocaleString('en')} ${UNITS[next] ?? 'items'}`);
        bar = progressBar(total, UNITS[next] ?? 'items', ` | ${next}`);
      }
      bar?.update(done);
      if (done >= total) {
        bar?.stop();
        bar = undefined;
      }
    },
    stop: () => bar?.stop(),
  };
}

export type StageUpdate = (stage: string, done: number, total: number) => void;

/** A command's long work: in its workspace, stoppable with Ctrl-C, its stages shown as progress bars. */
export function withStages<T>(
  command: Command,
  work: (ws: Workspace, signal: AbortSignal, progress: StageUpdate) => Promise<T>,
): Promise<T> {
  return withWorkspace(command, (ws) =>
    interruptible(async (signal) => {
      const progress = stageProgress((line) => console.log(line));
      try {
        return await work(ws, signal, progress.update);
      } finally {
        progress.stop();
      }
    }),
  );
}

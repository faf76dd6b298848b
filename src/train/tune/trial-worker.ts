/**
 * One tuning trial in its own process (forked by tune-run.ts with an IPC channel). Trials run in
 * processes rather than in the study's own because the engine runs one model's work at a time
 * per process; separate processes let trials use the cores side by side, and a trial that
 * crashes takes only itself down.
 */
import { isLoupeError, LoupeError } from '../../errors/loupe-error.js';
import { openWorkspace } from '../../workspace/workspace.js';
import { trainModel } from '../train-run.js';
import type { FromTrial, ToTrial } from './trial-messages.js';

const send = (m: FromTrial) =>
  new Promise<void>((resolve) => process.send!(m, undefined, {}, () => resolve()));

const verdicts = new Map<number, (v: 'continue' | 'prune') => void>();
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort(new LoupeError('INTERRUPTED', 'the study stopped this trial')));
process.on('disconnect', () => controller.abort(new LoupeError('INTERRUPTED', 'the study went away')));

process.on('message', (m: ToTrial) => {
  if (m.type === 'verdict') verdicts.get(m.epoch)?.(m.verdict);
  else void run(m);
});

async function run(m: Extract<ToTrial, { type: 'start' }>): Promise<void> {
  const ws = await openWorkspace({ workspace: m.workspace, env: {} });
  try {
    const outcome = await trainModel(ws, {
      config: m.config,
      kind: 'trial',
      studyId: m.studyId,
      name: `trial ${m.trial}`,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'start') void send({ type: 'started', runId: e.runId });
      },
      onEpochValue: (epoch, value) =>
        new Promise((resolve) => {
          verdicts.set(epoch, resolve);
          void send({ type: 'epoch', epoch, value });
        }),
    });
    await send({ type: 'done', runId: outcome.runId, status: outcome.status, summary: outcome.summary });
  } catch (e) {
    await send({
      type: 'failed',
      code: isLoupeError(e) ? e.code : 'UNEXPECTED',
      message: e instanceof Error ? e.message : String(e),
    });
  } finally {
    await ws.close();
    process.disconnect();
  }
}

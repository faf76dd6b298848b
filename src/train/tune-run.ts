import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { deepMerge } from '../config/load-config.js';
import { isErrorCode, LoupeError } from '../errors/loupe-error.js';
import { createStudy, finishStudy, setStudyBest } from '../track/study-store.js';
import type { Workspace } from '../workspace/workspace.js';
import { trainConfigSchema, type TrainConfig } from './config/train-config.js';
import { resolveTrainSettings } from './config/mode-defaults.js';
import { AshaPruner, NopPruner } from './tune/asha.js';
import { randomSampler, tpeSampler } from './tune/samplers.js';
import type { Params } from './tune/search-space.js';
import { runStudy, type StudyResult, type TrialContext, type TrialResult } from './tune/study.js';
import type { FromTrial, ToTrial } from './tune/trial-messages.js';
import type { TuneConfig } from './tune/tune-config.js';
import { warmTrainingCaches } from './warm-caches.js';

export interface TuneOptions {
  config: TrainConfig;
  tune: TuneConfig;
  name?: string;
  onTrial?: (t: TrialResult & { runId?: string }) => void;
  onPrepare?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface TuneOutcome {
  studyId: string;
  result: StudyResult;
  /** The run of each trial that got as far as starting one. */
  runs: Map<number, string>;
  bestRunId?: string;
}

/** A trial's train config: the base with each sampled value set at its path. */
export function trialConfig(base: TrainConfig, params: Params): TrainConfig {
  const over = Object.entries(params).map(
    ([key, value]) =>
      key
        .split('.')
        .reverse()
        .reduce<unknown>((v, k) => ({ [k]: v }), value) as Record<string, unknown>,
  );
  const merged = over.reduce((a, b) => deepMerge(a, b), base as Record<string, unknown>);
  const parsed = trainConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LoupeError(
      'INVALID_CONFIG',
      `tune.space gives train.${issue.path.join('.')} a value it cannot take: ${issue.message}`,
    );
  }
  return parsed.data;
}

/** The trial worker next to this module: compiled JavaScript, or the TypeScript source under tsx. */
function workerFile(): string {
  const js = fileURLToPath(new URL('./tune/trial-worker.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

/** Runs one trial in a child process, relaying its epochs to the pruner. */
function runTrial(
  ws: Workspace,
  studyId: string,
  config: TrainConfig,
  trial: TrialContext,
  threads: number,
  runs: Map<number, string>,
) {
  return new Promise<number>((resolve, reject) => {
    const child = fork(workerFile(), [], {
      execArgv: process.execArgv,
      env: { ...process.env, LOUPE_THREADS: String(threads) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let last = Number.NaN;
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const stop = () => child.kill('SIGTERM');
    trial.signal.addEventListener('abort', stop, { once: true });
    child.on('message', (m: FromTrial) => {
      switch (m.type) {
        case 'started':
          runs.set(trial.number, m.runId);
          break;
        case 'epoch': {
          last = m.value;
          trial.report(m.epoch, m.value);
          const reply: ToTrial = {
            type: 'verdict',
            epoch: m.epoch,
            verdict: trial.shouldPrune() ? 'prune' : 'continue',
          };
          child.send(reply);
          break;
        }
        case 'done':
          settle(() => resolve(m.status === 'pruned' ? last : (m.summary['val.macro_f1'] ?? last)));
          break;
        case 'failed':
          settle(() => reject(new LoupeError(isErrorCode(m.code) ? m.code : 'INTERNAL', m.message)));
          break;
      }
    });
    child.on('exit', (code, signal) => {
      trial.signal.removeEventListener('abort', stop);
      settle(() =>
        reject(
          new LoupeError(
            'INTERNAL',
            `the trial process ended (${signal ?? `exit ${code}`}) before reporting`,
          ),
        ),
      );
    });
    const start: ToTrial = { type: 'start', workspace: ws.root, config, studyId, trial: trial.number };
    child.send(start);
  });
}

/**
 * A hyper-parameter study: trials sampled from tune.space (TPE or random), each a tracked
 * training run in its own process, pruned by ASHA on validation macro-F1 per epoch, within a
 * trial and time budget. Probe embeddings are computed once before the first trial, so every
 * trial reads them from the cache. The best trial's run is recorded as the study's best.
 */
export async function tuneModel(ws: Workspace, o: TuneOptions): Promise<TuneOutcome> {
  const parallel = o.tune.parallel === 'auto' ? availableParallelism() : o.tune.parallel;
  const threads = Math.max(1, Math.floor(availableParallelism() / parallel));
  await warmTrainingCaches(ws, o.config, { onPrepare: o.onPrepare, signal: o.signal });
  const mode = o.config.mode === 'auto' ? 'probe' : o.config.mode;
  const epochs = resolveTrainSettings(o.config, mode).epochs;
  const study = await createStudy(ws.db, {
    name: o.name ?? `tune ${mode}`,
    direction: 'maximize',
    metric: o.tune.metric,
    space: o.tune.space,
    sampler: o.tune.sampler,
  });
  const runs = new Map<number, string>();
  try {
    const result = await runStudy({
      space: o.tune.space,
      direction: 'maximize',
      sampler:
        o.tune.sampler === 'tpe'
          ? tpeSampler({ direction: 'maximize', startupTrials: o.tune.startupTrials })
          : randomSampler(),
      pruner:
        o.tune.pruner.type === 'asha' && epochs > o.tune.pruner.minEpochs
          ? new AshaPruner({
              minResource: o.tune.pruner.minEpochs,
              maxResource: epochs,
              reductionFactor: o.tune.pruner.reductionFactor,
              direction: 'maximize',
            })
          : new NopPruner(),
      budget: { trials: o.tune.trials, ...(o.tune.seconds ? { seconds: o.tune.seconds } : {}) },
      parallel,
      seed: o.config.seed,
      objective: (trial) => runTrial(ws, study.id, trialConfig(o.config, trial.params), trial, threads, runs),
      onTrial: (t) => o.onTrial?.({ ...t, ...(runs.has(t.number) ? { runId: runs.get(t.number)! } : {}) }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const bestRunId = result.best ? runs.get(result.best.number) : undefined;
    if (bestRunId) await setStudyBest(ws.db, study.id, bestRunId);
    await finishStudy(ws.db, study.id, result.stoppedBy === 'interrupted' ? 'killed' : 'finished');
    return { studyId: study.id, result, runs, ...(bestRunId ? { bestRunId } : {}) };
  } catch (e) {
    await finishStudy(ws.db, study.id, 'failed');
    throw e;
  }
}

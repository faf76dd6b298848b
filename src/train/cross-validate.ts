import { LoupeError } from '../errors/loupe-error.js';
import { assignFolds, type FoldScheme } from '../data/splits/assign-folds.js';
import { readVersionItems } from '../data/versions/version-store.js';
import { foldsOf } from './data/training-items.js';
import { startRun } from '../track/run-store.js';
import type { Workspace } from '../workspace/workspace.js';
import type { TrainConfig } from './config/train-config.js';
import { mergeOutOfFold, readOutOfFold, writeOutOfFold } from './out-of-fold.js';
import { trainingVersion, trainModel, type TrainEvent, type TrainOutcome } from './train-run.js';

/** `kfold:5` or `group` (leave one group out), as given to --cv. */
export function parseCv(text: string): FoldScheme {
  if (text === 'group') return { type: 'group' };
  const m = /^kfold(?::(\d+))?$/.exec(text);
  if (m) return { type: 'kfold', k: m[1] ? Number(m[1]) : 5 };
  throw new LoupeError('INVALID_ARGUMENT', `--cv takes kfold:K or group, got "${text}"`);
}

export interface CrossValidation {
  runId: string;
  folds: TrainOutcome[];
  /** Each summary metric's mean and standard deviation over the folds. */
  mean: Record<string, number>;
  std: Record<string, number>;
}

/**
 * Trains one tracked run per fold (each fold validates once; test stays untouched) under a
 * parent run that records the mean and standard deviation of every fold metric.
 */
export async function crossValidate(
  ws: Workspace,
  o: {
    config: TrainConfig;
    scheme: FoldScheme;
    onEvent?: (fold: number, e: TrainEvent) => void;
    signal?: AbortSignal;
  },
): Promise<CrossValidation> {
  const version = await trainingVersion(ws, o.config.data);
  const folds = foldsOf(assignFolds(await readVersionItems(ws, version), o.scheme, o.config.seed));
  if (folds.length < 2)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `cross-validation needs at least two folds; the data gives ${folds.length}`,
    );
  const parent = await startRun(ws, {
    kind: 'cv',
    name: `cv ${o.scheme.type === 'group' ? 'leave-one-group-out' : `${o.scheme.k}-fold`}`,
    mode: o.config.mode === 'auto' ? 'probe' : o.config.mode,
    config: { ...o.config, cv: o.scheme },
    datasetVersion: version.id,
    seed: o.config.seed,
  });
  try {
    const outcomes: TrainOutcome[] = [];
    for (const fold of folds) {
      outcomes.push(
        await trainModel(ws, {
          config: { ...o.config, data: version.id },
          kind: 'cv-fold',
          parentId: parent.id,
          name: `fold ${fold}`,
          cv: { scheme: o.scheme, fold },
          ...(o.onEvent ? { onEvent: (e: TrainEvent) => o.onEvent!(fold, e) } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        }),
      );
    }
    const keys = [...new Set(outcomes.flatMap((f) => Object.keys(f.summary)))];
    const mean: Record<string, number> = {};
    const std: Record<string, number> = {};
    for (const key of keys) {
      const values = outcomes.map((f) => f.summary[key]).filter((v): v is number => v !== undefined);
      const m = values.reduce((a, b) => a + b, 0) / values.length;
      mean[key] = m;
      std[key] = Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, values.length - 1));
    }
    const parts = await Promise.all(outcomes.map((f) => readOutOfFold(ws.db, ws.root, f.runId)));
    if (parts.every((p) => p !== undefined)) await writeOutOfFold(parent, mergeOutOfFold(parts));
    await parent.finish({
      folds: outcomes.length,
      ...Object.fromEntries(
        keys.flatMap((k) => [
          [`${k}.mean`, mean[k]!],
          [`${k}.std`, std[k]!],
        ]),
      ),
    });
    return { runId: parent.id, folds: outcomes, mean, std };
  } catch (e) {
    await parent.fail(e);
    throw e;
  }
}

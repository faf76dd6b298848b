import { formatRef } from '../../registry/model-ref.js';
import { getVersion } from '../../registry/registry-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { DriftConfig } from './drift-config.js';
import { driftReference, type DriftReference } from './drift-reference.js';
import {
  recordDriftCheck,
  type DriftCheck,
  type DriftCheckInput,
  type DriftCheckSource,
} from './drift-store.js';
import { runDriftTests, type DriftTestResult, type NoveltyScores } from './drift-tests.js';
import { driftWindow, latestLoggedVersion, type DriftWindow } from './drift-window.js';

export interface DriftCheckOptions {
  model: string;
  /** Default: the version of the model's latest logged prediction (the one served now). */
  version?: number;
  /** Predictions in the window; default config.window. */
  window?: number;
  since?: Date | string;
  config: DriftConfig;
  source: DriftCheckSource;
  signal?: AbortSignal;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface DriftCheckOutcome {
  /** As recorded in the workspace. */
  check: DriftCheck;
  /** Absent when there was not enough data to get that far. */
  reference?: DriftReference;
  window?: DriftWindow;
  /** The MMD test's permutation statistics, when it ran. */
  mmdNull: Float64Array | null;
  /** The novelty test's scores, when it ran. */
  novelty: NoveltyScores | null;
}

/** Below this many held-out items a reference says too little to judge a window by. */
export const MIN_REFERENCE = 20;

const p3 = (p: number) => (p < 0.001 ? p.toExponential(1) : String(Number(p.toPrecision(3))));

/** One line for people: which tests alarmed, or how far the closest one was from its level. */
export function verdictMessage(tests: DriftTestResult[]): string {
  const alarms = tests.filter((t) => t.drift);
  if (alarms.length)
    return `drift: ${alarms.map((t) => `${t.test} (p ${p3(t.pValue)} ≤ ${p3(t.threshold)})`).join(', ')}`;
  const closest = [...tests].sort((a, b) => a.pValue / a.threshold - b.pValue / b.threshold)[0];
  return closest
    ? `no drift: the closest test, ${closest.test}, has p ${p3(closest.pValue)} against its level ${p3(closest.threshold)}`
    : 'no drift: no test could run';
}

/**
 * A drift check of one model: its served version's latest logged predictions (the window)
 * against that version's reference, every test turned on in the config, Holm's verdict, and a
 * row in drift_checks. Too few predictions is an outcome of its own ('insufficient'), recorded
 * too, never a verdict either way.
 */
export async function runDriftCheck(ws: Workspace, o: DriftCheckOptions): Promise<DriftCheckOutcome> {
  const c = o.config;
  // Fails with NOT_FOUND (naming the models there are) before anything else for an unknown model.
  await getVersion(ws.db, { model: o.model });
  const base = {
    at: new Date().toISOString(),
    model: o.model,
    source: o.source,
    alpha: c.alpha,
    tests: [],
    skipped: [],
  };
  const finish = async (
    check: DriftCheckInput,
    rest: Omit<DriftCheckOutcome, 'check'> = { mmdNull: null, novelty: null },
  ) => ({
    check: { ...check, id: await recordDriftCheck(ws.db, check) },
    ...rest,
  });

  const versionNumber = o.version ?? (await latestLoggedVersion(ws.db, o.model));
  if (versionNumber === undefined)
    return finish({
      ...base,
      version: null,
      status: 'insufficient',
      windowSize: 0,
      referenceSize: 0,
      datasetVersion: null,
      message: `not enough data: no prediction of ${o.model} is logged yet (loupe serve logs them; see serve.predictionLog)`,
    });
  const version = await getVersion(ws.db, { model: o.model, version: versionNumber });
  const size = o.window ?? c.window;
  const window = await driftWindow(ws.db, {
    model: o.model,
    version: versionNumber,
    classes: version.classes,
    size,
    ...(o.since !== undefined ? { since: o.since } : {}),
  });
  const needed = Math.min(c.minWindow, size);
  if (window.size < needed)
    return finish(
      {
        ...base,
        version: versionNumber,
        status: 'insufficient',
        windowSize: window.size,
        referenceSize: 0,
        datasetVersion: version.datasetVersion,
        message: `not enough data: ${window.size} logged prediction${window.size === 1 ? '' : 's'} of ${version.ref}${o.since !== undefined ? ` since ${new Date(o.since).toISOString()}` : ''}, at least ${needed} needed`,
      },
      { window, mmdNull: null, novelty: null },
    );

  const reference = await driftReference(ws, version, {
    size: c.referenceSize,
    seed: c.seed,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const refSize = reference.predicted.length;
  if (refSize < MIN_REFERENCE)
    return finish(
      {
        ...base,
        version: versionNumber,
        status: 'insufficient',
        windowSize: window.size,
        referenceSize: refSize,
        datasetVersion: reference.datasetVersion,
        message: `not enough data: the reference of ${formatRef(o.model, versionNumber)} has ${refSize} held-out items, at least ${MIN_REFERENCE} needed`,
      },
      { window, reference, mmdNull: null, novelty: null },
    );

  o.signal?.throwIfAborted();
  const outcome = runDriftTests(reference.classes, reference, window, c);
  return finish(
    {
      ...base,
      version: versionNumber,
      status: outcome.drift ? 'drift' : 'ok',
      windowSize: window.size,
      referenceSize: refSize,
      datasetVersion: reference.datasetVersion,
      tests: outcome.tests,
      skipped: outcome.skipped,
      message: verdictMessage(outcome.tests),
    },
    { window, reference, mmdNull: outcome.mmdNull, novelty: outcome.novelty },
  );
}

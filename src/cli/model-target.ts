import type { EvalReport } from '../eval/evaluation.js';
import { LoupeError } from '../errors/loupe-error.js';
import { EVAL_REPORT_FILE } from '../registry/register-model.js';
import { readModelFile } from '../registry/model-files.js';
import { parseModelRef } from '../registry/model-ref.js';
import { packageRun } from '../registry/package-run.js';
import { getVersion } from '../registry/registry-store.js';
import { getRun } from '../track/run-store.js';
import type { Workspace } from '../workspace/workspace.js';

export interface ModelTarget {
  /** How reports name it: name@version, or run <id>. */
  label: string;
  onnx: Uint8Array;
  /** The dataset version it was trained or registered with, the default to evaluate on. */
  datasetVersion: string | null;
  calibratedOn?: { split: string; n: number };
}

/**
 * What `loupe eval` and friends were pointed at: a registry reference (name, name@3,
 * name:alias) when such a model exists, else a finished run, packaged on the fly.
 */
export async function resolveModelTarget(
  ws: Workspace,
  text: string,
  o: { signal?: AbortSignal; onProgress?: (stage: string, done: number, total: number) => void } = {},
): Promise<ModelTarget> {
  const ref = (() => {
    try {
      return parseModelRef(text);
    } catch {
      return undefined;
    }
  })();
  const registered =
    ref &&
    (await ws.db
      .selectFrom('registered_models')
      .select('name')
      .where('name', '=', ref.model)
      .executeTakeFirst());
  if (ref && registered) {
    const version = await getVersion(ws.db, ref);
    const stored = version.files[EVAL_REPORT_FILE]
      ? (JSON.parse(
          new TextDecoder().decode(await readModelFile(ws.blobs, version, EVAL_REPORT_FILE)),
        ) as EvalReport)
      : undefined;
    const fittedOn = stored?.calibration?.fittedOn;
    return {
      label: version.ref,
      onnx: await readModelFile(ws.blobs, version),
      datasetVersion: version.datasetVersion,
      ...(fittedOn ? { calibratedOn: fittedOn } : {}),
    };
  }
  const run = await getRun(ws.db, text).catch(() => undefined);
  if (!run)
    throw new LoupeError(
      'NOT_FOUND',
      `"${text}" is neither a registered model (loupe models ls) nor a run (loupe runs ls)`,
    );
  const pkg = await packageRun(ws, run.id, o);
  return {
    label: `run ${run.id}`,
    onnx: pkg.onnx,
    datasetVersion: run.dataset_version,
    ...(pkg.calibratedOn ? { calibratedOn: pkg.calibratedOn } : {}),
  };
}

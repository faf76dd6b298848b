import { readVersionItems, type VersionRow } from '../data/versions/version-store.js';
import { LoupeError } from '../errors/loupe-error.js';
import { getRun } from '../track/run-store.js';
import { readOutOfFold } from '../train/out-of-fold.js';
import type { Workspace } from '../workspace/workspace.js';
import type { EvaluateOptions } from './evaluate-classifier.js';

/**
 * Out-of-fold probabilities over a dataset version for confident learning: those of the cross-
 * validation run named, else of the latest finished one on this version (`loupe train --cv`),
 * else none (label issues then come from the evaluated split alone).
 */
export async function outOfFoldFor(
  ws: Workspace,
  data: VersionRow,
  runRef?: string,
): Promise<EvaluateOptions['outOfFold']> {
  let runId: string | undefined;
  if (runRef) {
    const run = await getRun(ws.db, runRef);
    if (run.kind !== 'cv' || run.status !== 'finished')
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `run ${run.id} is not a finished cross-validation (loupe train --cv)`,
      );
    if (run.dataset_version !== data.id)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `cross-validation ${run.id} ran on another dataset version than ${data.id.slice(0, 12)}`,
      );
    runId = run.id;
  } else {
    const latest = await ws.db
      .selectFrom('runs')
      .select('id')
      .where('kind', '=', 'cv')
      .where('status', '=', 'finished')
      .where('dataset_version', '=', data.id)
      .orderBy('id', 'desc')
      .executeTakeFirst();
    runId = latest?.id;
  }
  if (!runId) return undefined;
  const oof = await readOutOfFold(ws.db, ws.root, runId);
  if (!oof) {
    if (runRef)
      throw new LoupeError('NOT_FOUND', `cross-validation ${runId} recorded no out-of-fold probabilities`);
    return undefined;
  }
  const byId = new Map((await readVersionItems(ws, data)).map((i) => [i.id, i]));
  const k = oof.classes.length;
  const rows = oof.ids.flatMap((id, row) => (byId.has(id) ? [row] : []));
  return {
    source: `out-of-fold probabilities of cross-validation ${runId} (${rows.length} items)`,
    classes: oof.classes,
    items: rows.map((row) => byId.get(oof.ids[row]!)!),
    probs: Float32Array.from(rows.flatMap((row) => oof.probs.slice(row * k, (row + 1) * k))),
  };
}

import type { Workspace } from '../workspace/workspace.js';
import type { TrainConfig } from './config/train-config.js';
import { resolveTrainSettings } from './config/mode-defaults.js';
import { trainingItems } from './data/training-items.js';
import { buildPlan } from './modes/build-plan.js';
import { readVersionItems } from '../data/versions/version-store.js';
import { trainingVersion } from './train-run.js';

/**
 * Fills what trials would otherwise compute side by side (a probe's embeddings) by preparing
 * the base configuration's plan once and dropping it; other modes have nothing to warm.
 */
export async function warmTrainingCaches(
  ws: Workspace,
  config: TrainConfig,
  o: { onPrepare?: (stage: string, done: number, total: number) => void; signal?: AbortSignal },
): Promise<void> {
  const version = await trainingVersion(ws, config.data);
  const items = trainingItems(await readVersionItems(ws, version));
  const mode = config.mode === 'auto' ? (items.kind === 'audio' ? 'audio' : 'probe') : config.mode;
  if (mode !== 'probe') return;
  const plan = await buildPlan(resolveTrainSettings(config, mode), items, {
    db: ws.db,
    blobs: ws.blobs,
    ...(o.onPrepare ? { onPrepare: o.onPrepare } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  await plan.dispose();
  await plan.model.dispose();
}

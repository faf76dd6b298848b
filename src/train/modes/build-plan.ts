import type { Database } from '../../store/database.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { audioPlan } from './audio.js';
import { finetunePlan } from './finetune.js';
import { probePlan } from './probe.js';
import { scratchPlan } from './scratch.js';
import type { TrainingPlan } from './training-plan.js';

/** What a mode may use while it prepares: the store, and ways to report and stop. */
export interface PlanContext {
  db: Database;
  blobs: BlobStore;
  onPrepare?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The plan of the settings' mode; image modes refuse audio items and the other way round. */
export async function buildPlan(
  settings: TrainSettings,
  items: TrainingItems,
  ctx: PlanContext,
): Promise<TrainingPlan> {
  const audio = settings.mode === 'audio';
  if (audio !== (items.kind === 'audio'))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${settings.mode} mode trains on ${audio ? 'audio segments' : 'images'} but the dataset holds ${items.kind === 'audio' ? 'audio' : 'images'}`,
    );
  switch (settings.mode) {
    case 'scratch':
      return scratchPlan(items, settings, ctx.blobs);
    case 'probe':
      return probePlan(items, settings, ctx);
    case 'finetune':
      return finetunePlan(items, settings, ctx);
    case 'audio':
      return audioPlan(items, settings, ctx);
  }
}

import type { TrainConfig } from '../config/train-config.js';

/** What a tuning study tells a trial process. */
export type ToTrial =
  | { type: 'start'; workspace: string; config: TrainConfig; studyId: string; trial: number }
  | { type: 'verdict'; epoch: number; verdict: 'continue' | 'prune' };

/** What a trial process tells its study. */
export type FromTrial =
  | { type: 'started'; runId: string }
  | { type: 'epoch'; epoch: number; value: number }
  | { type: 'done'; runId: string; status: 'finished' | 'pruned'; summary: Record<string, number> }
  | { type: 'failed'; code: string; message: string };

import { LoupeError } from '../errors/loupe-error.js';

/**
 * Learning-rate schedules. Policy lives here, not in the engine: the trainer asks for the rate
 * of every step and pushes it to the native optimizer.
 */
export type LrSchedule =
  | { type: 'constant' }
  /** Multiply by gamma every `everyEpochs` epochs. */
  | { type: 'step'; everyEpochs: number; gamma: number }
  /** Cosine decay from the base rate to minLr over the whole run. */
  | { type: 'cosine'; minLr?: number };

export interface ScheduleOptions {
  schedule?: LrSchedule;
  /** Linear warm-up from ~0 to the base rate over this many steps (batches). */
  warmupSteps?: number;
}

export function learningRateAt(
  baseLr: number,
  step: number,
  stepsPerEpoch: number,
  totalSteps: number,
  o: ScheduleOptions = {},
): number {
  const schedule = o.schedule ?? { type: 'constant' };
  const warmup = o.warmupSteps ?? 0;
  if (warmup < 0 || !Number.isInteger(warmup))
    throw new LoupeError('INVALID_ARGUMENT', `warmupSteps must be a whole number ≥ 0`);
  let lr: number;
  switch (schedule.type) {
    case 'constant':
      lr = baseLr;
      break;
    case 'step': {
      if (!(schedule.everyEpochs > 0) || !(schedule.gamma > 0)) {
        throw new LoupeError('INVALID_ARGUMENT', 'a step schedule needs everyEpochs > 0 and gamma > 0');
      }
      lr = baseLr * schedule.gamma ** Math.floor(step / stepsPerEpoch / schedule.everyEpochs);
      break;
    }
    case 'cosine': {
      const minLr = schedule.minLr ?? 0;
      const span = Math.max(1, totalSteps - warmup);
      const progress = Math.min(1, Math.max(0, step - warmup) / span);
      lr = minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
      break;
    }
  }
  return step < warmup ? (lr * (step + 1)) / warmup : lr;
}

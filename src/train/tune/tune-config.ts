import { z } from 'zod';
import { searchSpaceSchema } from './search-space.js';

/**
 * The `tune` section of loupe.yaml. Search-space keys are paths into the train section
 * (`optimizer.lr`, `probe.head.hidden`, `augment.strength`, `scratch.width`, `mode`, ...),
 * so anything `loupe train` can set, a study can search.
 */
export const tuneConfigSchema = z.strictObject({
  /** Trials to run; with `seconds`, whichever ends first. */
  trials: z.number().int().positive().default(20),
  /** A wall-clock budget for the whole study. */
  seconds: z.number().positive().optional(),
  /** Trials at once, each in its own process with its share of the cores; 'auto': one per core. */
  parallel: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
  sampler: z.enum(['tpe', 'random']).default('tpe'),
  /** Random trials before TPE starts modelling. */
  startupTrials: z.number().int().nonnegative().default(8),
  pruner: z
    .strictObject({
      type: z.enum(['asha', 'none']).default('asha'),
      /** First rung, in epochs. */
      minEpochs: z.number().int().positive().default(2),
      reductionFactor: z.number().int().min(2).default(3),
    })
    .default({ type: 'asha', minEpochs: 2, reductionFactor: 3 }),
  /** Ranked by validation macro-F1 (higher is better). */
  metric: z.enum(['val.macro_f1', 'val.accuracy']).default('val.macro_f1'),
  space: searchSpaceSchema.default({
    'optimizer.lr': { type: 'float', low: 3e-4, high: 3e-2, log: true },
    'optimizer.weightDecay': { type: 'float', low: 1e-6, high: 1e-2, log: true },
    'probe.head.hidden': { type: 'categorical', choices: [0, 256, 1024] },
    'probe.head.dropout': { type: 'float', low: 0, high: 0.5, log: false },
  }),
});

export type TuneConfig = z.output<typeof tuneConfigSchema>;

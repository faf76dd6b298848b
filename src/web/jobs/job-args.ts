import { z } from 'zod';
import type { JobKind } from '../../store/schema.js';

/** A value that becomes one command-line argument: it must not pass for an option. */
const arg = (max = 500) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !s.startsWith('-'), { message: 'must not start with "-"' });
const count = z.number().int().positive();

const ingestArgs = z
  .strictObject({
    /** Class folders, a CSV of image URLs, or labelled recordings, as `loupe ingest <source>`. */
    source: z.enum(['folder', 'csv', 'audio']),
    /** The folder or file on the server, absolute or relative to the workspace. */
    path: arg(4096),
    dataset: arg(100).optional(),
    replace: z.boolean().optional(),
    /** CSV only: keep these quality grades, e.g. "research". */
    quality: arg(200).optional(),
    minPerClass: count.optional(),
    top: count.optional(),
  })
  .refine((a) => a.source === 'csv' || (a.quality ?? a.minPerClass ?? a.top) === undefined, {
    message: 'quality, minPerClass and top apply to a CSV source only',
  });

const trainArgs = z.strictObject({
  mode: z.enum(['probe', 'finetune', 'scratch', 'audio']).optional(),
  data: arg(200).optional(),
  epochs: count.max(10_000).optional(),
  batchSize: count.max(65_536).optional(),
  lr: z.number().positive().max(10).optional(),
  seed: z.number().int().min(0).optional(),
  /** `key=value` train settings, as `--set`. */
  set: z
    .array(arg(500).refine((s) => /^[\w.]+=/.test(s), { message: 'takes key=value' }))
    .max(50)
    .optional(),
  cv: z
    .string()
    .regex(/^(kfold:\d+|group)$/, 'kfold:K or group')
    .optional(),
  /** A killed or failed run to continue from its last checkpoint; the other fields are then ignored. */
  resume: z
    .string()
    .regex(/^[0-9a-z]{4,13}$/, 'a run id')
    .optional(),
});

const tuneArgs = z.strictObject({
  trials: count.max(10_000).optional(),
  seconds: count.optional(),
  parallel: count.max(64).optional(),
  sampler: z.enum(['tpe', 'random']).optional(),
  mode: z.enum(['probe', 'finetune', 'scratch', 'audio']).optional(),
  data: arg(200).optional(),
});

const retrainArgs = z.strictObject({
  /** The registered model to retrain with the feedback gathered for it. */
  model: arg(100),
  /** Only when at least this many decisions are pending. */
  minFeedback: count.optional(),
  /** Only when the latest drift check found drift. */
  ifDrift: z.boolean().optional(),
  /** Search settings (tune: in loupe.yaml) instead of reusing the champion's. */
  tune: z.boolean().optional(),
  alias: arg(100).optional(),
  dryRun: z.boolean().optional(),
});

export const jobArgsSchemas = {
  ingest: ingestArgs,
  train: trainArgs,
  tune: tuneArgs,
  retrain: retrainArgs,
} as const satisfies Record<JobKind, z.ZodType>;

export type JobArgs = { [K in JobKind]: z.output<(typeof jobArgsSchemas)[K]> };

const option = (name: string, value: string | number | undefined): string[] =>
  value === undefined ? [] : [`--${name}`, String(value)];
const flag = (name: string, on: boolean | undefined): string[] => (on ? [`--${name}`] : []);

/** The `loupe` arguments a job runs (after `--workspace`), from its validated form. */
export function jobArgv<K extends JobKind>(kind: K, args: JobArgs[K]): string[] {
  switch (kind) {
    case 'ingest': {
      const a = args as JobArgs['ingest'];
      return [
        'ingest',
        a.source,
        a.path,
        ...option('dataset', a.dataset),
        ...flag('replace', a.replace),
        ...option('quality', a.quality),
        ...option('min-per-class', a.minPerClass),
        ...option('top', a.top),
      ];
    }
    case 'train': {
      const a = args as JobArgs['train'];
      if (a.resume) return ['train', '--resume', a.resume];
      return [
        'train',
        ...option('mode', a.mode),
        ...option('data', a.data),
        ...option('epochs', a.epochs),
        ...option('batch-size', a.batchSize),
        ...option('lr', a.lr),
        ...option('seed', a.seed),
        ...(a.set ?? []).flatMap((s) => ['--set', s]),
        ...option('cv', a.cv),
      ];
    }
    case 'tune': {
      const a = args as JobArgs['tune'];
      return [
        'tune',
        ...option('trials', a.trials),
        ...option('seconds', a.seconds),
        ...option('parallel', a.parallel),
        ...option('sampler', a.sampler),
        ...option('mode', a.mode),
        ...option('data', a.data),
      ];
    }
    case 'retrain': {
      const a = args as JobArgs['retrain'];
      return [
        'retrain',
        a.model,
        ...option('min-feedback', a.minFeedback),
        ...flag('if-drift', a.ifDrift),
        ...flag('tune', a.tune),
        ...option('alias', a.alias),
        ...flag('dry-run', a.dryRun),
      ];
    }
  }
  throw new Error(`unknown job kind ${String(kind)}`);
}

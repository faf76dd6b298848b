import { z } from 'zod';
import { validationPolicySchema } from '../data/validate/validation-policy.js';
import { trainConfigSchema } from '../train/config/train-config.js';
import { tuneConfigSchema } from '../train/tune/tune-config.js';
import { gateConfigSchema } from '../registry/gate/gate-policy.js';
import { serveConfigSchema } from '../serve/serve-config.js';
import { driftConfigSchema } from '../monitor/drift/drift-config.js';
import { retrainScheduleSchema } from '../monitor/retrain/retrain-schedule-config.js';
import { webConfigSchema } from '../web/web-config.js';

/**
 * loupe.yaml: what a workspace is and how its commands behave. Every section has defaults, so
 * an empty file is a valid workspace; `profiles` hold overrides (local, ci, prod, ...) merged
 * over the base, and LOUPE__SECTION__KEY environment variables override both.
 */

const fraction = z.number().min(0).lt(1);

export const splitConfigSchema = z.strictObject({
  /** Fractions of each class held out; the rest is train. Predefined splits in the source win. */
  val: fraction.default(0.1),
  test: fraction.default(0.1),
  seed: z.number().int().nonnegative().default(42),
  /** Keep class proportions equal across splits. */
  stratify: z.boolean().default(true),
  /** An item field ('group') keeps every item of a group on one side (observation, user, recording). */
  groupBy: z.enum(['none', 'group']).default('group'),
});

export const downloadConfigSchema = z.strictObject({
  concurrency: z.number().int().positive().default(16),
  perHost: z.number().int().positive().default(4),
  ratePerHost: z.number().positive().default(10),
  timeoutMs: z.number().int().positive().default(30_000),
  retries: z.number().int().nonnegative().default(4),
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(20 * 1024 * 1024),
});

export const foldConfigSchema = z.strictObject({
  /** k of k-fold cross-validation over the train and val items. */
  k: z.number().int().min(2).default(5),
  /** One fold per group instead (leave-one-group-out), e.g. per recording or per user. */
  byGroup: z.boolean().default(false),
});

const dataSchema = z.strictObject({
  split: splitConfigSchema.default(splitConfigSchema.parse({})),
  folds: foldConfigSchema.default(foldConfigSchema.parse({})),
  download: downloadConfigSchema.default(downloadConfigSchema.parse({})),
  validation: validationPolicySchema.default(validationPolicySchema.parse({})),
});

/** Watching served models: drift checks and retraining (docs/monitoring.md). */
export const monitorConfigSchema = z.strictObject({
  drift: driftConfigSchema.default(driftConfigSchema.parse({})),
  retrain: retrainScheduleSchema.default(retrainScheduleSchema.parse({})),
});

const baseShape = {
  name: z.string().min(1).default('loupe'),
  data: dataSchema.default(dataSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({})),
  tune: tuneConfigSchema.default(tuneConfigSchema.parse({})),
  gate: gateConfigSchema.default(gateConfigSchema.parse({})),
  serve: serveConfigSchema.default(serveConfigSchema.parse({})),
  monitor: monitorConfigSchema.default(monitorConfigSchema.parse({})),
  web: webConfigSchema.default(webConfigSchema.parse({})),
};

export const configSchema = z.strictObject({
  ...baseShape,
  /** Named overrides, merged over the base when the profile is active. */
  profiles: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

export type LoupeConfig = z.output<typeof configSchema>;
export type SplitConfig = z.output<typeof splitConfigSchema>;
export type DownloadConfig = z.output<typeof downloadConfigSchema>;

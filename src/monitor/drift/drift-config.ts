import { z } from 'zod';

export const DRIFT_TESTS = ['mmd', 'classifier', 'novelty', 'predictions', 'confidence'] as const;
export type DriftTestName = (typeof DRIFT_TESTS)[number];

const testsSchema = z.strictObject({
  /** Kernel two-sample test (MMD²) on the embeddings. */
  mmd: z.boolean().default(true),
  /** A classifier telling window embeddings from reference ones (held-out AUC). */
  classifier: z.boolean().default(true),
  /** The share of window embeddings farther from the reference than 95% of held-out ones (exact tail). */
  novelty: z.boolean().default(true),
  /** Predicted-class frequencies (chi-square; PSI reported). */
  predictions: z.boolean().default(true),
  /** A drop in top-1 confidence (one-sided rank-sum). */
  confidence: z.boolean().default(true),
});

/**
 * `monitor.drift` in loupe.yaml: how `loupe drift` and the checks `loupe serve` runs compare the
 * latest served predictions of a model version with its training reference. Documented with
 * examples in docs/monitoring.md.
 */
export const driftConfigSchema = z
  .strictObject({
    /** The latest this many logged predictions of the version are the window. */
    window: z.number().int().min(10).max(5000).default(200),
    /** Fewer predictions than this: "not enough data", no verdict. */
    minWindow: z.number().int().min(10).default(100),
    /** The family-wise false-alarm rate: the chance that a check alarms when nothing drifted. */
    alpha: z.number().gt(0).max(0.5).default(0.05),
    /** Permutations of the MMD test's null distribution. */
    permutations: z.number().int().min(1).max(100_000).default(500),
    /** Held-out items of the version's dataset the reference is computed on (a seeded sample). */
    referenceSize: z.number().int().min(20).max(5000).default(1000),
    /** How often `loupe serve` checks each served model, in ms; 0: never. */
    intervalMs: z.number().int().nonnegative().default(600_000),
    /** Seeds the reference sample, the projection, the permutations and the classifier's and novelty test's splits. */
    seed: z.number().int().nonnegative().default(0),
    tests: testsSchema.default(testsSchema.parse({})),
  })
  .superRefine((c, ctx) => {
    if (c.minWindow > c.window)
      ctx.addIssue({
        code: 'custom',
        path: ['minWindow'],
        message: `must be at most window (${c.window}), got ${c.minWindow}`,
      });
    const enabled = DRIFT_TESTS.filter((t) => c.tests[t]);
    if (!enabled.length)
      ctx.addIssue({ code: 'custom', path: ['tests'], message: 'turn at least one test on' });
    // The smallest permutation p-value is 1/(permutations + 1); below the first Holm level the
    // MMD test could never alarm, however large the shift.
    const level = c.alpha / Math.max(1, enabled.length);
    if (c.tests.mmd && 1 / (c.permutations + 1) > level)
      ctx.addIssue({
        code: 'custom',
        path: ['permutations'],
        message: `with alpha ${c.alpha} shared by ${enabled.length} tests the MMD test needs at least ${Math.ceil(1 / level - 1)} permutations to ever reach its level, got ${c.permutations}`,
      });
  });

export type DriftConfig = z.output<typeof driftConfigSchema>;

import { z } from 'zod';

/** Metrics a rule can name: the keys of an evaluation's metrics.json, and top{k}_accuracy. */
export const GATE_METRICS = [
  'accuracy',
  'macro_precision',
  'macro_recall',
  'macro_f1',
  'weighted_precision',
  'weighted_recall',
  'weighted_f1',
  'map',
  'roc_auc',
  'ece',
  'nll',
  'brier',
  'latency_p50_ms',
  'latency_p95_ms',
] as const;

/** Metrics where smaller is better; champion rules flip their comparison for them. */
export const LOWER_IS_BETTER = new Set(['ece', 'nll', 'brier', 'latency_p50_ms', 'latency_p95_ms']);

const metricName = z
  .string()
  .refine((m) => (GATE_METRICS as readonly string[]).includes(m) || /^top\d+_accuracy$/.test(m), {
    message: `a metric: ${GATE_METRICS.join(', ')} or topK_accuracy (e.g. top3_accuracy)`,
  });

const threshold = z
  .strictObject({ metric: metricName, min: z.number().optional(), max: z.number().optional() })
  .refine((r) => r.min !== undefined || r.max !== undefined, { message: 'a metric rule needs min or max' });

const perClass = z.strictObject({
  perClass: z.enum(['precision', 'recall', 'f1']),
  min: z.number(),
  /** Only these classes; default every class. */
  classes: z.array(z.string()).min(1).optional(),
});

const champion = z
  .strictObject({
    champion: metricName,
    /** Pass unless the candidate is worse than the champion by more than this. */
    notWorseBy: z.number().nonnegative().optional(),
    /** Pass only if the candidate beats the champion by at least this. */
    betterBy: z.number().nonnegative().optional(),
    /**
     * A paired test on per-item correctness of the two models over the same items: with
     * notWorseBy, a drop fails only when it is also significant; with betterBy, a gain counts
     * only when it is significant.
     */
    test: z.enum(['mcnemar', 'bootstrap']).optional(),
    alpha: z.number().gt(0).lt(1).default(0.05),
  })
  .refine((r) => (r.notWorseBy === undefined) !== (r.betterBy === undefined), {
    message: 'a champion rule takes exactly one of notWorseBy or betterBy',
  });

export const gateRuleSchema = z.union([threshold, perClass, champion]);
export type GateRule = z.output<typeof gateRuleSchema>;

export const gateConfigSchema = z.strictObject({
  /** The split candidate and champion are judged on; default test, else val. */
  split: z.string().optional(),
  /** Champion rules when no version holds the champion alias yet: pass (reported as skipped) or fail. */
  whenNoChampion: z.enum(['pass', 'fail']).default('pass'),
  /** The alias the candidate is compared against. */
  against: z.string().default('champion'),
  /**
   * The default asks little of a first model and guards against regressions after it; the
   * loupe.yaml template spells it out so a team tightens it rather than discovers it.
   */
  rules: z.array(gateRuleSchema).default([
    { metric: 'macro_f1', min: 0.5 },
    { perClass: 'recall', min: 0.1 },
    { metric: 'ece', max: 0.15 },
    { metric: 'latency_p95_ms', max: 250 },
    { champion: 'macro_f1', notWorseBy: 0.01, alpha: 0.05 },
  ]),
});
export type GateConfig = z.output<typeof gateConfigSchema>;

/** A rule as a person reads it, for reports and the audit log. */
export function describeRule(r: GateRule): string {
  if ('metric' in r)
    return [
      r.min !== undefined ? `${r.metric} ≥ ${r.min}` : '',
      r.max !== undefined ? `${r.metric} ≤ ${r.max}` : '',
    ]
      .filter(Boolean)
      .join(' and ');
  if ('perClass' in r)
    return `${r.perClass} ≥ ${r.min} for ${r.classes ? r.classes.join(', ') : 'every class'}`;
  const test = r.test ? ` (${r.test}, α=${r.alpha})` : '';
  return r.notWorseBy !== undefined
    ? `${r.champion} not worse than champion by more than ${r.notWorseBy}${test}`
    : `${r.champion} better than champion by at least ${r.betterBy}${test}`;
}

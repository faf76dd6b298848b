import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';

/**
 * What a tuning study may vary: parameter name → distribution.
 *
 *   lr:        { type: float, low: 1.0e-5, high: 1.0e-1, log: true }
 *   layers:    { type: int, low: 1, high: 4 }
 *   width:     { type: int, low: 32, high: 256, step: 32 }
 *   optimizer: { type: categorical, choices: [sgd, adam] }
 *
 * YAML shorthand, accepted because each form has exactly one reading: `{ choices: [...] }` is
 * categorical and `{ low, high, log? }` is float. Integers always need `type: int` — the same
 * `{ low: 1, high: 8 }` cannot mean float in one file and int in another.
 */

export type ParamValue = string | number | boolean;
export type Params = Record<string, ParamValue>;

const floatParamSchema = z.strictObject({
  type: z.literal('float'),
  low: z.number(),
  high: z.number(),
  /** Sample uniformly in log space: for scales such as learning rates or weight decay. */
  log: z.boolean().default(false),
});

const intParamSchema = z.strictObject({
  type: z.literal('int'),
  low: z.number().int(),
  high: z.number().int(),
  log: z.boolean().default(false),
  /** Values are low, low + step, ..., high. */
  step: z.number().int().positive().default(1),
});

const categoricalParamSchema = z.strictObject({
  type: z.literal('categorical'),
  choices: z.array(z.union([z.string(), z.number(), z.boolean()])),
});

const explicitParamSchema = z.discriminatedUnion(
  'type',
  [floatParamSchema, intParamSchema, categoricalParamSchema],
  {
    error:
      'needs type float, int or categorical (or the shorthand { low, high } for float, { choices } for categorical)',
  },
);

function expandShorthand(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || 'type' in value) return value;
  if ('choices' in value) return { type: 'categorical', ...value };
  // A step is only meaningful for integers, and integers must say so.
  if (('low' in value || 'high' in value) && !('step' in value)) return { type: 'float', ...value };
  return value;
}

const paramSchema = z.preprocess(expandShorthand, explicitParamSchema);

export const searchSpaceSchema = z.record(z.string().min(1), paramSchema).superRefine((space, ctx) => {
  if (Object.keys(space).length === 0) ctx.addIssue({ code: 'custom', message: 'no parameters to tune' });
  for (const [name, spec] of Object.entries(space)) {
    const fail = (key: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [name, key], message: `parameter "${name}": ${message}` });
    if (spec.type === 'categorical') {
      if (spec.choices.length === 0) fail('choices', 'needs at least one choice');
      if (new Set(spec.choices).size !== spec.choices.length) fail('choices', 'lists a choice twice');
      continue;
    }
    if (!(spec.low < spec.high)) fail('high', `low (${spec.low}) must be below high (${spec.high})`);
    if (spec.log && !(spec.low > 0)) fail('low', `a log scale needs low > 0, not ${spec.low}`);
    if (spec.type === 'int' && spec.step !== 1) {
      if (spec.log) fail('step', 'log and step cannot be combined: a log scale has no even steps');
      if ((spec.high - spec.low) % spec.step !== 0)
        fail('step', `high - low (${spec.high - spec.low}) must be a multiple of step (${spec.step})`);
    }
  }
});

export type SearchSpace = z.output<typeof searchSpaceSchema>;
export type ParamSpec = SearchSpace[string];
export type FloatParam = z.output<typeof floatParamSchema>;
export type IntParam = z.output<typeof intParamSchema>;
export type CategoricalParam = z.output<typeof categoricalParamSchema>;
/** What a caller may write, shorthand included; `parseSearchSpace` turns it into a SearchSpace. */
export type SearchSpaceInput = Record<
  string,
  | z.input<typeof explicitParamSchema>
  | { low: number; high: number; log?: boolean }
  | { choices: ParamValue[] }
>;

/** Validates a search space from YAML, JSON or code; the message names the offending parameter. */
export function parseSearchSpace(input: unknown): SearchSpace {
  const parsed = searchSpaceSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // Our own checks already name the parameter; zod's generic messages need the path for that.
  const where = issue.code === 'custom' ? '' : issue.path.map(String).join('.');
  throw new LoupeError('INVALID_CONFIG', `search space: ${where ? `${where}: ` : ''}${issue.message}`, {
    issues: parsed.error.issues,
  });
}

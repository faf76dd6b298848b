import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { LoupeError } from '../errors/loupe-error.js';
import { configSchema, type LoupeConfig } from './schema.js';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (arrays included) is replaced. */
export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = isPlain(v) && isPlain(out[k]) ? deepMerge(out[k] as Plain, v) : v;
  return out;
}

/**
 * LOUPE__DATA__SPLIT__SEED=7 sets data.split.seed. Values are read as YAML scalars, so numbers
 * and booleans keep their types; keys are matched case-insensitively to camelCase names.
 */
export function envOverrides(env: NodeJS.ProcessEnv, base: Plain): Plain {
  const out: Plain = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('LOUPE__') || raw === undefined) continue;
    const keys = name.slice('LOUPE__'.length).split('__');
    let target = out;
    let shape: unknown = base;
    keys.forEach((k, i) => {
      const match = isPlain(shape)
        ? Object.keys(shape).find((c) => c.toLowerCase() === k.toLowerCase())
        : undefined;
      const key = match ?? k.toLowerCase();
      if (i === keys.length - 1) target[key] = parseDocument(raw).toJS();
      else target = (target[key] ??= {}) as Plain;
      shape = isPlain(shape) ? shape[key] : undefined;
    });
  }
  return out;
}

export interface LoadedConfig {
  config: LoupeConfig;
  profile: string | undefined;
}

/** Reads loupe.yaml, applies the profile and environment overrides, and validates the result. */
export async function loadConfig(
  file: string,
  options: { profile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LoupeError('NOT_FOUND', `cannot read ${file}`, { file }, { cause: e });
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length)
    throw new LoupeError('INVALID_CONFIG', `${file}: ${doc.errors[0]!.message}`, { file });
  const raw: unknown = doc.toJS() ?? {};
  if (!isPlain(raw))
    throw new LoupeError('INVALID_CONFIG', `${file}: the top level must be a mapping of settings`, { file });

  const profile = options.profile ?? env.LOUPE_PROFILE;
  const base = configSchema.safeParse(raw);
  if (!base.success) throw invalid(file, base.error.issues[0]!);
  let merged: Plain = raw;
  if (profile) {
    const overrides = base.data.profiles[profile];
    if (!overrides) {
      const known = Object.keys(base.data.profiles);
      throw new LoupeError(
        'INVALID_CONFIG',
        `${file} has no profile "${profile}"${known.length ? `; it has: ${known.join(', ')}` : ''}`,
        { file },
      );
    }
    merged = deepMerge(merged, overrides);
  }
  merged = deepMerge(merged, envOverrides(env, base.data as unknown as Plain));
  const result = configSchema.safeParse(merged);
  if (!result.success) throw invalid(file, result.error.issues[0]!, profile);
  return { config: result.data, profile };
}

function invalid(
  file: string,
  issue: { path: PropertyKey[]; message: string },
  profile?: string,
): LoupeError {
  const where = issue.path.map(String).join('.') || '(top level)';
  return new LoupeError(
    'INVALID_CONFIG',
    `${file}${profile ? ` (profile ${profile})` : ''}: ${where}: ${issue.message}`,
    { file, path: where },
  );
}

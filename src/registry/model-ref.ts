import { LoupeError } from '../errors/loupe-error.js';

/** A reference to a model version as users write it. */
export type ModelRef =
  | { model: string; version: number }
  | { model: string; alias: string }
  /** The champion when there is one, else the latest version. */
  | { model: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
export const MODEL_NAME_RULE =
  'letters, digits, ".", "_" or "-", starting with a letter or digit, at most 100';

export function checkModelName(name: string, what = 'model name'): string {
  if (!NAME.test(name))
    throw new LoupeError('INVALID_ARGUMENT', `${what} "${name}" must be ${MODEL_NAME_RULE}`);
  return name;
}

/** `name`, `name@3` (or `name@v3`), or `name:alias`. */
export function parseModelRef(text: string): ModelRef {
  const at = /^(.+)@v?(\d+)$/.exec(text);
  if (at) return { model: checkModelName(at[1]!), version: Number(at[2]) };
  const colon = /^(.+):(.+)$/.exec(text);
  if (colon) return { model: checkModelName(colon[1]!), alias: checkModelName(colon[2]!, 'alias') };
  if (text.includes('@'))
    throw new LoupeError('INVALID_ARGUMENT', `"${text}": a version is a number, as in name@3`);
  return { model: checkModelName(text) };
}

export const formatRef = (model: string, version: number): string => `${model}@${version}`;

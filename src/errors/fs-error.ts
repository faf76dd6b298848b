import { LoupeError } from './loupe-error.js';

/**
 * Turns a filesystem failure into an error that names the file: a missing file is NOT_FOUND and
 * a full disk DISK_FULL. Anything else becomes `otherwise(e)` when given, or is returned as is.
 * Callers throw the result.
 */
export function fsError(
  e: unknown,
  file: string,
  o: { what?: string; otherwise?: (e: Error) => LoupeError } = {},
): unknown {
  if (e instanceof LoupeError) return e;
  const named = o.what ? `${o.what} ${file}` : file;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT')
    return new LoupeError('NOT_FOUND', `${named} does not exist`, { file }, { cause: e });
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LoupeError('DISK_FULL', `no space left on the device for ${named}`, { file }, { cause: e });
  }
  return o.otherwise && e instanceof Error ? o.otherwise(e) : e;
}

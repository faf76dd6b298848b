import path from 'node:path';

/**
 * Whether the path `p` is the folder `dir` or lies under it, both taken as absolute. Compared by
 * path.relative, not by string prefix, so `/data2` is not under `/data` and a name that merely
 * starts with two dots (`..notes`) is not taken for a step up.
 */
export function isWithin(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

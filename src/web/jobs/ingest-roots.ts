import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import { isWithin } from '../../util/is-within.js';

const realOrUndefined = (p: string) => realpath(p).catch(() => undefined);

const missing = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

/**
 * The real path of `p`, or, when it does not exist, of its nearest ancestor that does: whether a
 * missing path would lie inside a root is then known without saying whether it exists.
 */
async function realPathOrAncestor(p: string): Promise<{ real: string; exists: boolean }> {
  for (let at = p; ; at = path.dirname(at)) {
    try {
      return { real: await realpath(at), exists: at === p };
    } catch (e) {
      if (!missing(e) || at === path.dirname(at)) throw e;
    }
  }
}

/**
 * Where an ingest job started from the web app may read `given` (absolute, or relative to the
 * workspace): its real path — `..` and every symbolic link resolved — when that lies inside one
 * of `roots` (web.jobs.ingestRoots, relative entries from the workspace; a root may itself be a
 * symbolic link). Otherwise a 400 naming the allowed folders, so a web user cannot have the
 * server read files elsewhere, as Label Studio's LOCAL_FILES_DOCUMENT_ROOT keeps local files
 * under one folder.
 *
 * The answers do not tell anyone which files exist elsewhere: a path outside every root before
 * symbolic links are followed is refused without looking at the disk, and one that leads outside
 * through a link is refused as outside whether or not it exists.
 */
export async function ingestPathWithin(given: string, roots: string[], workspace: string): Promise<string> {
  const named = roots.map((r) => path.resolve(workspace, r));
  // A root that does not exist (yet) holds nothing.
  const real = (await Promise.all(named.map(realOrUndefined))).filter((r) => r !== undefined);
  const outside = () =>
    new LoupeError(
      'INVALID_ARGUMENT',
      roots.length
        ? `ingest.path: ${given} is outside the folders ingest jobs may read (${named.join(', ')}): ` +
            'put the data under one of them, or ask an admin to add its folder to web.jobs.ingestRoots in loupe.yaml'
        : 'ingest.path: ingest jobs are turned off on this server (web.jobs.ingestRoots is empty in loupe.yaml)',
    );
  const lexical = path.resolve(workspace, given);
  if (![...named, ...real].some((root) => isWithin(root, lexical))) throw outside();
  const found = await realPathOrAncestor(lexical).catch((e: unknown) => {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `ingest.path: ${given} cannot be resolved on the server (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      undefined,
      { cause: e },
    );
  });
  if (!real.some((root) => isWithin(root, found.real))) throw outside();
  if (!found.exists)
    throw new LoupeError('INVALID_ARGUMENT', `ingest.path: ${given} does not exist on the server`);
  return found.real;
}

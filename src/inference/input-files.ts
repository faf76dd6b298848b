import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../errors/loupe-error.js';

/** A file that was not predicted, and why: reports name every one rather than drop it quietly. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface InputFiles {
  /** Every regular file named or found under a named folder, in the order given, folders sorted. */
  files: string[];
  skipped: SkippedFile[];
}

/**
 * A file skipped for an error. Decoders name the file in their messages, which the entry already
 * does: the leading name is dropped and any other mention shortened to the file's own name.
 */
export function skippedFor(file: string, e: unknown): SkippedFile {
  const message = e instanceof Error ? e.message : String(e);
  const reason = message.startsWith(`${file}: `)
    ? message.slice(file.length + 2)
    : message.replaceAll(file, path.basename(file));
  return { path: file, reason };
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Expands command-line paths into files: folders recursively, in name order so repeated runs list
 * alike. A path that does not exist is an error (a typo should not become an empty pre-label
 * file); whatever is met inside folders that cannot be used is skipped with a reason.
 */
export async function listInputFiles(paths: readonly string[]): Promise<InputFiles> {
  const out: InputFiles = { files: [], skipped: [] };
  const listed = new Set<string>();
  const seenDirs = new Set<string>();
  const addFile = (file: string) => {
    if (listed.has(file)) return;
    listed.add(file);
    out.files.push(file);
  };
  async function visit(dir: string): Promise<void> {
    let entries;
    try {
      const real = await realpath(dir);
      // A symbolic link back up the tree would otherwise be walked forever.
      if (seenDirs.has(real)) return;
      seenDirs.add(real);
      entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
    } catch (e) {
      out.skipped.push({ path: dir, reason: `cannot read the folder: ${(e as Error).message}` });
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.name.startsWith('.')) {
        out.skipped.push({ path: full, reason: 'hidden (the name starts with ".")' });
        continue;
      }
      const s = e.isSymbolicLink() ? await stat(full).catch(() => undefined) : e;
      if (!s) out.skipped.push({ path: full, reason: 'broken symbolic link' });
      else if (s.isDirectory()) await visit(full);
      else if (s.isFile()) addFile(full);
      else out.skipped.push({ path: full, reason: 'not a regular file' });
    }
  }
  for (const p of paths) {
    const s = await stat(p).catch((e: NodeJS.ErrnoException) => {
      throw new LoupeError('NOT_FOUND', `${p} does not exist or cannot be read (${e.code ?? e.message})`, {
        path: p,
      });
    });
    if (s.isDirectory()) await visit(p);
    else if (s.isFile()) addFile(p);
    else out.skipped.push({ path: p, reason: 'not a regular file' });
  }
  return out;
}

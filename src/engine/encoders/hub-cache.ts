import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import { writeFileAtomic } from '../../store/atomic-write.js';

/**
 * Hub downloads on disk, one folder per repository, in huggingface_hub's spirit but with the files
 * themselves in the snapshot (no blob store: encoders are few and large):
 *
 *   <cacheDir>/hub/<owner>--<name>/refs/<revision>          commit sha a branch or tag resolved to
 *   <cacheDir>/hub/<owner>--<name>/<sha>/<path>             a file, verified, at its path in the repo
 *   <cacheDir>/hub/<owner>--<name>/<sha>/<path>.incomplete  bytes received so far, resumed later
 *   <cacheDir>/hub/<owner>--<name>/<sha>/<path>.lock        held by the process downloading it
 *   <cacheDir>/hub/<owner>--<name>/.no_exist/<sha>/<path>   the repo has no such file at that commit
 *
 * A file appears by rename once whole and verified, so a present file is complete; a commit's
 * content never changes, so a present file is never re-checked with the hub.
 */

/** A file wanted from a repository; an optional one may be absent from it. */
export interface HubFile {
  path: string;
  optional?: boolean;
}

export const isCommitSha = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);

/** Rejects names that could leave the cache folder or that no git ref or repo path can have. */
function segments(what: string, value: string): string[] {
  const parts = value.split('/');
  if (!value || /[\\\0]/.test(value) || parts.some((s) => s === '' || s === '.' || s === '..'))
    throw new LoupeError('INVALID_ARGUMENT', `${what} ${JSON.stringify(value)} is not valid`);
  return parts;
}

export const checkRepoPath = (file: string): string[] => segments('repository path', file);
export const checkRevision = (revision: string): string[] => segments('revision', revision);

export class HubRepoCache {
  readonly dir: string;

  constructor(
    cacheDir: string,
    readonly repo: string,
  ) {
    // The hub's own rule for owners and names; it also forbids "--" and "..", which keeps
    // <owner>--<name> unambiguous.
    if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || repo.includes('--') || repo.includes('..'))
      throw new LoupeError('INVALID_ARGUMENT', `"${repo}" is not a Hugging Face repository id (owner/name)`);
    this.dir = path.join(cacheDir, 'hub', repo.replace('/', '--'));
  }

  file(sha: string, file: string): string {
    return path.join(this.dir, sha, ...checkRepoPath(file));
  }

  private refFile(revision: string): string {
    return path.join(this.dir, 'refs', ...checkRevision(revision));
  }

  private absentMarker(sha: string, file: string): string {
    return path.join(this.dir, '.no_exist', sha, ...checkRepoPath(file));
  }

  async readRef(revision: string): Promise<string | undefined> {
    const sha = await readFile(this.refFile(revision), 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    );
    return sha && isCommitSha(sha) ? sha : undefined;
  }

  async writeRef(revision: string, sha: string): Promise<void> {
    const file = this.refFile(revision);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, Buffer.from(sha));
  }

  async markAbsent(sha: string, file: string): Promise<void> {
    const marker = this.absentMarker(sha, file);
    await mkdir(path.dirname(marker), { recursive: true });
    await writeFile(marker, '');
  }

  /** The files of a commit when every one is on disk (or known absent); undefined otherwise. */
  async lookup(sha: string, files: HubFile[]): Promise<Map<string, string | undefined> | undefined> {
    const found = new Map<string, string | undefined>();
    for (const f of files) {
      const file = this.file(sha, f.path);
      if (await exists(file)) found.set(f.path, file);
      else if (f.optional && (await exists(this.absentMarker(sha, f.path)))) found.set(f.path, undefined);
      else return undefined;
    }
    return found;
  }
}

export const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The Loupe checkout or installation this code runs from (src/track/ or dist/track/ in it). */
export const loupeRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface GitInfo {
  commit: string | null;
  /** Uncommitted changes, untracked files included: either can change what a run does. */
  dirty: boolean | null;
}

export interface LibraryVersions {
  node: string;
  loupe: string | null;
  libtorch: string | null;
  onnxruntime: string | null;
  sharp: string | null;
  os: string;
  cpu: string;
}

const run = promisify(execFile);

/** stdout, or null when git is missing or says no (not a repository, no commit yet). */
const git = (dir: string, args: string[]): Promise<string | null> =>
  run('git', ['-C', dir, ...args], { encoding: 'utf8' }).then(
    (r) => r.stdout,
    () => null,
  );

export async function gitInfo(dir: string): Promise<GitInfo> {
  const [head, status] = await Promise.all([
    git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD']),
    git(dir, ['status', '--porcelain']),
  ]);
  return { commit: head?.trim() || null, dirty: status === null ? null : status.trim() !== '' };
}

/** Provenance is a record, not a requirement: a library that will not load is recorded as null. */
const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

export async function libraryVersions(): Promise<LibraryVersions> {
  const [loupe, libtorch, onnxruntime, sharp] = await Promise.all([
    orNull(
      readFile(path.join(loupeRoot, 'package.json'), 'utf8').then(
        (text) => (JSON.parse(text) as { version: string }).version,
      ),
    ),
    // Imported on demand: loading the addon maps libtorch, which only a training process needs.
    orNull(import('../engine/native/load-addon.js').then((m) => m.loadAddon().torchVersion())),
    orNull(import('onnxruntime-node').then((m) => m.env.versions.node ?? m.env.versions.common)),
    orNull(import('sharp').then((m) => `${m.default.versions.sharp} (libvips ${m.default.versions.vips})`)),
  ]);
  const cpus = os.cpus();
  return {
    node: process.versions.node,
    loupe,
    libtorch,
    onnxruntime,
    sharp,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`,
  };
}

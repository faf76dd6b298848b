import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config/load-config.js';
import type { LoupeConfig } from '../config/schema.js';
import { LoupeError } from '../errors/loupe-error.js';
import { FsBlobStore, type BlobStore } from '../store/blob-store.js';
import { openDatabase, type Database } from '../store/database.js';
import { loupeYamlTemplate } from './loupe-yaml-template.js';

export const CONFIG_FILE = 'loupe.yaml';
export const STATE_DIR = '.loupe';

/**
 * A workspace is one folder: loupe.yaml plus .loupe/ (the database and the blob store). Everything
 * the CLI, the server and the web app know lives there, so backing a project up is copying it.
 */
export interface Workspace {
  root: string;
  config: LoupeConfig;
  profile: string | undefined;
  db: Database;
  /** The SQLite file behind `db`, for threads that open their own connection. */
  dbFile: string;
  blobs: BlobStore;
  /** Where a command may keep derived files (reports, exports) inside the workspace. */
  stateDir: string;
  close(): Promise<void>;
}

export async function initWorkspace(
  dir: string,
  options: { name?: string } = {},
): Promise<{ root: string; created: boolean }> {
  const root = path.resolve(dir);
  const configFile = path.join(root, CONFIG_FILE);
  const created = !existsSync(configFile);
  await mkdir(path.join(root, STATE_DIR, 'blobs'), { recursive: true });
  if (created)
    await writeFile(configFile, loupeYamlTemplate(options.name ?? path.basename(root)), { flag: 'wx' });
  const db = await openDatabase(path.join(root, STATE_DIR, 'loupe.db'));
  await db.destroy();
  return { root, created };
}

/** The nearest folder at or above `from` holding loupe.yaml. */
export function findWorkspaceRoot(from: string): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    if (existsSync(path.join(dir, CONFIG_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export async function openWorkspace(
  options: { cwd?: string; workspace?: string; profile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Workspace> {
  const start = options.workspace ?? options.cwd ?? process.cwd();
  const root = options.workspace ? path.resolve(options.workspace) : findWorkspaceRoot(start);
  if (!root || !existsSync(path.join(root, CONFIG_FILE))) {
    throw new LoupeError(
      'NO_WORKSPACE',
      `no Loupe workspace at or above ${path.resolve(start)}; create one with \`loupe init\``,
    );
  }
  const { config, profile } = await loadConfig(path.join(root, CONFIG_FILE), {
    profile: options.profile,
    env: options.env,
  });
  const stateDir = path.join(root, STATE_DIR);
  const dbFile = path.join(stateDir, 'loupe.db');
  const db = await openDatabase(dbFile);
  return {
    root,
    config,
    profile,
    db,
    dbFile,
    blobs: new FsBlobStore(path.join(stateDir, 'blobs')),
    stateDir,
    close: () => db.destroy(),
  };
}

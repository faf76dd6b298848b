import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { fsError } from '../errors/fs-error.js';
import { isLoupeError, LoupeError } from '../errors/loupe-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { Model } from './model.js';
import { readSafetensors } from './safetensors.js';
import { saveWeights, WEIGHTS_SPEC_KEY } from './weights-file.js';

/**
 * Checkpoints that resume training exactly. Under a root folder:
 *
 *   epoch-0003/weights.safetensors   parameters and batchnorm statistics, the spec in the metadata
 *   epoch-0003/optimizer.bin         the optimizer's state (momentum, Adam moments and steps)
 *   epoch-0003/rng.bin               the model's dropout generator
 *   epoch-0003/state.json            the trainer's own state: epoch, history, best metric...
 *   latest                           the name of the folder to resume from
 *
 * A folder is written under a hidden temporary name (every file fsynced), renamed into place,
 * and only then does `latest` move to it, so a process killed at any moment leaves a loadable
 * checkpoint. A root has one writer at a time: saving removes other writers' temporary folders.
 */

/** The trainer's state; it must survive JSON unchanged. */
export type CheckpointState = { epoch: number } & Record<string, unknown>;

const FILES = {
  weights: 'weights.safetensors',
  optimizer: 'optimizer.bin',
  rng: 'rng.bin',
  state: 'state.json',
} as const;
const LATEST = 'latest';
const FOLDER = /^epoch-(\d+)$/;
const TEMP_PREFIX = '.tmp-';

/** Debris of saves killed midway: temporary folders, and writeFileAtomic's temporary `latest`. */
function isLeftover(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || (name.startsWith(`.${LATEST}.`) && name.endsWith('.tmp'));
}

/**
 * Saves a checkpoint of the model (whose optimizer must be configured) and the trainer's state,
 * points `latest` at it and keeps only the newest `keep` checkpoints (default 2). Folders of
 * epochs after this one belong to an abandoned run and are removed too. Resolves to the folder.
 * Await it before training on: the model is read once the folder exists.
 */
export async function saveCheckpoint(
  root: string,
  model: Model,
  state: CheckpointState,
  o: { keep?: number } = {},
): Promise<string> {
  const keep = o.keep ?? 2;
  if (!Number.isSafeInteger(keep) || keep < 1)
    throw new LoupeError('INVALID_ARGUMENT', `keep must be a positive integer, got ${keep}`);
  const json = stateJson(state);
  const name = folderName(state.epoch);
  const tmp = path.join(root, `${TEMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await onDisk(tmp, 'checkpoint folder', () => mkdir(tmp, { recursive: true }));
  try {
    await writeFiles(tmp, model, json);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  await publish(root, tmp, name);
  await prune(root, state.epoch, keep);
  return path.join(root, name);
}

/**
 * The checkpoint to resume from: the one `latest` names or, if that is missing or damaged, the
 * newest complete one. Undefined when there is none; CORRUPT_FILE when the only candidates hold
 * an unreadable state.json.
 */
export async function latestCheckpoint(
  root: string,
): Promise<{ dir: string; state: CheckpointState } | undefined> {
  const pointed = await readPointer(root);
  const newestFirst = epochFolders(await listEntries(root)).map((f) => f.name);
  let problem: LoupeError | undefined;
  for (const name of new Set(pointed ? [pointed, ...newestFirst] : newestFirst)) {
    const dir = path.join(root, name);
    const found = await readComplete(dir);
    if (found instanceof LoupeError) problem ??= found;
    else if (found) return { dir, state: found };
  }
  if (problem) throw problem;
  return undefined;
}

/**
 * Loads a checkpoint into a model built from the same spec whose optimizer was configured with
 * the same options (the learning rate is not restored: it comes from the trainer's schedule).
 * Resolves to the trainer's state. A checkpoint of another spec rejects with INVALID_SPEC.
 */
export async function restoreCheckpoint(dir: string, model: Model): Promise<CheckpointState> {
  const file = (f: string) => path.join(dir, f);
  const [state, weights, optimizer, rng] = await Promise.all([
    readState(file(FILES.state)),
    readSafetensors(file(FILES.weights)),
    readBytes(file(FILES.optimizer)),
    readBytes(file(FILES.rng)),
  ]);
  checkSpec(weights.metadata[WEIGHTS_SPEC_KEY], model, file(FILES.weights));
  // The optimizer's state is the likeliest to be refused, so it goes first, before the weights change.
  await model.setOptimizerState(optimizer);
  await model.setRngState(rng);
  await model.setWeights(weights.tensors);
  return state;
}

function folderName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/** The checkpoint folders among names, newest epoch first. */
function epochFolders(names: string[]): { name: string; epoch: number }[] {
  return names
    .map((name) => ({ name, match: FOLDER.exec(name) }))
    .filter((f) => f.match !== null)
    .map((f) => ({ name: f.name, epoch: Number(f.match![1]) }))
    .sort((a, b) => b.epoch - a.epoch);
}

function isState(v: unknown): v is CheckpointState {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { epoch } = v as { epoch?: unknown };
  return typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0;
}

/** Refuses state that JSON would silently change (undefined, NaN, a Map...): the resume would differ. */
function stateJson(state: CheckpointState): string {
  if (!isState(state))
    throw new LoupeError('INVALID_ARGUMENT', 'checkpoint state needs an epoch that is an integer ≥ 0');
  let json: string;
  try {
    json = JSON.stringify(state, null, 2);
  } catch (e) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `checkpoint state is not JSON: ${(e as Error).message}`,
      undefined,
      {
        cause: e,
      },
    );
  }
  if (!isDeepStrictEqual(JSON.parse(json), state))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      'checkpoint state must survive JSON unchanged (no undefined, NaN, Infinity, Map, Set, Date or class instances)',
    );
  return `${json}\n`;
}

async function onDisk<T>(file: string, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw fsError(e, file, { what });
  }
}

/**
 * The three model reads are issued with no await between them, so they sit next to each other
 * in the model's call queue and form one consistent snapshot. allSettled, so that no write is
 * still running when a failed save removes the folder.
 */
async function writeFiles(dir: string, model: Model, json: string): Promise<void> {
  const file = (f: string) => path.join(dir, f);
  const results = await Promise.allSettled([
    saveWeights(model, file(FILES.weights)),
    model.getOptimizerState().then((b) => writeFileAtomic(file(FILES.optimizer), b)),
    model.getRngState().then((b) => writeFileAtomic(file(FILES.rng), b)),
    writeFileAtomic(file(FILES.state), Buffer.from(json)),
  ]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw fsError(failed.reason, dir, { what: 'checkpoint folder' });
}

/** Moves the complete temporary folder into place, then `latest` onto it. */
async function publish(root: string, tmp: string, name: string): Promise<void> {
  const target = path.join(root, name);
  try {
    await rename(tmp, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw fsError(e, target, { what: 'checkpoint folder' });
    await replace(root, tmp, target);
  }
  await syncDir(root);
  await writeFileAtomic(path.join(root, LATEST), Buffer.from(`${name}\n`));
}

/**
 * The epoch's folder exists (saved twice, or left by a run killed before moving `latest`) and
 * `latest` may name it. Pointing `latest` at the complete temporary folder first means there is
 * no moment without a loadable checkpoint, whatever `keep` is.
 */
async function replace(root: string, tmp: string, target: string): Promise<void> {
  await writeFileAtomic(path.join(root, LATEST), Buffer.from(`${path.basename(tmp)}\n`));
  const retired = `${tmp}-old`;
  await onDisk(target, 'checkpoint folder', async () => {
    await rename(target, retired);
    await rename(tmp, target);
  });
  await onDisk(retired, 'old checkpoint folder', () => rm(retired, { recursive: true, force: true }));
}

/** Persists renames in a folder; some filesystems refuse to fsync a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  await fh?.sync().catch(() => undefined);
  await fh?.close();
}

async function prune(root: string, current: number, keep: number): Promise<void> {
  const entries = await listEntries(root);
  const folders = epochFolders(entries);
  const older = folders.filter((f) => f.epoch < current).slice(keep - 1);
  const abandoned = folders.filter((f) => f.epoch > current);
  for (const n of [
    ...older.map((f) => f.name),
    ...abandoned.map((f) => f.name),
    ...entries.filter(isLeftover),
  ]) {
    const doomed = path.join(root, n);
    await onDisk(doomed, 'old checkpoint', () => rm(doomed, { recursive: true, force: true }));
  }
}

/** Names in root; none when root does not exist yet. */
async function listEntries(root: string): Promise<string[]> {
  try {
    return await readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(e, root, { what: 'checkpoint folder' });
  }
}

/** The folder `latest` names, if it is a plain name in root. */
async function readPointer(root: string): Promise<string | undefined> {
  const file = path.join(root, LATEST);
  let name: string;
  try {
    name = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(e, file, { what: 'checkpoint pointer' });
  }
  return name && name !== '.' && name !== '..' && name === path.basename(name) ? name : undefined;
}

/**
 * The folder's state if all four files are there and state.json is sound; undefined if it is
 * missing or incomplete; the CORRUPT_FILE error if state.json is damaged.
 */
async function readComplete(dir: string): Promise<CheckpointState | LoupeError | undefined> {
  for (const f of [FILES.weights, FILES.optimizer, FILES.rng]) {
    if (!(await isFile(path.join(dir, f)))) return undefined;
  }
  try {
    return await readState(path.join(dir, FILES.state));
  } catch (e) {
    if (isLoupeError(e, 'CORRUPT_FILE')) return e;
    if (isLoupeError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw fsError(e, file, { what: 'checkpoint file' });
  }
}

async function readState(file: string): Promise<CheckpointState> {
  const text = await onDisk(file, 'checkpoint state', () => readFile(file, 'utf8'));
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} is not valid JSON: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
  if (!isState(state))
    throw new LoupeError('CORRUPT_FILE', `${file} is not a checkpoint state (no integer "epoch")`, { file });
  return state;
}

function readBytes(file: string): Promise<Buffer> {
  return onDisk(file, 'checkpoint file', () => readFile(file));
}

/** The weights' recorded spec must be the model's (bar its name, which changes no computation). */
function checkSpec(stored: string | undefined, model: Model, file: string): void {
  if (!stored)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} does not record its model spec (no "${WEIGHTS_SPEC_KEY}" metadata)`,
      {
        file,
      },
    );
  let spec: unknown;
  try {
    spec = JSON.parse(stored);
  } catch (e) {
    throw new LoupeError('CORRUPT_FILE', `${file} holds an unreadable model spec`, { file }, { cause: e });
  }
  const comparable = (s: unknown) => ({ ...(JSON.parse(JSON.stringify(s)) as object), name: '' });
  if (!isDeepStrictEqual(comparable(spec), comparable(model.spec)))
    throw new LoupeError(
      'INVALID_SPEC',
      `the checkpoint ${path.dirname(file)} was saved from another model spec; build the model from the same spec to resume`,
      { file },
    );
}

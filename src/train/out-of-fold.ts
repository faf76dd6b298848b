import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageSet } from '../data/image-set.js';
import type { Model } from '../engine/model.js';
import { fsError } from '../errors/fs-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { runArtifacts, type RunHandle } from '../track/run-store.js';
import type { Database } from '../store/database.js';

export const OUT_OF_FOLD_FILE = 'oof.json';

/** Probabilities a model gave items it never trained on, as a cross-validation collects them. */
export interface OutOfFold {
  classes: string[];
  ids: string[];
  /** ids.length × classes.length, row-major. */
  probs: number[];
}

const CHUNK = 256;

/** A fold's model on its own held-out fold: the out-of-fold probabilities of those items. */
export async function heldOutProbabilities(model: Model, set: ImageSet): Promise<Float32Array> {
  const size = set.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(set.count * set.classes.length);
  for (let start = 0; start < set.count; start += CHUNK) {
    const n = Math.min(CHUNK, set.count - start);
    const probs = await model.forward(set.x.subarray(start * size, (start + n) * size), n, 'probs');
    out.set(probs.data, start * set.classes.length);
  }
  return out;
}

export async function writeOutOfFold(run: RunHandle, oof: OutOfFold): Promise<void> {
  const file = path.join(run.dir, OUT_OF_FOLD_FILE);
  await writeFileAtomic(file, Buffer.from(JSON.stringify(oof))).catch((e: unknown) => {
    throw fsError(e, file);
  });
  await run.addArtifact(OUT_OF_FOLD_FILE, file, 'report');
}

/** A run's out-of-fold probabilities, or undefined when it has none. */
export async function readOutOfFold(
  db: Database,
  root: string,
  runId: string,
): Promise<OutOfFold | undefined> {
  const artifact = (await runArtifacts(db, runId)).find((a) => a.name === OUT_OF_FOLD_FILE);
  if (!artifact) return undefined;
  const file = path.join(root, artifact.path);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as OutOfFold;
  } catch (e) {
    throw fsError(e, file);
  }
}

/** Every fold's held-out probabilities as one set covering all the items the folds validated. */
export function mergeOutOfFold(parts: readonly OutOfFold[]): OutOfFold {
  return {
    classes: parts[0]?.classes ?? [],
    ids: parts.flatMap((p) => p.ids),
    probs: parts.flatMap((p) => p.probs),
  };
}

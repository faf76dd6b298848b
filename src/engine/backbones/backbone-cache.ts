import { fsError } from '../../errors/fs-error.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSafetensors, serializeSafetensors } from '../safetensors.js';
import { resolveSpec } from '../spec/resolve.js';
import type { ModelSpecInput } from '../spec/schema.js';
import type { TensorMap } from '../tensor.js';

/**
 * Converted backbones on disk: `<cacheDir>/backbones/<name>/<key>/` holding spec.json,
 * weights.safetensors and manifest.json (the SHA-256 of the other two). The key hashes the
 * source files and the converter version, so a new nsfwjs or a fixed converter never reuses a
 * stale entry. An entry appears by renaming a finished directory into place, so readers never
 * see half of one; anything that fails its hashes is treated as absent and rebuilt.
 */

const MANIFEST_FORMAT = 'loupe.backbone-cache/1';
const SPEC_FILE = 'spec.json';
const WEIGHTS_FILE = 'weights.safetensors';
const MANIFEST_FILE = 'manifest.json';

export interface CachedConversion {
  spec: ModelSpecInput;
  weights: TensorMap;
}

/** LOUPE_CACHE_DIR, else $XDG_CACHE_HOME/loupe, else ~/.cache/loupe. */
export function defaultCacheDir(): string {
  if (process.env.LOUPE_CACHE_DIR) return path.resolve(process.env.LOUPE_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'loupe');
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Cache key of a conversion: the converter version and every source file's name and bytes. */
export async function conversionKey(converterVersion: number, sources: string[]): Promise<string> {
  const h = createHash('sha256').update(`converter ${converterVersion}\n`);
  for (const file of sources) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw fsError(e, file, { what: 'backbone source' });
    }
    h.update(`${path.basename(file)} ${bytes.length}\n`).update(bytes);
  }
  return h.digest('hex').slice(0, 32);
}

export function entryDir(cacheDir: string, name: string, key: string): string {
  return path.join(cacheDir, 'backbones', name, key);
}

/**
 * Reads an entry. Resolves to undefined when there is none, and to `{ corrupt }` when one exists
 * but fails its hashes, its parse or its shapes.
 */
export async function readCacheEntry(
  dir: string,
): Promise<CachedConversion | { corrupt: string } | undefined> {
  let manifestBytes: Buffer;
  try {
    manifestBytes = await readFile(path.join(dir, MANIFEST_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { corrupt: `manifest unreadable: ${(e as Error).message}` };
  }
  try {
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
      format?: unknown;
      sha256?: Record<string, unknown>;
    };
    if (
      manifest.format !== MANIFEST_FORMAT ||
      typeof manifest.sha256 !== 'object' ||
      manifest.sha256 === null
    ) {
      return { corrupt: 'manifest has an unknown format' };
    }
    const files: Record<string, Buffer> = {};
    for (const name of [SPEC_FILE, WEIGHTS_FILE]) {
      const bytes = await readFile(path.join(dir, name));
      if (sha256(bytes) !== manifest.sha256[name])
        return { corrupt: `${name} does not match its recorded SHA-256` };
      files[name] = bytes;
    }
    const spec = JSON.parse(files[SPEC_FILE]!.toString('utf8')) as ModelSpecInput;
    const { tensors } = parseSafetensors(files[WEIGHTS_FILE]!, path.join(dir, WEIGHTS_FILE));
    const declared = resolveSpec(spec).tensors;
    for (const [name, shape] of Object.entries(declared)) {
      if (tensors.get(name)?.shape.join() !== shape.join())
        return { corrupt: `weights do not fit the spec at ${name}` };
    }
    if (tensors.size !== Object.keys(declared).length)
      return { corrupt: 'weights hold tensors the spec does not declare' };
    return { spec, weights: tensors };
  } catch (e) {
    return { corrupt: (e as Error).message };
  }
}

/** Writes an entry atomically; if another process finished the same entry first, keeps theirs. */
export async function writeCacheEntry(
  dir: string,
  conversion: CachedConversion,
  metadata: Record<string, string>,
): Promise<void> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = path.join(
    parent,
    `.${path.basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  await mkdir(tmp);
  try {
    const spec = Buffer.from(`${JSON.stringify(conversion.spec, null, 1)}\n`, 'utf8');
    const weights = serializeSafetensors(conversion.weights, metadata);
    await writeFile(path.join(tmp, SPEC_FILE), spec);
    await writeFile(path.join(tmp, WEIGHTS_FILE), weights);
    const manifest = {
      format: MANIFEST_FORMAT,
      sha256: { [SPEC_FILE]: sha256(spec), [WEIGHTS_FILE]: sha256(weights) },
      createdAt: new Date().toISOString(),
    };
    // The manifest is written last: an entry without one is incomplete by construction.
    await writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    try {
      await rename(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Removes a corrupt entry so it can be rebuilt. */
export async function removeCacheEntry(dir: string): Promise<void> {
  // Rename first so a concurrent reader sees the entry gone, never half-deleted.
  const doomed = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.doomed`;
  try {
    await rename(dir, doomed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(doomed, { recursive: true, force: true });
}

import { LoupeError } from '../../errors/loupe-error.js';
import type { Backbone, BackboneDefinition } from './backbone.js';
import {
  conversionKey,
  defaultCacheDir,
  entryDir,
  readCacheEntry,
  removeCacheEntry,
  writeCacheEntry,
} from './backbone-cache.js';
import { mobileNetV2 } from './mobilenet-v2/nsfwjs-mobilenet-v2.js';

/** Pretrained backbones that install offline, by name. */
const BACKBONES: Record<string, BackboneDefinition> = {
  [mobileNetV2.name]: mobileNetV2,
};

export interface LoadBackboneOptions {
  /** Root of Loupe's cache; defaults to defaultCacheDir() (LOUPE_CACHE_DIR or ~/.cache/loupe). */
  cacheDir?: string;
  /** Source files to convert instead of the installed ones (tests, pinned copies). */
  sources?: string[];
}

export function listBackbones(): string[] {
  return Object.keys(BACKBONES);
}

export function backboneDefinition(name: string): BackboneDefinition {
  const def = Object.hasOwn(BACKBONES, name) ? BACKBONES[name] : undefined;
  if (!def)
    throw new LoupeError(
      'NOT_FOUND',
      `no backbone named "${name}"; available: ${listBackbones().join(', ')}`,
    );
  return def;
}

/**
 * Returns a backbone's spec and weights, converting its source on first use and caching the
 * result; later calls read the cache (verified against its hashes) and a damaged entry is
 * converted again rather than trusted.
 */
export async function loadBackbone(name: string, options: LoadBackboneOptions = {}): Promise<Backbone> {
  const def = backboneDefinition(name);
  const sources = options.sources ?? def.sources();
  const key = await conversionKey(def.converterVersion, sources);
  const dir = entryDir(options.cacheDir ?? defaultCacheDir(), def.name, key);
  const base = { name: def.name, preprocessing: def.preprocessing, taps: def.taps, info: { ...def.info } };

  const cached = await readCacheEntry(dir);
  if (cached && !('corrupt' in cached)) return { ...base, ...cached, cache: { dir, hit: true } };
  if (cached) await removeCacheEntry(dir);

  const converted = await def.convert(sources);
  await writeCacheEntry(dir, converted, {
    backbone: def.name,
    converter_version: String(def.converterVersion),
    source_key: key,
  });
  return {
    ...base,
    ...converted,
    cache: { dir, hit: false, ...(cached ? { rebuilt: cached.corrupt } : {}) },
  };
}

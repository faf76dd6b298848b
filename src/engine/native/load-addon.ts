import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { NativeAddon } from '../../../native/index.js';
import { LoupeError } from '../../errors/loupe-error.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const addonPath = path.join(repoRoot, 'native/build/Release/loupe_native.node');

let addon: NativeAddon | undefined;

/**
 * Loads the libtorch addon once. OpenBLAS reads its thread count when the library is mapped,
 * and its threads fight libtorch's own pool (training drops to a quarter of its speed), so the
 * variable must be set before the first require.
 */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  if (!existsSync(addonPath)) {
    throw new LoupeError(
      'NATIVE_UNAVAILABLE',
      `the native engine is not built (${path.relative(process.cwd(), addonPath)} is missing); run \`make setup\``,
    );
  }
  const require = createRequire(import.meta.url);
  addon = require(addonPath) as NativeAddon;
  // libtorch's OpenMP default here is one thread whatever the core count; LOUPE_THREADS overrides.
  const threads = Number(process.env.LOUPE_THREADS);
  addon.setNumThreads(Number.isInteger(threads) && threads > 0 ? threads : availableParallelism());
  return addon;
}

/**
 * Runs every benchmark in one go (`make bench`) and writes bench/results/<name>.json plus a
 * Markdown summary, bench/results/README.md, which it also prints.
 *
 *   node --import tsx bench/run.ts [--quick] [--only fashion-mnist,mobilenet-v2] [--threads 2] [--out DIR]
 *
 * --quick shrinks every benchmark so the pipeline itself can be checked in seconds; its results
 * go to a temporary folder unless --out says otherwise, so they never replace real numbers.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { loadAddon } from '../src/engine/native/load-addon.js';
import { LoupeError, isLoupeError } from '../src/errors/loupe-error.js';
import { benchDownload } from './download.js';
import { benchDrift } from './drift.js';
import { benchIngest } from './ingest.js';
import { benchFashionMnist } from './fashion-mnist.js';
import { benchFashionMnistScratch } from './fashion-mnist-scratch.js';
import { machineInfo } from './lib/machine.js';
import { renderReport, type BenchResult } from './lib/report.js';
import { benchMobileNetV2 } from './mobilenet-v2.js';
import { benchProbeTune } from './probe-tune.js';
import { benchProbeVsScratch } from './probe-vs-scratch.js';
import { benchServe } from './serve.js';

// Both sides run with the same BLAS setting, set before the addon loads and inherited by the
// Python baselines: unset, OpenBLAS threads fight libtorch's (see DESIGN.md).
process.env.OPENBLAS_NUM_THREADS ??= '1';

const BENCHES = {
  'fashion-mnist': benchFashionMnist,
  'fashion-mnist-scratch': benchFashionMnistScratch,
  'mobilenet-v2': benchMobileNetV2,
  'probe-tune': benchProbeTune,
  'probe-vs-scratch': benchProbeVsScratch,
  download: benchDownload,
  ingest: benchIngest,
  serve: benchServe,
  drift: benchDrift,
} as const;
type BenchName = keyof typeof BENCHES;

const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      threads: { type: 'string', default: '2' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string' },
    },
  });
  const threads = Number(values.threads);
  const seed = Number(values.seed);
  if (!Number.isInteger(threads) || threads < 1)
    throw new LoupeError('INVALID_ARGUMENT', `--threads must be a positive integer, got ${values.threads}`);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new LoupeError('INVALID_ARGUMENT', `--seed must be a non-negative integer, got ${values.seed}`);
  const names = (values.only?.split(',').map((s) => s.trim()) ?? Object.keys(BENCHES)) as BenchName[];
  for (const n of names) {
    if (!(n in BENCHES))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `unknown benchmark "${n}"; there are: ${Object.keys(BENCHES).join(', ')}`,
      );
  }
  const outDir =
    values.out ?? (values.quick ? path.join(os.tmpdir(), 'loupe-bench-quick') : path.join(here, 'results'));

  const addon = loadAddon();
  addon.setNumThreads(threads);
  const machine = machineInfo(addon.torchVersion());
  const progress = Boolean(process.stderr.isTTY) && !values.quick;

  await mkdir(outDir, { recursive: true });
  let failed = 0;
  for (const name of names) {
    console.error(`bench ${name}${values.quick ? ' (quick)' : ''} …`);
    try {
      const result = await BENCHES[name]({ quick: values.quick, threads, seed, machine, progress, outDir });
      await writeFile(path.join(outDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
      console.error(`bench ${name} done in ${result.durationS.toFixed(1)} s`);
    } catch (e) {
      failed++;
      console.error(`bench ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  // The summary covers every result in the folder, so running one benchmark keeps the others' rows.
  const results: BenchResult[] = [];
  for (const file of (await readdir(outDir)).filter((f) => f.endsWith('.json')).sort()) {
    results.push(JSON.parse(await readFile(path.join(outDir, file), 'utf8')) as BenchResult);
  }
  const report = renderReport(results);
  await writeFile(path.join(outDir, 'README.md'), report);
  console.log(report);
  console.error(`results in ${path.relative(process.cwd(), outDir) || '.'}`);
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(isLoupeError(e) ? `error: ${e.message}` : e);
  process.exitCode = isLoupeError(e) ? e.exitCode : 1;
}

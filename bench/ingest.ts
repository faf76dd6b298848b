import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FASHION_MNIST_DIR } from '../src/data/datasets/fashion-mnist.js';
import { readIdxPair } from '../src/data/sources/idx.js';
import type { BenchOptions } from './fashion-mnist.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'lib/ingest-child.ts');

interface ChildResult {
  items: number;
  seconds: number;
  convertS: number;
  validationS: number;
  maxRssMiB: number;
}

/** Writes the first n Fashion-MNIST images (train, then test) as an IDX pair. */
async function idxOf(n: number, dir: string): Promise<[string, string]> {
  const train = await readIdxPair(
    path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'),
    path.join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'),
  );
  const test = await readIdxPair(
    path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'),
    path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'),
  );
  const pixels = Buffer.concat([train.pixels, test.pixels]).subarray(0, n * 784);
  const labels = Buffer.concat([train.labels, test.labels]).subarray(0, n);
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const files: [string, string] = [path.join(dir, `images-${n}.idx`), path.join(dir, `labels-${n}.idx`)];
  await writeFile(files[0], Buffer.concat([header(0x803, [n, 28, 28]), pixels]));
  await writeFile(files[1], Buffer.concat([header(0x801, [n]), labels]));
  return files;
}

async function child(dir: string, files: [string, string], mode: 'full' | 'convert'): Promise<ChildResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', CHILD, dir, ...files, mode],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
}

/**
 * Ingest of Fashion-MNIST end to end (IDX → PNG blobs → validation → splits → version), against
 * the floor every ingest pays (encoding and storing the images), and peak memory as the dataset
 * grows, each size in its own process.
 */
export async function benchIngest(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const sizes = o.quick ? [500, 2_000] : [10_000, 35_000, 70_000];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-ingest-'));
  const sides: Record<string, Side> = {};
  try {
    const memory: Record<string, number> = {};
    let full: ChildResult | undefined;
    for (const n of sizes) {
      const files = await idxOf(n, tmp);
      const r = await child(path.join(tmp, `ws-${n}`), files, 'full');
      memory[n] = r.maxRssMiB;
      full = r;
    }
    const largest = sizes.at(-1)!;
    const floor = await child(path.join(tmp, 'floor'), await idxOf(largest, tmp), 'convert');
    sides[`loupe ingest (${largest.toLocaleString('en-US')} images)`] = {
      images_per_s: full!.items / full!.seconds,
      seconds: full!.seconds,
      validation_s: full!.validationS,
      max_rss_mib: full!.maxRssMiB,
    };
    sides['floor: encode + store only'] = {
      images_per_s: largest / floor.convertS,
      seconds: floor.convertS,
      max_rss_mib: floor.maxRssMiB,
    };
    for (const n of sizes.slice(0, -1))
      sides[`loupe ingest (${n.toLocaleString('en-US')} images)`] = { max_rss_mib: memory[n]! };
    return {
      name: 'ingest',
      title: `Dataset ingest: Fashion-MNIST IDX → validated dataset version`,
      ...runFacts(o, started),
      config: { sizes, source: FASHION_MNIST_DIR },
      columns: [
        { key: 'images_per_s', label: 'images/s', digits: 0 },
        { key: 'seconds', label: 'seconds', digits: 1 },
        { key: 'max_rss_mib', label: 'peak memory (MiB)', digits: 0 },
      ],
      sides,
      ratios: {
        ingest_ratio_vs_encode_store_floor: full!.items / full!.seconds / (largest / floor.convertS),
        [`peak_memory_ratio_${largest}_vs_${sizes[0]}`]: memory[largest]! / memory[sizes[0]!]!,
      },
      notes: [
        "Each size runs in a fresh process; peak memory is that process's own high-water mark (VmHWM on Linux: getrusage's maxRSS would also count this parent's memory at the fork). The floor converts the same images to PNG blobs and stops.",
        'Full ingest = IDX decode, PNG encode, content-addressed store, staging in SQLite, validation (decode, checks, perceptual hashes, duplicates), seeded splits and folds, manifest and version.',
        'Items wait in temporary SQLite tables and the per-item state is typed arrays (tens of bytes an item), so peak memory stays nearly flat as the dataset grows; images and the IDX file are never all in memory.',
      ],
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

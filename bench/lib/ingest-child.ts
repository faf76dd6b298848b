/**
 * One measured ingest in a fresh process, so its peak memory is its own (bench/ingest.ts).
 *
 *   node --import tsx bench/lib/ingest-child.ts <workspace> <images.idx> <labels.idx> full|convert
 *
 * `convert` stops after the IDX images are encoded and stored (the floor every ingest pays);
 * `full` goes on through validation, splits and the version. Prints one JSON line.
 */
import { candidatesFromIdx } from '../../src/data/ingest/from-idx.js';
import { ingest } from '../../src/data/ingest/ingest.js';
import { FASHION_MNIST_CLASSES } from '../../src/data/datasets/fashion-mnist.js';
import { initWorkspace, openWorkspace } from '../../src/workspace/workspace.js';

const [dir, images, labels, mode] = process.argv.slice(2);
if (!dir || !images || !labels || !mode)
  throw new Error('usage: ingest-child.ts <workspace> <images> <labels> full|convert');
await initWorkspace(dir);
const ws = await openWorkspace({ workspace: dir, env: {} });
const started = performance.now();
const found = await candidatesFromIdx({ images, labels, classNames: [...FASHION_MNIST_CLASSES] }, ws.blobs);
const convertS = (performance.now() - started) / 1000;
const report = mode === 'full' ? await ingest(ws, found, { dataset: 'bench', source: 'bench' }) : undefined;
await ws.close();
console.log(
  JSON.stringify({
    items: report?.items.after ?? found.candidates.length,
    seconds: (performance.now() - started) / 1000,
    convertS,
    validationS: report?.validation?.seconds.total ?? 0,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);

/**
 * One measured ingest in a fresh process, so its peak memory is its own (bench/ingest.ts).
 *
 *   node --import tsx bench/lib/ingest-child.ts <workspace> <images.idx> <labels.idx> full|convert
 *
 * `convert` stops after the IDX images are encoded and stored (the floor every ingest pays);
 * `full` streams them through staging, validation, splits and the version, as `loupe ingest`
 * does. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { idxCandidates } from '../../src/data/ingest/from-idx.js';
import { ingest } from '../../src/data/ingest/ingest.js';
import { FASHION_MNIST_CLASSES } from '../../src/data/datasets/fashion-mnist.js';
import { initWorkspace, openWorkspace } from '../../src/workspace/workspace.js';

/**
 * Peak resident memory in MiB. On Linux the high-water mark of this process image (VmHWM):
 * getrusage's maxRSS also counts the parent's memory at the fork that started this process,
 * which would make every size look as large as the benchmark's parent.
 */
function peakRssMiB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // Not Linux: getrusage is the best there is.
  }
  return process.resourceUsage().maxRSS / 1024;
}

const [dir, images, labels, mode] = process.argv.slice(2);
if (!dir || !images || !labels || !mode)
  throw new Error('usage: ingest-child.ts <workspace> <images> <labels> full|convert');
await initWorkspace(dir);
const ws = await openWorkspace({ workspace: dir, env: {} });
const started = performance.now();
const source = idxCandidates({ images, labels, classNames: [...FASHION_MNIST_CLASSES] }, ws.blobs);
let items = 0;
let convertS = 0;
let validationS = 0;
if (mode === 'full') {
  const report = await ingest(ws, source, { dataset: 'bench', source: 'bench' });
  items = report.items.after;
  validationS = report.validation?.seconds.total ?? 0;
} else {
  await source(async () => {
    items++;
  });
  convertS = (performance.now() - started) / 1000;
}
await ws.close();
console.log(
  JSON.stringify({
    items,
    seconds: (performance.now() - started) / 1000,
    convertS,
    validationS,
    maxRssMiB: peakRssMiB(),
  }),
);

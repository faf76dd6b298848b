import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { subset } from '../../data/image-set.js';
import { listImageFolder, loadImageFolder } from '../../data/sources/image-folder.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { Model } from '../../engine/model.js';
import { writeOnnxFile } from '../../engine/onnx/export-onnx.js';
import { OnnxSession } from '../../engine/onnx/onnx-session.js';
import { saveWeights } from '../../engine/weights-file.js';
import { smallCnnSpec } from '../../engine/spec/families/vgg.js';
import { evaluate, fit, type EpochResult } from '../../train/fit.js';
import { seededRandom, shuffledIndices } from '../../train/random.js';
import { interruptible } from '../interrupt.js';
import { progressBar } from '../progress.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface DemoOptions {
  data: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Where the trained weights and the ONNX model are written. */
  out: string;
  log?: (line: string) => void;
  /** Aborting stops training after the batch in flight. */
  signal?: AbortSignal;
}

export interface DemoResult {
  classes: string[];
  history: EpochResult[];
  testAccuracy: number;
  onnxTestAccuracy: number;
  onnxFile: string;
  weightsFile: string;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/**
 * The loop as far as it exists: load the bundled sample, train a small CNN, report its test
 * accuracy, export it to ONNX and check that ONNX Runtime gives the same answers.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? console.log;
  const t0 = performance.now();
  const listing = await listImageFolder(o.data);
  const sets = await loadImageFolder(listing, {
    width: 28,
    height: 28,
    channelOrder: 'gray',
    resize: { method: 'sharp', kernel: 'linear' },
  });
  if (!sets.train || !sets.test)
    throw new LoupeError('NOT_FOUND', `${o.data} needs train/ and test/ folders`);
  // Hold out a tenth of train for per-epoch validation; the test split is only looked at once.
  const order = shuffledIndices(sets.train.count, seededRandom(o.seed));
  const nVal = Math.round(sets.train.count / 10);
  const val = subset(sets.train, order.subarray(0, nVal));
  const train = subset(sets.train, order.subarray(nVal));
  log(
    `data     ${path.relative(process.cwd(), o.data) || '.'}: ${train.count} train, ${val.count} validation, ${sets.test.count} test images, ${listing.classes.length} classes (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  const model = await Model.create(
    smallCnnSpec({ channels: 1, height: 28, width: 28 }, listing.classes.length),
    { seed: o.seed },
  );
  log(
    `model    ${model.spec.name}: conv32-pool-conv64-pool-dense128-dense${listing.classes.length}, ${model.spec.parameterCount.toLocaleString('en')} parameters`,
  );
  const batches = Math.ceil(train.count / o.batchSize);
  const newBar = () => progressBar(batches, 'batches', ' | loss {loss}');
  let bar = newBar();
  const history = await fit(model, train, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: { type: 'adam', lr: o.lr },
    schedule: { schedule: { type: 'cosine' }, warmupSteps: batches },
    seed: o.seed,
    validation: val,
    signal: o.signal,
    onProgress: (p) => bar.update(p.batch, { loss: p.loss.toFixed(3) }),
    onEpoch: (e) => {
      bar.stop();
      log(
        `epoch ${String(e.epoch).padStart(2)}/${o.epochs}  loss ${e.trainLoss.toFixed(4)}  val acc ${pct(e.valAccuracy ?? 0)}  ${Math.round(e.imagesPerSecond).toLocaleString('en')} img/s  ${e.seconds.toFixed(1)} s`,
      );
      if (e.epoch < o.epochs) bar = newBar();
    },
  }).finally(() => bar.stop());
  const test = await evaluate(model, sets.test);
  log(`test     accuracy ${pct(test.accuracy)} on ${sets.test.count} held-out images (libtorch)`);

  // From here on inference is ONNX Runtime's: export, reload and check it agrees.
  await mkdir(o.out, { recursive: true });
  const weightsFile = path.join(o.out, 'model.safetensors');
  const onnxFile = path.join(o.out, 'model.onnx');
  const labels = JSON.stringify(listing.classes);
  await saveWeights(model, weightsFile, { labels });
  await writeOnnxFile(onnxFile, model.spec, await model.getWeights(), { metadata: { labels } });
  await model.dispose();
  const session = await OnnxSession.open(onnxFile);
  const ortTest = await evaluate(
    async (x, n) => (await session.run(x, n, { outputs: ['logits'] })).get('logits')!.data,
    sets.test,
  );
  session.dispose();
  const agree = ortTest.predictions.filter((p, i) => p === test.predictions[i]).length / sets.test.count;
  log(
    `onnx     accuracy ${pct(ortTest.accuracy)} with ONNX Runtime (${pct(agree)} of predictions identical to libtorch), ${Math.round(ortTest.imagesPerSecond).toLocaleString('en')} img/s`,
  );
  log(`saved    ${path.relative(process.cwd(), weightsFile)}, ${path.relative(process.cwd(), onnxFile)}`);
  return {
    classes: listing.classes,
    history,
    testAccuracy: test.accuracy,
    onnxTestAccuracy: ortTest.accuracy,
    onnxFile,
    weightsFile,
  };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('train a small CNN on the bundled Fashion-MNIST sample and report its test accuracy')
    .option(
      '--data <dir>',
      'folder with train/ and test/ class folders',
      path.join(repoRoot, 'samples/fashion-mnist'),
    )
    .option('--epochs <n>', 'training epochs', (v) => Number.parseInt(v, 10), 8)
    .option('--batch-size <n>', 'batch size', (v) => Number.parseInt(v, 10), 64)
    .option('--lr <rate>', 'peak learning rate (Adam, cosine decay)', Number.parseFloat, 2e-3)
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 1)
    .option('--out <dir>', 'where to write model.safetensors and model.onnx', '.loupe/demo')
    .action(async (o: DemoOptions) => {
      await interruptible((signal) => runDemo({ ...o, signal }));
    });
}

import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageSet } from '../../data/image-set.js';
import { candidatesFromFolder } from '../../data/ingest/from-folder.js';
import { ingest } from '../../data/ingest/ingest.js';
import { loadImageSets } from '../../data/versions/load-image-sets.js';
import { readVersionItems, resolveVersion } from '../../data/versions/version-store.js';
import { initWorkspace, openWorkspace } from '../../workspace/workspace.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { Model } from '../../engine/model.js';
import { writeOnnxFile } from '../../engine/onnx/export-onnx.js';
import { OnnxSession } from '../../engine/onnx/onnx-session.js';
import { saveWeights } from '../../engine/weights-file.js';
import { smallCnnSpec } from '../../engine/spec/families/vgg.js';
import { evaluate, fit, type EpochResult } from '../../train/fit.js';
import { interruptible } from '../interrupt.js';
import { progressBar } from '../progress.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface DemoOptions {
  data: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** The demo's workspace (created if needed); the model goes to its .loupe/demo/. */
  workspace: string;
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
  // The loop as far as it exists: a workspace, the sample ingested into a dataset version, and
  // the model trained on that version's splits.
  await initWorkspace(o.workspace, { name: 'loupe-demo' });
  const ws = await openWorkspace({ workspace: o.workspace, env: {} });
  try {
    const t0 = performance.now();
    const report = await ingest(ws, await candidatesFromFolder(path.resolve(o.data), ws.blobs), {
      dataset: 'fashion-sample',
      source: `folder ${o.data}`,
    });
    log(
      `dataset  ${report.dataset} @ ${report.version.slice(0, 12)} in ${path.relative(process.cwd(), ws.root) || '.'}: ${report.items.after} images ${report.created ? 'ingested and validated' : '(already ingested)'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const row = await resolveVersion(ws.db, report.version);
    const { classes, sets } = await loadImageSets(await readVersionItems(ws, row), ws.blobs, {
      width: 28,
      height: 28,
      channelOrder: 'gray',
      resize: { method: 'sharp', kernel: 'linear' },
    });
    const { train, val, test } = sets;
    if (!train || !val || !test)
      throw new LoupeError('NOT_FOUND', `${o.data} needs images for train, validation and test`);
    log(
      `splits   ${train.count} train, ${val.count} validation, ${test.count} test images, ${classes.length} classes`,
    );
    return await trainAndExport(o, path.join(ws.stateDir, 'demo'), classes, train, val, test, log);
  } finally {
    await ws.close();
  }
}

async function trainAndExport(
  o: DemoOptions,
  out: string,
  classes: string[],
  train: ImageSet,
  val: ImageSet,
  testSet: ImageSet,
  log: (line: string) => void,
): Promise<DemoResult> {
  const model = await Model.create(smallCnnSpec({ channels: 1, height: 28, width: 28 }, classes.length), {
    seed: o.seed,
  });
  log(
    `model    ${model.spec.name}: conv32-pool-conv64-pool-dense128-dense${classes.length}, ${model.spec.parameterCount.toLocaleString('en')} parameters`,
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
        `epoch ${String(e.epoch).padStart(2)}/${o.epochs}  loss ${e.trainLoss.toFixed(4)}  val acc ${pct(e.val?.accuracy ?? 0)}  ${Math.round(e.imagesPerSecond).toLocaleString('en')} img/s  ${e.seconds.toFixed(1)} s`,
      );
      if (e.epoch < o.epochs) bar = newBar();
    },
  }).finally(() => bar.stop());
  const test = await evaluate(model, testSet);
  log(`test     accuracy ${pct(test.accuracy)} on ${testSet.count} held-out images (libtorch)`);

  // From here on inference is ONNX Runtime's: export, reload and check it agrees.
  await mkdir(out, { recursive: true });
  const weightsFile = path.join(out, 'model.safetensors');
  const onnxFile = path.join(out, 'model.onnx');
  const labels = JSON.stringify(classes);
  await saveWeights(model, weightsFile, { labels });
  await writeOnnxFile(onnxFile, model.spec, await model.getWeights(), { metadata: { labels } });
  await model.dispose();
  const session = await OnnxSession.open(onnxFile);
  const ortTest = await evaluate(
    async (x, n) => (await session.run(x, n, { outputs: ['logits'] })).get('logits')!.data,
    testSet,
  );
  session.dispose();
  const agree = ortTest.predictions.filter((p, i) => p === test.predictions[i]).length / testSet.count;
  log(
    `onnx     accuracy ${pct(ortTest.accuracy)} with ONNX Runtime (${pct(agree)} of predictions identical to libtorch), ${Math.round(ortTest.imagesPerSecond).toLocaleString('en')} img/s`,
  );
  log(`saved    ${path.relative(process.cwd(), weightsFile)}, ${path.relative(process.cwd(), onnxFile)}`);
  return {
    classes: classes,
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
    .description(
      'ingest the bundled Fashion-MNIST sample into a workspace, train a small CNN on it, report and export it',
    )
    .option(
      '--data <dir>',
      'folder with train/ and test/ class folders',
      path.join(repoRoot, 'samples/fashion-mnist'),
    )
    .option('--epochs <n>', 'training epochs', (v) => Number.parseInt(v, 10), 8)
    .option('--batch-size <n>', 'batch size', (v) => Number.parseInt(v, 10), 64)
    .option('--lr <rate>', 'peak learning rate (Adam, cosine decay)', Number.parseFloat, 2e-3)
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 1)
    .option('--workspace-dir <dir>', 'the demo workspace (created if needed)', 'loupe-demo')
    .action(async (o: Omit<DemoOptions, 'workspace'> & { workspaceDir: string }) => {
      await interruptible((signal) => runDemo({ ...o, workspace: o.workspaceDir, signal }));
    });
}

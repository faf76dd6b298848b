import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { subset, type ImageSet } from '../src/data/image-set.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../src/data/datasets/fashion-mnist.js';
import { Model } from '../src/engine/model.js';
import { exportOnnx, ONNX_LOGITS } from '../src/engine/onnx/export-onnx.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { smallCnnSpec } from '../src/engine/spec/families/vgg.js';
import { evaluate, fit, type LogitsFn } from '../src/train/fit.js';
import { addPythonVersions, type MachineInfo } from './lib/machine.js';
import { loadFashionMnistSplit } from './lib/fashion-mnist-split.js';
import { runPythonBaseline } from './lib/python-baseline.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { median, secondsSince } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = path.join(here, 'baselines/pytorch_fashion_mnist.py');
const SIDE = 28;

export interface BenchOptions {
  quick: boolean;
  threads: number;
  seed: number;
  machine: MachineInfo;
  /** Draw progress bars (only on a terminal; they would clutter logs and test output). */
  progress: boolean;
}

/** One warm-up pass, then `repeats` timed passes through the same evaluate() users get; the median pass gives the rate. */
async function timeInference(infer: LogitsFn, data: ImageSet, batch: number, repeats: number): Promise<Side> {
  await evaluate(infer, data, batch);
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const e = await evaluate(infer, data, batch);
    runs.push({ seconds: secondsSince(t0), accuracy: e.accuracy });
  }
  const seconds = runs.map((r) => r.seconds);
  return {
    infer_images_per_s: data.count / median(seconds),
    infer_s: seconds,
    test_accuracy: runs[0]!.accuracy,
  };
}

const ratio = (a: Side | undefined, b: Side | undefined, key: string): number => {
  const x = a?.[key];
  const y = b?.[key];
  return typeof x === 'number' && typeof y === 'number' && y > 0 ? x / y : Number.NaN;
};

export async function benchFashionMnist(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const cfg = {
    dataset: FASHION_MNIST_DIR,
    trainImages: o.quick ? 2048 : 0,
    testImages: o.quick ? 1000 : 0,
    network: 'conv32-pool-conv64-pool-dense128-dense10 (smallCnnSpec)',
    optimizer: 'adam',
    lr: 1e-3,
    batch: 64,
    inferBatch: 1000,
    epochs: 1,
    threads: o.threads,
    warmupSteps: o.quick ? 3 : 20,
    inferRepeats: o.quick ? 1 : 3,
    seed: o.seed,
  };

  const loadStart = performance.now();
  const [train, test] = await Promise.all([
    loadFashionMnistSplit('train', cfg.trainImages),
    loadFashionMnistSplit('t10k', cfg.testImages),
  ]);
  const loadS = secondsSince(loadStart);
  const spec = smallCnnSpec({ channels: 1, height: SIDE, width: SIDE }, [...FASHION_MNIST_CLASSES].length);

  // Training runs through fit(), the loop `loupe demo` and training use, so this measures
  // what users get. A few batches on a throwaway model first warm up kernels and allocator.
  const optimizer = { type: 'adam' as const, lr: cfg.lr };
  const warm = await Model.create(spec, { seed: o.seed + 1 });
  await fit(
    warm,
    subset(
      train,
      Array.from({ length: cfg.warmupSteps * cfg.batch }, (_, i) => i),
    ),
    {
      epochs: 1,
      batchSize: cfg.batch,
      optimizer,
      seed: o.seed + 1,
    },
  );
  await warm.dispose();

  const model = await Model.create(spec, { seed: o.seed });
  const steps = Math.ceil(train.count / cfg.batch);
  const bar = o.progress
    ? new cliProgress.SingleBar(
        { format: '  loupe epoch [{bar}] {value}/{total} batches', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(steps, 0);
  const history = await fit(model, train, {
    epochs: cfg.epochs,
    batchSize: cfg.batch,
    optimizer,
    seed: o.seed,
    onProgress: bar && ((p) => p.batch % 25 === 0 && bar.update(p.batch)),
  });
  bar?.update(steps);
  bar?.stop();
  const epochS = history.map((h) => h.seconds);

  const libtorch = await timeInference(
    async (x, n) => (await model.forward(x, n, 'logits')).data,
    test,
    cfg.inferBatch,
    cfg.inferRepeats,
  );

  const onnx = exportOnnx(model.spec, await model.getWeights(), { probs: false, taps: [] });
  const session = await OnnxSession.open(onnx, { threads: o.threads });
  const onnxSide = await timeInference(
    async (x, n) => (await session.run(x, n, { outputs: [ONNX_LOGITS] })).get(ONNX_LOGITS)!.data,
    test,
    cfg.inferBatch,
    cfg.inferRepeats,
  );
  await session.dispose();
  await model.dispose();

  const loupe: Side = {
    train_images_per_s: train.count / median(epochS),
    epoch_s: epochS,
    train_loss_last_epoch: history.at(-1)!.trainLoss,
    load_s: loadS,
    ...libtorch,
  };
  const loupeOnnx: Side = { ...onnxSide };

  const pyArgs = [
    `--threads=${o.threads}`,
    `--batch=${cfg.batch}`,
    `--infer-batch=${cfg.inferBatch}`,
    `--lr=${cfg.lr}`,
    `--epochs=${cfg.epochs}`,
    `--limit-train=${cfg.trainImages}`,
    `--limit-test=${cfg.testImages}`,
    `--warmup-steps=${cfg.warmupSteps}`,
    `--repeats=${cfg.inferRepeats}`,
    `--seed=${o.seed}`,
    `--source=${FASHION_MNIST_DIR}`,
  ];
  const sides: Record<string, Side> = { loupe, 'loupe (onnxruntime inference)': loupeOnnx };
  for (const variant of ['pytorch', 'pytorch_preloaded']) {
    const r = await runPythonBaseline(BASELINE, [...pyArgs, `--variant=${variant}`]);
    addPythonVersions(o.machine, r);
    sides[variant] = r as Side;
  }
  const pt = sides.pytorch;
  const pre = sides.pytorch_preloaded;
  const diff = (a: Side | undefined, b: Side | undefined) =>
    Number(a?.test_accuracy) - Number(b?.test_accuracy);

  return {
    name: 'fashion-mnist',
    title: `Fashion-MNIST small CNN: ${train.count.toLocaleString('en-US')} train / ${test.count.toLocaleString('en-US')} test images, 1 epoch, ${o.threads} threads`,
    ...runFacts(o, started),
    config: { ...cfg, trainImages: train.count, testImages: test.count },
    columns: [
      { key: 'train_images_per_s', label: 'train img/s', digits: 0 },
      { key: 'infer_images_per_s', label: `infer img/s (batch ${cfg.inferBatch})`, digits: 0 },
      { key: 'test_accuracy', label: 'test accuracy', digits: 2, percent: true },
    ],
    sides,
    ratios: {
      train_ratio_vs_pytorch: ratio(loupe, pt, 'train_images_per_s'),
      train_ratio_vs_pytorch_preloaded: ratio(loupe, pre, 'train_images_per_s'),
      infer_ratio_vs_pytorch: ratio(loupe, pt, 'infer_images_per_s'),
      infer_ratio_vs_pytorch_preloaded: ratio(loupe, pre, 'infer_images_per_s'),
      infer_onnx_ratio_vs_pytorch: ratio(loupeOnnx, pt, 'infer_images_per_s'),
      infer_onnx_ratio_vs_pytorch_preloaded: ratio(loupeOnnx, pre, 'infer_images_per_s'),
      infer_onnx_ratio_vs_libtorch: ratio(loupeOnnx, loupe, 'infer_images_per_s'),
      accuracy_diff_vs_pytorch: diff(loupe, pt),
      accuracy_diff_vs_pytorch_preloaded: diff(loupe, pre),
    },
    notes: [
      'Training rate is one full shuffled epoch, wall clock, data pipeline included, after a warm-up on a throwaway model.',
      'pytorch = torchvision FashionMNIST + ToTensor + DataLoader(batch 64, shuffle); pytorch_preloaded = one pre-made tensor, batches are slices (what loupe does).',
      `Inference is the whole test set in batches of ${cfg.inferBatch}, median of ${cfg.inferRepeats} after one warm-up pass; pytorch's goes through its DataLoader.`,
      'Accuracy after one epoch differs between sides by random initialisation and shuffle order alone; a few tenths of a point is noise.',
    ],
  };
}

import { createHash } from 'node:crypto';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { lineChartSpec } from '../src/charts/line-chart.js';
import { renderPng } from '../src/charts/render.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../src/data/datasets/fashion-mnist.js';
import { ingest } from '../src/data/ingest/ingest.js';
import type { Split } from '../src/data/versions/manifest.js';
import { resolveTrainSettings } from '../src/train/config/mode-defaults.js';
import { trainConfigSchema } from '../src/train/config/train-config.js';
import { trainModel, type TrainOutcome, type TrainRunOptions } from '../src/train/train-run.js';
import { warmTrainingCaches } from '../src/train/warm-caches.js';
import type { Workspace } from '../src/workspace/workspace.js';
import type { BenchOptions } from './fashion-mnist.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { secondsSince } from './lib/stats.js';
import { benchWorkspace, fashionMnistCandidates, readFashionMnist, type FashionMnist } from './probe-tune.js';

export interface ChartBenchOptions extends BenchOptions {
  /** Where bench/run.ts writes the results; the chart goes beside the JSON. */
  outDir: string;
}

/** Held out of each size's images for validation: a tenth, but never fewer than two per class. */
const valPerClass = (n: number) => Math.max(2, Math.round(n / 10));

/** A key for an image's pixels, so byte-identical images are never picked twice. */
const pixelKey = (set: FashionMnist, i: number) =>
  createHash('sha1')
    .update(set.pixels.subarray(i * set.rows * set.cols, (i + 1) * set.rows * set.cols))
    .digest('hex');

/**
 * The first `perClass` distinct training images of each class, and the first `test` test images
 * that repeat none of them nor each other: ingest would otherwise drop or move copies, and the
 * test set must be the same for every size.
 */
function pickImages(train: FashionMnist, test: FashionMnist, perClass: number, testCount: number) {
  const seen = new Set<string>();
  const pool: number[][] = FASHION_MNIST_CLASSES.map(() => []);
  for (let i = 0; i < train.count && pool.some((p) => p.length < perClass); i++) {
    const key = pixelKey(train, i);
    const list = pool[train.labels[i]!]!;
    if (list.length < perClass && !seen.has(key)) {
      seen.add(key);
      list.push(i);
    }
  }
  const testPicks: { index: number; split: Split }[] = [];
  for (let i = 0; i < test.count && testPicks.length < testCount; i++) {
    const key = pixelKey(test, i);
    if (!seen.has(key)) {
      seen.add(key);
      testPicks.push({ index: i, split: 'test' });
    }
  }
  return { pool, testPicks };
}

/**
 * Epochs without a better validation score before a run stops: a quarter of its epochs, as the
 * scratch defaults have it (5 of 20). The default's fixed 5 would end a probe on a few dozen
 * images after as many steps, on the noise of a 20-image validation set.
 */
const patienceFor = (epochs: number) => Math.max(5, Math.round(epochs / 4));

/** Scratch training gets at least this many optimizer steps, however few images a size has. */
function scratchEpochs(trainImages: number, batch: number, minEpochs: number, minSteps: number): number {
  return Math.max(minEpochs, Math.ceil(minSteps / Math.ceil(trainImages / batch)));
}

/** A training run's outcome, wall time, and the split sizes it reported. */
async function timedRun(
  ws: Workspace,
  o: TrainRunOptions,
): Promise<{ outcome: TrainOutcome; seconds: number; counts: Record<Split, number> }> {
  let counts = { train: 0, val: 0, test: 0 };
  const start = performance.now();
  const outcome = await trainModel(ws, {
    ...o,
    onEvent: (e) => {
      if (e.type === 'start') counts = e.counts;
    },
  });
  return { outcome, seconds: secondsSince(start), counts };
}

/**
 * Probe (frozen MobileNetV2 + linear head) against a CNN from scratch on Fashion-MNIST subsets of
 * growing size, one dataset per size, all evaluated on the same test images: where does training
 * from scratch catch up with the pretrained features?
 */
export async function benchProbeVsScratch(o: ChartBenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const scratchBatch = 128;
  const defaults = trainConfigSchema.parse({});
  const probePatience = patienceFor(resolveTrainSettings(defaults, 'probe').epochs);
  const cfg = {
    dataset: FASHION_MNIST_DIR,
    sizes: o.quick ? [10, 20] : [10, 50, 200, 1000],
    testImages: o.quick ? 100 : 2000,
    valPerClass: 'max(2, round(n / 10)) of each size n',
    probe: `default probe settings (mobilenet_v2 tap final, linear head, 60 epochs, batch 128), patience ${probePatience}`,
    scratch:
      'default scratch settings (VGG 32-64, 2 convs per block, dense 256, batch 128) + flip + translate 2',
    scratchMinEpochs: o.quick ? 5 : 20,
    scratchMinSteps: o.quick ? 40 : 500,
    patience: 'a quarter of the epochs, at least 5, for both modes',
    seed: o.seed,
    threads: o.threads,
    chart: 'probe-vs-scratch.png',
  };
  const { dir, ws, dispose } = await benchWorkspace('probe-vs-scratch');
  try {
    const [train, test] = await Promise.all([readFashionMnist('train'), readFashionMnist('t10k')]);
    const largest = Math.max(...cfg.sizes);
    const { pool, testPicks } = pickImages(train, test, largest, cfg.testImages);
    const testCandidates = await fashionMnistCandidates(test, testPicks, dir, ws.blobs);
    const datasetOf = (n: number) => `fashion-mnist-${n}-per-class`;
    // The largest size's version holds every image the probe runs will need embedded.
    let embedded = 0;
    for (const n of cfg.sizes) {
      const val = valPerClass(n);
      const picks = pool.flatMap((indices) =>
        indices.slice(0, n).map((index, k) => ({ index, split: (k < n - val ? 'train' : 'val') as Split })),
      );
      const report = await ingest(
        ws,
        {
          candidates: [...(await fashionMnistCandidates(train, picks, dir, ws.blobs)), ...testCandidates],
          rejected: [],
          details: {},
        },
        {
          dataset: datasetOf(n),
          source: `${n} per class of ${FASHION_MNIST_DIR} train + ${cfg.testImages} of t10k`,
        },
      );
      if (n === largest) embedded = report.items.after;
    }

    const probeConfig = (n: number, patience = probePatience) =>
      trainConfigSchema.parse({
        mode: 'probe',
        data: datasetOf(n),
        seed: o.seed,
        earlyStopping: { patience },
      });
    // Every smaller size's images are among the largest's, so one warm-up embeds them all and the
    // probe runs below time the head alone; the embedding rate prices a cold start.
    const embedStart = performance.now();
    await warmTrainingCaches(ws, probeConfig(largest), {});
    const embedS = secondsSince(embedStart);
    const embedRate = embedded / embedS;

    const sides: Record<string, Side> = {};
    const ratios: Record<string, number> = {};
    const points: { n: number; probe: number; scratch: number }[] = [];
    for (const n of cfg.sizes) {
      const probe = await timedRun(ws, { config: probeConfig(n), name: `probe ${n}` });
      const probeDefault = await trainModel(ws, {
        config: probeConfig(n, defaults.earlyStopping.patience),
        name: `probe ${n}, default patience`,
      });
      const epochs = scratchEpochs(
        probe.counts.train,
        scratchBatch,
        cfg.scratchMinEpochs,
        cfg.scratchMinSteps,
      );
      const scratch = await timedRun(ws, {
        name: `scratch ${n}`,
        config: trainConfigSchema.parse({
          mode: 'scratch',
          data: datasetOf(n),
          seed: o.seed,
          epochs,
          batchSize: scratchBatch,
          earlyStopping: { patience: patienceFor(epochs) },
          augment: { image: { flip: true, translate: 2 } },
        }),
      });
      const probeAcc = probe.outcome.summary['test.accuracy'] ?? Number.NaN;
      const scratchAcc = scratch.outcome.summary['test.accuracy'] ?? Number.NaN;
      if (o.progress)
        console.error(
          `  ${n} per class: probe ${(probeAcc * 100).toFixed(2)}% in ${probe.seconds.toFixed(1)} s, scratch ${(scratchAcc * 100).toFixed(2)}% in ${scratch.seconds.toFixed(1)} s`,
        );
      points.push({ n, probe: probeAcc, scratch: scratchAcc });
      sides[`${n} per class`] = {
        train_images: probe.counts.train,
        val_images: probe.counts.val,
        test_images: probe.counts.test,
        probe_accuracy: probeAcc,
        scratch_accuracy: scratchAcc,
        probe_s: probe.seconds,
        probe_cold_s: probe.seconds + (probe.counts.train + probe.counts.val + probe.counts.test) / embedRate,
        scratch_s: scratch.seconds,
        probe_epochs: probe.outcome.summary.epochs ?? Number.NaN,
        probe_default_patience_accuracy: probeDefault.summary['test.accuracy'] ?? Number.NaN,
        probe_default_patience_epochs: probeDefault.summary.epochs ?? Number.NaN,
        scratch_epochs: scratch.outcome.summary.epochs ?? Number.NaN,
        scratch_epochs_planned: epochs,
      };
      ratios[`scratch_accuracy_ratio_vs_probe_${n}_per_class`] = scratchAcc / probeAcc;
    }
    const crossover = points.find((p) => p.scratch >= p.probe)?.n ?? null;

    const chart = lineChartSpec({
      title: `Fashion-MNIST: probe vs scratch (${testPicks.length.toLocaleString('en-US')} test images)`,
      xTitle: 'training images per class (incl. validation)',
      yTitle: 'test accuracy (%)',
      series: [
        {
          name: 'probe: MobileNetV2 features + linear head',
          points: points.map((p) => [p.n, p.probe * 100]),
        },
        { name: 'scratch: CNN, flip + translate 2', points: points.map((p) => [p.n, p.scratch * 100]) },
      ],
    }) as TopLevelSpec & { encoding: { x: object } };
    // The sizes grow by factors of 4 to 5; on a linear axis the small ones would sit on top of each other.
    await renderPng(
      {
        ...chart,
        encoding: { ...chart.encoding, x: { ...chart.encoding.x, scale: { type: 'log' } } },
      } as TopLevelSpec,
      path.join(o.outDir, cfg.chart),
    );

    return {
      name: 'probe-vs-scratch',
      title: `Probe vs scratch on Fashion-MNIST subsets (${cfg.sizes.join(', ')} images per class, ${testPicks.length.toLocaleString('en-US')} test images)`,
      ...runFacts(o, started),
      config: {
        ...cfg,
        testImages: testPicks.length,
        embeddingS: embedS,
        embeddedImages: embedded,
        crossoverImagesPerClass: crossover,
      },
      columns: [
        { key: 'probe_accuracy', label: 'probe accuracy', digits: 2, percent: true },
        { key: 'scratch_accuracy', label: 'scratch accuracy', digits: 2, percent: true },
        { key: 'probe_s', label: 'probe s (cached embeddings)', digits: 1 },
        { key: 'probe_cold_s', label: 'probe s incl. embedding', digits: 1 },
        { key: 'scratch_s', label: 'scratch s', digits: 1 },
        { key: 'scratch_epochs', label: 'scratch epochs run', digits: 0 },
        {
          key: 'probe_default_patience_accuracy',
          label: `probe accuracy, patience ${defaults.earlyStopping.patience}`,
          digits: 2,
          percent: true,
        },
      ],
      sides,
      ratios,
      notes: [
        crossover === null
          ? `Scratch does not catch up with the probe at any size measured (up to ${largest} per class).`
          : `Scratch first matches or beats the probe at ${crossover} images per class.`,
        `Each size n is its own dataset: n distinct training images per class (the first in the official training file), of which max(2, n/10) validate; the ${testPicks.length} test images (the first of t10k, none a copy of a training image) are the same for all.`,
        `Probe: default settings (mobilenet_v2 tap final, linear head, 60 epochs of batch 128). Scratch: default settings (VGG 32-64, batch 128) with flip + translate 2 and max(${cfg.scratchMinEpochs}, enough for ${cfg.scratchMinSteps} steps) epochs, so the smallest sizes still train.`,
        `Early stopping waits a quarter of the epochs (at least 5) in both modes, the ratio of the scratch defaults (5 of 20). "probe accuracy, patience ${defaults.earlyStopping.patience}" is the probe with the default patience, which counts epochs whatever their size: on the smallest sizes an epoch is one to four steps, so five epochs without a better score on a validation set of 20–50 images end the run.`,
        `Seconds are trainModel() wall time, test evaluation and artifacts included. The probe runs read embeddings cached once (${embedded.toLocaleString('en-US')} images in ${embedS.toFixed(0)} s, ${embedRate.toFixed(1)} images/s); "probe s incl. embedding" adds that size's images and the test set at that rate.`,
        `Chart: ${cfg.chart} beside this file. Ratios are scratch accuracy ÷ probe accuracy per size.`,
      ],
    };
  } finally {
    await dispose();
  }
}

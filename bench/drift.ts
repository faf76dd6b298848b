import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { demoTrainConfig } from '../src/cli/commands/demo.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../src/data/datasets/fashion-mnist.js';
import { candidatesFromFolder } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { readIdxPair } from '../src/data/sources/idx.js';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { Classifier } from '../src/inference/classifier.js';
import { predictedClasses } from '../src/eval/metrics/row-argmax.js';
import { DRIFT_TESTS, driftConfigSchema } from '../src/monitor/drift/drift-config.js';
import { driftReference } from '../src/monitor/drift/drift-reference.js';
import { embeddingsOf, runDriftTests, type DriftSample } from '../src/monitor/drift/drift-tests.js';
import { holm } from '../src/monitor/drift/holm.js';
import { mmdTest } from '../src/monitor/drift/mmd.js';
import { noveltyFractionTest } from '../src/monitor/drift/novelty-fraction.js';
import { project, randomProjection } from '../src/monitor/drift/random-projection.js';
import { readModelFile } from '../src/registry/model-files.js';
import { registerRun } from '../src/registry/register-model.js';
import { seededRandom, shuffledIndices } from '../src/train/random.js';
import { trainModel } from '../src/train/train-run.js';
import { initWorkspace, openWorkspace } from '../src/workspace/workspace.js';
import type { BenchOptions } from './fashion-mnist.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { secondsSince } from './lib/stats.js';

/**
 * Drift detection on Fashion-MNIST: a small CNN trained on nine of the ten classes (the tenth is
 * the "unseen class" shift), its reference computed by the product's own code from its val
 * split, then windows of served-like inputs from the test set: in-distribution windows for the
 * false-alarm rate, and brightened, blurred, rotated and unseen-class windows for the detection
 * rate, per test and for the combined verdict — with the novelty test in the Holm family and,
 * from the same p-values, the four-test family it joined, so one run shows before and after —
 * and the novelty test alone at α. Two baselines run on the same windows: a
 * confidence threshold (alarm when the window's mean top-1 probability falls below the 5th
 * percentile of same-size windows drawn from the reference) and alibi-detect-style MMD on the
 * raw pixels (random projection to 32 dimensions, one test at α).
 */

const SIDE = 28;
const UNSEEN = 'Bag';

type Shift =
  | { kind: 'none' }
  | { kind: 'brightness'; add: number }
  | { kind: 'blur'; sigma: number }
  | { kind: 'rotation'; degrees: number };

interface Scenario {
  name: string;
  shift: Shift;
  /** Share of each window drawn from the unseen class. */
  unseen: number;
  /** Images per window, when not the benchmark's window. */
  window?: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'in-distribution', shift: { kind: 'none' }, unseen: 0 },
  { name: 'brightness +0.1', shift: { kind: 'brightness', add: 0.1 }, unseen: 0 },
  { name: 'brightness +0.3', shift: { kind: 'brightness', add: 0.3 }, unseen: 0 },
  { name: 'blur σ 0.7', shift: { kind: 'blur', sigma: 0.7 }, unseen: 0 },
  { name: 'blur σ 1.5', shift: { kind: 'blur', sigma: 1.5 }, unseen: 0 },
  { name: 'rotation 10°', shift: { kind: 'rotation', degrees: 10 }, unseen: 0 },
  { name: 'rotation 25°', shift: { kind: 'rotation', degrees: 25 }, unseen: 0 },
  { name: 'unseen class 10%', shift: { kind: 'none' }, unseen: 0.1 },
  { name: 'unseen class 30%', shift: { kind: 'none' }, unseen: 0.3 },
  { name: 'unseen class 10%, window 500', shift: { kind: 'none' }, unseen: 0.1, window: 500 },
];

/** One image's raw bytes, shifted; returned as the PNG a client would upload and its pixels. */
async function shifted(pixels: Uint8Array, shift: Shift): Promise<{ png: Buffer; raw: Uint8Array }> {
  let image = sharp(Buffer.from(pixels), { raw: { width: SIDE, height: SIDE, channels: 1 } });
  if (shift.kind === 'brightness') image = image.linear(1, shift.add * 255);
  else if (shift.kind === 'blur') image = image.blur(shift.sigma);
  else if (shift.kind === 'rotation') {
    // Rotating grows the canvas; the centre 28×28 is what a camera turned by that angle sees.
    const rotated = await image
      .rotate(shift.degrees, { background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = rotated.info;
    image = sharp(rotated.data, { raw: { width, height, channels: rotated.info.channels } })
      .extract({ left: (width - SIDE) >> 1, top: (height - SIDE) >> 1, width: SIDE, height: SIDE })
      .toColourspace('b-w');
  }
  const raw = await image.toColourspace('b-w').raw().toBuffer();
  const png = await sharp(raw, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .png()
    .toBuffer();
  return { png, raw: new Uint8Array(raw.buffer, raw.byteOffset, SIDE * SIDE) };
}

/** What the served model says about a set of images, as the prediction log would hold it. */
interface Pool extends DriftSample {
  /** Raw pixels / 255, for the pixel-MMD baseline. */
  pixels: Float32Array;
}

async function poolOf(classifier: Classifier, images: { png: Buffer; raw: Uint8Array }[]): Promise<Pool> {
  if (classifier.inputs.kind !== 'image') throw new Error('an image model was expected');
  const k = classifier.classes.length;
  const n = images.length;
  const probs = new Float32Array(n * k);
  let embedding: Float32Array | undefined;
  let dim = 0;
  for (let start = 0; start < n; start += 256) {
    const chunk = images.slice(start, start + 256);
    const x = (
      await preprocessImages(
        chunk.map((c) => c.png),
        classifier.inputs.preprocessing,
      )
    ).x;
    const out = await classifier.run(x, chunk.length, { embedding: true });
    probs.set(out.probs, start * k);
    dim = out.embedding!.length / chunk.length;
    embedding ??= new Float32Array(n * dim);
    embedding.set(out.embedding!, start * dim);
  }
  const predicted = predictedClasses(probs, k, n);
  const pixels = new Float32Array(n * SIDE * SIDE);
  images.forEach((im, i) => {
    for (let p = 0; p < SIDE * SIDE; p++) pixels[i * SIDE * SIDE + p] = im.raw[p]! / 255;
  });
  return {
    embedding: embedding!,
    dim,
    predicted,
    confidence: Float32Array.from(predicted, (c, i) => probs[i * k + c]!),
    pixels,
  };
}

/** Rows `idx` of a pool. */
function rows(pool: Pool, idx: ArrayLike<number>): Pool {
  const n = idx.length;
  const px = SIDE * SIDE;
  const out: Pool = {
    embedding: new Float32Array(n * pool.dim),
    dim: pool.dim,
    predicted: new Int32Array(n),
    confidence: new Float32Array(n),
    pixels: new Float32Array(n * px),
  };
  for (let i = 0; i < n; i++) {
    const r = idx[i]!;
    out.embedding!.set(pool.embedding!.subarray(r * pool.dim, (r + 1) * pool.dim), i * pool.dim);
    out.predicted[i] = pool.predicted[r]!;
    out.confidence[i] = pool.confidence[r]!;
    out.pixels.set(pool.pixels.subarray(r * px, (r + 1) * px), i * px);
  }
  return out;
}

function concat(a: Pool, b: Pool): Pool {
  const join = <T extends Float32Array | Int32Array>(x: T, y: T, make: (n: number) => T) => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return {
    embedding: join(a.embedding!, b.embedding!, (n) => new Float32Array(n)),
    dim: a.dim,
    predicted: join(a.predicted, b.predicted, (n) => new Int32Array(n)),
    confidence: join(a.confidence, b.confidence, (n) => new Float32Array(n)),
    pixels: join(a.pixels, b.pixels, (n) => new Float32Array(n)),
  };
}

const sample = (n: number, k: number, random: () => number) => shuffledIndices(n, random).subarray(0, k);
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

/** The mean confidence below which `alpha` of `size`-image windows resampled from `confidence` fall. */
function bootstrapFloor(confidence: Float32Array, size: number, alpha: number, random: () => number): number {
  const means = Array.from({ length: 2000 }, () => {
    let s = 0;
    for (let i = 0; i < size; i++) s += confidence[Math.floor(random() * confidence.length)]!;
    return s / size;
  }).sort((a, b) => a - b);
  return means[Math.floor(alpha * means.length)]!;
}

export async function benchDrift(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const cfg = {
    dataset: FASHION_MNIST_DIR,
    unseenClass: UNSEEN,
    trainPerClass: o.quick ? 60 : 1000,
    valPerClass: o.quick ? 25 : 150,
    epochs: o.quick ? 1 : 4,
    referenceSize: 1000,
    window: 200,
    /** Shifted images made per scenario (windows are drawn from them). */
    shiftedPool: o.quick ? 300 : 3000,
    inDistributionWindows: o.quick ? 10 : 200,
    shiftedWindows: o.quick ? 3 : 40,
    alpha: 0.05,
    permutations: o.quick ? 100 : 500,
    seed: o.seed,
  };
  const say = (line: string) => console.error(`  drift: ${line}`);
  const classes = FASHION_MNIST_CLASSES.filter((c) => c !== UNSEEN);
  const labelIndex = (c: string) => (FASHION_MNIST_CLASSES as readonly string[]).indexOf(c);

  const idx = (prefix: 'train' | 't10k') =>
    readIdxPair(
      path.join(FASHION_MNIST_DIR, `${prefix}-images-idx3-ubyte.gz`),
      path.join(FASHION_MNIST_DIR, `${prefix}-labels-idx1-ubyte.gz`),
    );
  const [train, test] = await Promise.all([idx('train'), idx('t10k')]);
  const image = (set: typeof train, i: number) => set.pixels.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-drift-'));
  try {
    // The training data as class folders, the unseen class left out; val is predefined, so the
    // reference is made of images the model never trained on.
    const data = path.join(dir, 'data');
    const valPixels: Uint8Array[] = [];
    for (const c of classes) {
      const label = labelIndex(c);
      const of = [...train.labels.keys()].filter((i) => train.labels[i] === label);
      const take = {
        train: of.slice(0, cfg.trainPerClass),
        val: of.slice(cfg.trainPerClass, cfg.trainPerClass + cfg.valPerClass),
      };
      for (const split of ['train', 'val'] as const) {
        await mkdir(path.join(data, split, c), { recursive: true });
        for (const i of take[split]) {
          const { png, raw } = await shifted(image(train, i), { kind: 'none' });
          await writeFile(path.join(data, split, c, `${i}.png`), png);
          if (split === 'val') valPixels.push(raw);
        }
      }
    }
    const wsDir = path.join(dir, 'ws');
    await initWorkspace(wsDir, { name: 'bench-drift' });
    const ws = await openWorkspace({ workspace: wsDir, env: {} });
    let trainS: number;
    let referenceS: number;
    let accuracy: number;
    let reference: Awaited<ReturnType<typeof driftReference>>;
    let classifier: Classifier;
    try {
      const report = await ingest(ws, await candidatesFromFolder(data, ws.blobs), {
        dataset: 'fashion-9',
        source: `folder ${data}`,
      });
      const t0 = performance.now();
      const run = await trainModel(ws, {
        config: demoTrainConfig(report.version, {
          epochs: cfg.epochs,
          batchSize: 64,
          lr: 2e-3,
          seed: o.seed,
        }),
      });
      trainS = secondsSince(t0);
      const registered = await registerRun(ws, run.runId, { name: 'fashion-9', reason: 'bench/drift.ts' });
      accuracy = registered.evaluation?.report.metrics.accuracy ?? Number.NaN;
      say(
        `trained ${registered.version.ref} in ${trainS.toFixed(1)} s, val accuracy ${(accuracy * 100).toFixed(1)}%`,
      );
      const t1 = performance.now();
      reference = await driftReference(ws, registered.version, { size: cfg.referenceSize, seed: o.seed });
      referenceS = secondsSince(t1);
      classifier = await Classifier.open(await readModelFile(ws.blobs, registered.version));
    } finally {
      await ws.close();
    }

    try {
      const random = seededRandom(o.seed + 1);
      const seen = [...test.labels.keys()].filter((i) => test.labels[i] !== labelIndex(UNSEEN));
      const unseen = [...test.labels.keys()].filter((i) => test.labels[i] === labelIndex(UNSEEN));
      const make = async (indices: number[], shift: Shift) =>
        poolOf(classifier, await Promise.all(indices.map((i) => shifted(image(test, i), shift))));
      const clean = await make(o.quick ? seen.slice(0, 600) : seen, { kind: 'none' });
      const unseenPool = await make(o.quick ? unseen.slice(0, 200) : unseen, { kind: 'none' });
      say(
        `${clean.predicted.length} test images of the nine classes, ${unseenPool.predicted.length} of ${UNSEEN}`,
      );

      // Baseline 1: a floor on mean confidence, set from windows resampled from the reference.
      const floors = new Map<number, number>();
      const floorFor = (size: number) => {
        if (!floors.has(size))
          floors.set(size, bootstrapFloor(reference.confidence, size, cfg.alpha, random));
        return floors.get(size)!;
      };
      const confidenceFloor = floorFor(cfg.window);
      // Baseline 2: MMD on raw pixels, its own reference from the same val images.
      const pixelProjection = randomProjection(SIDE * SIDE, 32, o.seed + 7);
      const refPixels = new Float32Array(Math.min(cfg.referenceSize, valPixels.length) * SIDE * SIDE);
      sample(valPixels.length, refPixels.length / (SIDE * SIDE), random).forEach((v, i) =>
        valPixels[v]!.forEach((p, j) => (refPixels[i * SIDE * SIDE + j] = p / 255)),
      );
      const refPixelsProjected = project(pixelProjection, refPixels);

      const config = driftConfigSchema.parse({
        alpha: cfg.alpha,
        permutations: cfg.permutations,
        window: cfg.window,
      });
      const sides: Record<string, Side> = {};
      let matchedFloor: number | undefined;
      let testsMs = 0;
      let checks = 0;
      // The quick mode leaves out the larger window: it only checks that the benchmark runs.
      const scenarios = SCENARIOS.filter((s) => !o.quick || !s.window);
      for (const scenario of scenarios) {
        const t = performance.now();
        const base =
          scenario.shift.kind === 'none'
            ? clean
            : await make(
                [...sample(seen.length, cfg.shiftedPool, random)].map((i) => seen[i]!),
                scenario.shift,
              );
        const windows = scenario.name === 'in-distribution' ? cfg.inDistributionWindows : cfg.shiftedWindows;
        const size = scenario.window ?? cfg.window;
        const counts: Record<string, number> = {
          combined: 0,
          combined_without_novelty: 0,
          novelty_alone: 0,
          confidence_floor: 0,
          confidence_floor_matched: 0,
          pixel_mmd: 0,
        };
        for (const test of DRIFT_TESTS) counts[test] = 0;
        const meanConfidence: number[] = [];
        for (let w = 0; w < windows; w++) {
          const fromUnseen = Math.round(size * scenario.unseen);
          let window = rows(base, sample(base.predicted.length, size - fromUnseen, random));
          if (fromUnseen)
            window = concat(
              window,
              rows(unseenPool, sample(unseenPool.predicted.length, fromUnseen, random)),
            );
          const t0 = performance.now();
          const verdict = runDriftTests(classes, reference, window, { ...config, seed: o.seed + w });
          testsMs += performance.now() - t0;
          checks++;
          for (const r of verdict.tests) if (r.drift) counts[r.test]!++;
          if (verdict.drift) counts.combined!++;
          // Holm's "any alarm" is min p ≤ α/k: the four-test verdict follows from the same p-values.
          const before = verdict.tests.filter((r) => r.test !== 'novelty');
          if (
            holm(
              before.map((r) => r.pValue),
              cfg.alpha,
            ).rejected.some(Boolean)
          )
            counts.combined_without_novelty!++;
          if (verdict.tests.find((r) => r.test === 'novelty')!.pValue <= cfg.alpha) counts.novelty_alone!++;
          const m = mean(window.confidence);
          meanConfidence.push(m);
          if (m < floorFor(size)) counts.confidence_floor!++;
          // Only for windows of the size the in-distribution row had.
          if (size !== cfg.window) counts.confidence_floor_matched = Number.NaN;
          else if (matchedFloor !== undefined && m < matchedFloor) counts.confidence_floor_matched!++;
          const pixel = mmdTest(
            refPixelsProjected,
            project(pixelProjection, window.pixels),
            pixelProjection.to,
            {
              permutations: cfg.permutations,
              seed: o.seed + w,
            },
          );
          if (pixel.pValue <= cfg.alpha) counts.pixel_mmd!++;
        }
        if (matchedFloor === undefined) {
          // The first scenario is in-distribution: the floor it would take to alarm on 5% of it.
          const sorted = [...meanConfidence].sort((a, b) => a - b);
          matchedFloor = sorted[Math.floor(cfg.alpha * sorted.length)]!;
          counts.confidence_floor_matched = meanConfidence.filter((m) => m < matchedFloor!).length;
        }
        const side: Side = { windows, mean_confidence: mean(meanConfidence) };
        for (const [k, v] of Object.entries(counts)) side[k] = v / windows;
        sides[scenario.name] = side;
        say(
          `${scenario.name}: ${windows} windows in ${secondsSince(t).toFixed(1)} s; alarms ${Object.entries(
            counts,
          )
            .filter(([, v]) => Number.isFinite(v))
            .map(([k, v]) => `${k} ${((v / windows) * 100).toFixed(0)}%`)
            .join(', ')}`,
        );
      }

      // The novelty test's own cost, on the projected embeddings of one window as a check sees them.
      const projected = embeddingsOf(
        reference,
        rows(clean, sample(clean.predicted.length, cfg.window, random)),
        o.seed,
      );
      if (typeof projected === 'string') throw new Error(projected);
      const t2 = performance.now();
      for (let i = 0; i < 20; i++)
        noveltyFractionTest(projected.reference, projected.window, projected.dim, { seed: o.seed + i });
      const noveltyMs = (performance.now() - t2) / 20;

      const shiftedNames = scenarios
        .filter((s) => s.name !== 'in-distribution' && !s.window)
        .map((s) => s.name);
      const meanRate = (key: string) => mean(shiftedNames.map((n) => Number(sides[n]![key])));
      const inDist = sides['in-distribution']!;
      return {
        name: 'drift',
        title: `Drift detection on Fashion-MNIST: windows of ${cfg.window} served images against a reference of ${reference.predicted.length} val images (${UNSEEN} unseen in training)`,
        ...runFacts(o, started),
        config: {
          ...cfg,
          trainS,
          referenceS,
          valAccuracy: accuracy,
          confidenceFloor,
          embeddingDim: reference.dim,
          testsMsPerCheck: testsMs / checks,
          noveltyMsPerCheck: noveltyMs,
        },
        columns: [
          { key: 'windows', label: 'windows', digits: 0 },
          { key: 'mmd', label: 'MMD', digits: 0, percent: true },
          { key: 'classifier', label: 'classifier', digits: 0, percent: true },
          { key: 'novelty', label: 'novelty', digits: 0, percent: true },
          { key: 'predictions', label: 'predictions', digits: 0, percent: true },
          { key: 'confidence', label: 'confidence', digits: 0, percent: true },
          { key: 'combined', label: 'combined (Holm, 5 tests)', digits: 0, percent: true },
          {
            key: 'combined_without_novelty',
            label: 'combined without novelty (4 tests)',
            digits: 0,
            percent: true,
          },
          { key: 'novelty_alone', label: 'novelty alone at α', digits: 0, percent: true },
          { key: 'confidence_floor', label: 'baseline: confidence floor', digits: 0, percent: true },
          {
            key: 'confidence_floor_matched',
            label: 'baseline: confidence floor at 5% false alarms',
            digits: 0,
            percent: true,
          },
          { key: 'pixel_mmd', label: 'baseline: pixel MMD', digits: 0, percent: true },
        ],
        sides,
        ratios: {
          detection_ratio_vs_confidence_floor: meanRate('combined') / meanRate('confidence_floor'),
          detection_ratio_vs_confidence_floor_matched:
            meanRate('combined') / meanRate('confidence_floor_matched'),
          detection_ratio_vs_pixel_mmd: meanRate('combined') / meanRate('pixel_mmd'),
          detection_ratio_vs_without_novelty: meanRate('combined') / meanRate('combined_without_novelty'),
        },
        notes: [
          'Rows are scenarios; each cell is the share of windows that alarmed: the false-alarm rate on the in-distribution row, the detection rate on the others.',
          `Combined: every test at α = ${cfg.alpha} shared by Holm’s procedure, so the family-wise false-alarm rate is at most ${cfg.alpha}. Per-test columns are each test’s own Holm verdict within that family of five. Combined without novelty: the family of four before the novelty test joined, decided by Holm on the same windows’ p-values. Novelty alone: its p-value held to the whole α, as if it were the only test.`,
          `The model: the demo’s CNN trained ${cfg.epochs} epochs on ${cfg.trainPerClass} images of each of nine classes (${trainS.toFixed(1)} s), val accuracy ${(accuracy * 100).toFixed(1)}%; its reference took ${referenceS.toFixed(1)} s.`,
          'Windows are drawn without replacement from the test set (the in-distribution pool is every test image of the nine classes); shifted pools are transformed with sharp and go through the same PNG decoding and preprocessing as uploads.',
          `Baselines, each meant to alarm on ${cfg.alpha * 100}% of unchanged windows: confidence floor = mean top-1 probability below ${confidenceFloor.toFixed(3)}, the 5th percentile over 2,000 windows resampled from the reference (what a user can set up); confidence floor at 5% false alarms = below ${matchedFloor!.toFixed(3)}, the 5th percentile of the in-distribution windows themselves (an oracle: it has seen the served data, so it matches the false-alarm rate by construction); pixel MMD = the same MMD code on raw pixels projected to 32 dimensions (alibi-detect’s MMDDrift on an untrained random encoder), one test at α.`,
          `False alarms of the combined detector: ${(Number(inDist.combined) * 100).toFixed(1)}% of ${inDist.windows} in-distribution windows (goal: at most ${cfg.alpha * 100}%); detection averaged over the shifted scenarios: ${(meanRate('combined') * 100).toFixed(1)}%.`,
          `Cost per window: ${(testsMs / checks).toFixed(0)} ms for all five tests (${reference.predicted.length} reference rows; windows of ${[...new Set(scenarios.map((s) => s.window ?? cfg.window))].join(' and ')}), of which the novelty test ${noveltyMs.toFixed(1)} ms.`,
          'Ratios: detection rates averaged over the shifted scenarios with windows of 200, combined detector over baseline (and over the four-test family).',
        ],
      };
    } finally {
      await classifier.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

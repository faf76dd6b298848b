import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Model } from '../src/engine/model.js';
import { exportOnnx } from '../src/engine/onnx/export-onnx.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { loadBackbone } from '../src/engine/backbones/registry.js';
import type { ModelSpecInput } from '../src/engine/spec/schema.js';
import type { TensorMap } from '../src/engine/tensor.js';
import type { BenchOptions } from './fashion-mnist.js';
import { addPythonVersions } from './lib/machine.js';
import { runPythonBaseline } from './lib/python-baseline.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { median, secondsSince } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = path.join(here, 'baselines/pytorch_mobilenet_v2.py');
const SIZE = 224;

interface Network {
  spec: ModelSpecInput;
  weights: TensorMap;
  tap: string;
  pool: boolean;
  source: string;
}

/** The project's MobileNetV2 backbone (converted from nsfwjs, a runtime dependency). */
async function mobileNetV2(): Promise<Network> {
  const b = await loadBackbone('mobilenet_v2');
  return {
    spec: b.spec,
    weights: b.weights,
    tap: 'final',
    pool: b.taps.final!.pool,
    source: "loadBackbone('mobilenet_v2') (nsfwjs weights, Keras-style explicit padding)",
  };
}

/** Images per second of `extract` on one fixed batch: warm-up, then the median of `repeats` timed runs. */
async function rate(
  extract: () => Promise<unknown>,
  batch: number,
  warmup: number,
  iterations: number,
  repeats: number,
): Promise<Side> {
  for (let i = 0; i < warmup; i++) await extract();
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) await extract();
    rates.push((batch * iterations) / secondsSince(t0));
  }
  return { images_per_s: median(rates), rates };
}

export async function benchMobileNetV2(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const cfg = {
    batch: o.quick ? 2 : 32,
    size: SIZE,
    threads: o.threads,
    warmup: o.quick ? 1 : 2,
    iterations: o.quick ? 1 : 5,
    repeats: o.quick ? 1 : 3,
    output: 'globally average-pooled 1280-d features',
  };
  const backbone = await mobileNetV2();
  const model = await Model.create(backbone.spec, { seed: o.seed });
  if (backbone.weights) await model.setWeights(backbone.weights);
  const x = new Float32Array(cfg.batch * 3 * SIZE * SIZE);
  for (let i = 0; i < x.length; i++) x[i] = Math.random();

  const session = await OnnxSession.open(
    exportOnnx(model.spec, await model.getWeights(), {
      probs: false,
      taps: [{ tap: backbone.tap, pool: backbone.pool }],
    }),
    { threads: o.threads },
  );
  const onnx = await rate(
    () => session.run(x, cfg.batch, { outputs: [backbone.tap] }),
    cfg.batch,
    cfg.warmup,
    cfg.iterations,
    cfg.repeats,
  );
  await session.dispose();
  const libtorch = await rate(
    () => model.forward(x, cfg.batch, { tap: backbone.tap, pool: backbone.pool }),
    cfg.batch,
    cfg.warmup,
    cfg.iterations,
    cfg.repeats,
  );
  await model.dispose();

  const pytorch = await runPythonBaseline(BASELINE, [
    `--threads=${o.threads}`,
    `--batch=${cfg.batch}`,
    `--size=${cfg.size}`,
    `--warmup=${cfg.warmup}`,
    `--iterations=${cfg.iterations}`,
    `--repeats=${cfg.repeats}`,
  ]);
  addPythonVersions(o.machine, pytorch);
  const per = (a: Side, b: Side) => Number(a.images_per_s) / Number(b.images_per_s);

  return {
    name: 'mobilenet-v2',
    title: `MobileNetV2 ${SIZE}×${SIZE} feature extraction, batch ${cfg.batch}, ${o.threads} threads`,
    ...runFacts(o, started),
    config: { ...cfg, spec: backbone.source },
    columns: [{ key: 'images_per_s', label: 'images/s', digits: 1 }],
    sides: { 'loupe onnxruntime': onnx, 'loupe libtorch': libtorch, 'pytorch eager': pytorch as Side },
    ratios: {
      onnxruntime_ratio_vs_pytorch: per(onnx, pytorch as Side),
      libtorch_ratio_vs_pytorch: per(libtorch, pytorch as Side),
      onnxruntime_ratio_vs_libtorch: per(onnx, libtorch),
    },
    notes: [
      `Median of ${cfg.repeats} repeats of ${cfg.iterations} batches after ${cfg.warmup} warm-up batches; one fixed random batch.`,
      `loupe network: ${backbone.source}.`,
      'pytorch eager = torchvision mobilenet_v2().features + adaptive_avg_pool2d, eval(), no_grad(), random weights (speed does not depend on them).',
    ],
  };
}

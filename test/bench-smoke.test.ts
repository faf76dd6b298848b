import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchResult } from '../bench/lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'native/build/Release/loupe_native.node');
const skip =
  !existsSync(addon) &&
  `the native addon is not built (${path.relative(root, addon)} missing); the benchmarks need it`;

test('bench/run.ts --quick runs every benchmark end to end', { skip, timeout: 600_000 }, async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'loupe-bench-smoke-'));
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--quick', `--out=${out}`],
      {
        cwd: root,
        maxBuffer: 16 * 2 ** 20,
      },
    );
    assert.match(stdout, /# Benchmark results/);

    const fashion = JSON.parse(await readFile(path.join(out, 'fashion-mnist.json'), 'utf8')) as BenchResult;
    assert.equal(fashion.quick, true);
    assert.deepEqual(
      Object.keys(fashion.sides).sort(),
      ['loupe', 'loupe (onnxruntime inference)', 'pytorch', 'pytorch_preloaded'].sort(),
    );
    for (const side of ['loupe', 'pytorch', 'pytorch_preloaded']) {
      assert.ok(Number(fashion.sides[side]!.train_images_per_s) > 0, `${side} trained`);
    }
    for (const side of Object.values(fashion.sides)) {
      assert.ok(Number(side.infer_images_per_s) > 0);
      // Even 2k images and one epoch beat chance (10%) by far.
      assert.ok(Number(side.test_accuracy) > 0.3, `accuracy ${side.test_accuracy}`);
    }
    // ONNX Runtime runs the exported weights of the trained model, so it must agree with libtorch.
    assert.ok(
      Math.abs(
        Number(fashion.sides.loupe!.test_accuracy) -
          Number(fashion.sides['loupe (onnxruntime inference)']!.test_accuracy),
      ) < 0.005,
    );
    for (const key of [
      'train_ratio_vs_pytorch',
      'train_ratio_vs_pytorch_preloaded',
      'infer_ratio_vs_pytorch',
      'accuracy_diff_vs_pytorch',
    ]) {
      assert.ok(Number.isFinite(fashion.ratios[key]), `${key} is reported`);
    }
    assert.equal(fashion.machine.node, process.version);
    assert.ok(fashion.machine.pytorch, 'the PyTorch version is recorded');

    const mobilenet = JSON.parse(await readFile(path.join(out, 'mobilenet-v2.json'), 'utf8')) as BenchResult;
    for (const side of Object.values(mobilenet.sides)) assert.ok(Number(side.images_per_s) > 0);
    assert.ok(Number.isFinite(mobilenet.ratios.onnxruntime_ratio_vs_pytorch));

    const readme = await readFile(path.join(out, 'README.md'), 'utf8');
    assert.match(readme, /\| loupe \|/);
    assert.match(readme, /train_ratio_vs_pytorch/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import type { Backbone } from '../src/engine/backbones/backbone.js';
import { convertKerasMobileNetV2 } from '../src/engine/backbones/mobilenet-v2/convert.js';
import { MID_BLOCK, mobileNetV2 } from '../src/engine/backbones/mobilenet-v2/nsfwjs-mobilenet-v2.js';
import { loadBackbone } from '../src/engine/backbones/registry.js';
import {
  convKernelToOihw,
  denseKernelToOutIn,
  depthwiseKernelToOihw,
} from '../src/engine/backbones/tfjs/keras-layout.js';
import { readTfjsLayersBundle, type TfjsLayersBundle } from '../src/engine/backbones/tfjs/layers-bundle.js';
import { Model } from '../src/engine/model.js';
import { exportOnnx } from '../src/engine/onnx/export-onnx.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';
import { nchwToNhwc, preprocessImages, type ImageBatch } from '../src/features/image/preprocess.js';

/**
 * The converted MobileNetV2 must compute what the original tfjs model computes: the same
 * preprocessed photos go through TensorFlow.js (wasm backend, the nsfwjs model as shipped),
 * libtorch (Model.forward) and ONNX Runtime (the exported graph), and the pooled features of
 * both taps must agree within 1e-3.
 */

const TOLERANCE = 1e-3;
const ADDON = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../native/build/Release/loupe_native.node',
);
const skipNative = existsSync(ADDON) ? false : 'the native addon is not built';
const PHOTOS_DIR = '/usr/share/darknet/data';
const PHOTOS = existsSync(PHOTOS_DIR)
  ? readdirSync(PHOTOS_DIR)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .map((f) => path.join(PHOTOS_DIR, f))
  : [];
const skipPhotos = PHOTOS.length >= 7 ? false : `the darknet sample photos are not in ${PHOTOS_DIR}`;

/** The tfjs layers whose outputs correspond to our taps (before pooling). */
const TFJS_TAPS = { mid: `block_${MID_BLOCK}_project_BN`, final: 'out_relu' } as const;

let workDir: string;
let cacheDir: string;
let backbone: Backbone;
let bundle: TfjsLayersBundle;
let sources: string[];

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'loupe-backbone-'));
  cacheDir = path.join(workDir, 'cache');
  sources = mobileNetV2.sources();
  bundle = await readTfjsLayersBundle(sources[0]!);
  backbone = await loadBackbone('mobilenet_v2', { cacheDir });
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, code), `expected LoupeError ${code}, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('Keras layout transposes', () => {
  const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

  test('Conv2D HWIO → OIHW', () => {
    const t = convKernelToOihw({ shape: [2, 3, 4, 5], data: seq(120) });
    assert.deepEqual(t.shape, [5, 4, 2, 3]);
    // out o, in i, y, x ← [y, x, i, o]
    const at = (o: number, i: number, y: number, x: number) => t.data[((o * 4 + i) * 2 + y) * 3 + x];
    assert.equal(at(4, 3, 1, 2), ((1 * 3 + 2) * 4 + 3) * 5 + 4);
    assert.equal(at(2, 1, 0, 1), ((0 * 3 + 1) * 4 + 1) * 5 + 2);
  });

  test('DepthwiseConv2D [kh, kw, in, mult] → [in·mult, 1, kh, kw], channel c·mult + m', () => {
    const t = depthwiseKernelToOihw({ shape: [3, 3, 4, 2], data: seq(72) });
    assert.deepEqual(t.shape, [8, 1, 3, 3]);
    const at = (c: number, m: number, y: number, x: number) => t.data[((c * 2 + m) * 3 + y) * 3 + x];
    assert.equal(at(3, 1, 2, 0), ((2 * 3 + 0) * 4 + 3) * 2 + 1);
  });

  test('Dense [in, out] → [out, in]', () => {
    const t = denseKernelToOutIn({ shape: [3, 2], data: seq(6) });
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual([...t.data], [0, 2, 4, 1, 3, 5]);
  });
});

describe('MobileNetV2 conversion', () => {
  test('the spec is MobileNetV2 with Keras padding, BN eps 1e-3 and the two taps', () => {
    const resolved = resolveSpec(backbone.spec);
    assert.deepEqual(resolved.input, { channels: 3, height: 224, width: 224 });
    assert.deepEqual(resolved.taps, { mid: [96, 14, 14], final: [1280] });
    assert.deepEqual(resolved.outShape, [1280]);
    // Keras reports 2,223,872 trainable parameters for MobileNetV2(include_top=False).
    assert.equal(resolved.parameterCount, 2_223_872);
    const blocks = backbone.spec.layers.filter((l) => l.type === 'inverted_residual');
    assert.equal(blocks.length, 17);
    for (const b of blocks) {
      assert.equal(b.type === 'inverted_residual' && b.padding, 'keras');
      assert.equal(b.type === 'inverted_residual' && b.eps, 1e-3);
    }
    assert.deepEqual(backbone.spec.layers[0], { type: 'pad', name: 'conv1_pad', padding: [0, 1, 0, 1] });
    assert.equal(backbone.weights.size, Object.keys(resolved.tensors).length);
  });

  test('the mid tap is the deepest block nsfwjs left frozen', () => {
    const c = convertKerasMobileNetV2(bundle, { midBlock: MID_BLOCK });
    assert.equal(c.blocks, 17);
    assert.equal(c.lastFrozenBlock, MID_BLOCK);
    assert.equal(c.layerMap[TFJS_TAPS.mid], `block_${MID_BLOCK}`);
    assert.equal(c.layerMap[TFJS_TAPS.final], 'conv_last_relu');
  });

  test('weights are uint8-quantized in the manifest and dequantized like tfjs', () => {
    assert.ok(bundle.weightSpecs.every((w) => w.quantization?.dtype === 'uint8'));
    const spec = bundle.weightSpecs.find((w) => w.name === 'bn_Conv1/moving_variance')!;
    const offset = bundle.weightSpecs
      .slice(0, bundle.weightSpecs.indexOf(spec))
      .reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    const q = bundle.weightData[offset]!;
    assert.equal(
      backbone.weights.get('conv1_bn.running_var')!.data[0],
      Math.fround(q * spec.quantization!.scale! + spec.quantization!.min!),
    );
  });

  test('preprocessing and provenance are recorded', () => {
    assert.deepEqual(backbone.preprocessing.resize, {
      method: 'bilinear',
      alignCorners: true,
      halfPixelCenters: false,
    });
    assert.equal(backbone.preprocessing.width, 224);
    assert.deepEqual(backbone.preprocessing.std, [1, 1, 1]);
    assert.deepEqual(Object.keys(backbone.taps).sort(), ['final', 'mid']);
    assert.match(backbone.info.origin, /nsfwjs@4\.4\.0/);
    assert.match(backbone.info.licence, /MIT/);
    assert.match(backbone.info.caveat, /fine-tuned/);
  });
});

describe('parity with the original tfjs model', { skip: skipPhotos }, () => {
  let batch: ImageBatch;
  const reference: Record<'mid' | 'final', Float32Array> = {
    mid: new Float32Array(),
    final: new Float32Array(),
  };

  before(async () => {
    batch = await preprocessImages(PHOTOS.slice(0, 7), backbone.preprocessing);
    const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
    setWasmPaths(`${wasmDir}/`);
    // The single-threaded build: the threaded one would start workers from blobs.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    assert.ok(await tf.setBackend('wasm'), 'the tfjs wasm backend failed to initialise');
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: bundle.modelJson.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: bundle.weightSpecs as tf.io.WeightsManifestEntry[],
        weightData: bundle.weightData.slice().buffer,
      }),
    );
    const taps = tf.model({
      inputs: model.inputs,
      outputs: [TFJS_TAPS.mid, TFJS_TAPS.final].map((n) => model.getLayer(n).output as tf.SymbolicTensor),
    });
    const x = tf.tensor4d(nchwToNhwc(batch.x, batch.shape), [batch.size, 224, 224, 3]);
    const [mid, final] = taps.predict(x) as tf.Tensor[];
    reference.mid = (await tf.mean(mid!, [1, 2]).data()) as Float32Array;
    reference.final = (await tf.mean(final!, [1, 2]).data()) as Float32Array;
    tf.dispose([x, mid!, final!]);
    model.dispose();
  });

  test('libtorch features match tfjs', { skip: skipNative }, async () => {
    const model = await Model.create(backbone.spec);
    try {
      await model.setWeights(backbone.weights);
      const final = await model.forward(batch.x, batch.size, { tap: 'final' });
      const mid = await model.forward(batch.x, batch.size, { tap: 'mid', pool: true });
      assert.deepEqual(final.shape, [7, 1280]);
      assert.deepEqual(mid.shape, [7, 96]);
      const d = { final: maxAbsDiff(final.data, reference.final), mid: maxAbsDiff(mid.data, reference.mid) };
      console.log(
        `libtorch vs tfjs max |diff|: final ${d.final.toExponential(2)}, mid ${d.mid.toExponential(2)}`,
      );
      assert.ok(d.final < TOLERANCE && d.mid < TOLERANCE, JSON.stringify(d));
    } finally {
      await model.dispose();
    }
  });

  test('ONNX Runtime features match tfjs', async () => {
    const onnx = exportOnnx(resolveSpec(backbone.spec), backbone.weights, {
      taps: ['final', { tap: 'mid', pool: true }],
    });
    const session = await OnnxSession.open(onnx);
    try {
      const out = await session.run(batch.x, batch.size, { outputs: ['final', 'mid'] });
      const d = {
        final: maxAbsDiff(out.get('final')!.data, reference.final),
        mid: maxAbsDiff(out.get('mid')!.data, reference.mid),
      };
      console.log(
        `ONNX Runtime vs tfjs max |diff|: final ${d.final.toExponential(2)}, mid ${d.mid.toExponential(2)}`,
      );
      assert.ok(d.final < TOLERANCE && d.mid < TOLERANCE, JSON.stringify(d));
    } finally {
      await session.dispose();
    }
  });

  test('the features are not degenerate', () => {
    // Parity between engines would also hold for all-zero features; make sure the photos differ.
    const a = reference.final.subarray(0, 1280);
    const b = reference.final.subarray(1280, 2560);
    assert.ok(maxAbsDiff(a, b) > 0.1);
  });
});

describe('bad sources', () => {
  let bad: string;
  before(async () => {
    bad = path.join(workDir, 'bad');
    await mkdir(bad, { recursive: true });
  });

  async function copySources(mutate?: (model: string, shard: string) => [string, string]): Promise<string[]> {
    const dir = await mkdtemp(path.join(bad, 'src-'));
    const out = [path.join(dir, 'model.min.js'), path.join(dir, 'group1-shard1of1.min.js')];
    if (!mutate) {
      await copyFile(sources[0]!, out[0]!);
      await copyFile(sources[1]!, out[1]!);
    } else {
      const [m, s] = mutate(await readFile(sources[0]!, 'utf8'), await readFile(sources[1]!, 'utf8'));
      await writeFile(out[0]!, m);
      await writeFile(out[1]!, s);
    }
    return out;
  }

  test('a missing weight shard is NOT_FOUND, naming the file', async () => {
    const files = await copySources();
    await rm(files[1]!);
    await rejectsWith(
      loadBackbone('mobilenet_v2', { cacheDir, sources: files }),
      'NOT_FOUND',
      /group1-shard1of1\.min\.js/,
    );
    await rejectsWith(
      readTfjsLayersBundle(files[0]!),
      'NOT_FOUND',
      /group1-shard1of1\.min\.js does not exist/,
    );
  });

  test('a truncated model bundle is CORRUPT_FILE', async () => {
    const files = await copySources((m, s) => [m.slice(0, Math.floor(m.length / 2)), s]);
    await rejectsWith(
      mobileNetV2.convert(files),
      'CORRUPT_FILE',
      /model\.min\.js is not the expected tfjs model bundle: .*malformed/,
    );
  });

  test('a shard with missing bytes is CORRUPT_FILE', async () => {
    const files = await copySources((m, s) => [m, s.replace(/"([A-Za-z0-9+/]{400})/, '"')]);
    await rejectsWith(
      mobileNetV2.convert(files),
      'CORRUPT_FILE',
      /hold \d+ bytes but the manifest needs 2619461/,
    );
  });

  test('code in place of the model literal is refused, not run', async () => {
    const marker = path.join(bad, 'executed');
    const files = await copySources((m, s) => [
      m.replace(/a\.exports=\{/, `a.exports=(require("fs").writeFileSync(${JSON.stringify(marker)},"x"),{`),
      s,
    ]);
    await rejectsWith(mobileNetV2.convert(files), 'CORRUPT_FILE', /malformed|unexpected/);
    assert.equal(existsSync(marker), false);
  });

  test('a topology that is not MobileNetV2 names the layer', async () => {
    const files = await copySources((m, s) => [
      m.replace(
        'name:"block_5_depthwise",class_name:"DepthwiseConv2D"',
        'name:"block_5_depthwise",class_name:"Conv2D"',
      ),
      s,
    ]);
    await rejectsWith(
      mobileNetV2.convert(files),
      'CORRUPT_FILE',
      /block_5_depthwise is a Conv2D, expected DepthwiseConv2D/,
    );
  });

  test('an unknown backbone is NOT_FOUND and lists the known ones', async () => {
    await rejectsWith(loadBackbone('resnet_9000', { cacheDir }), 'NOT_FOUND', /mobilenet_v2/);
  });
});

describe('conversion cache', () => {
  test('a second load reuses the cache and returns identical weights', async () => {
    const dir = path.join(workDir, 'cache-reuse');
    const first = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(first.cache.hit, false);
    assert.ok(first.cache.dir.startsWith(path.join(dir, 'backbones', 'mobilenet_v2')));
    const second = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(second.cache.hit, true);
    assert.equal(second.cache.dir, first.cache.dir);
    assert.deepEqual(second.spec, first.spec);
    for (const [name, t] of first.weights) assert.deepEqual(second.weights.get(name), t, name);
  });

  test('a corrupted weights file is detected and rebuilt', async () => {
    const dir = path.join(workDir, 'cache-corrupt');
    const first = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    const file = path.join(first.cache.dir, 'weights.safetensors');
    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(file, bytes);
    const rebuilt = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(rebuilt.cache.hit, false);
    assert.match(rebuilt.cache.rebuilt ?? '', /weights\.safetensors does not match its recorded SHA-256/);
    assert.deepEqual(
      rebuilt.weights.get('conv_last_bn.running_var'),
      first.weights.get('conv_last_bn.running_var'),
    );
    const again = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(again.cache.hit, true);
  });

  test('a truncated manifest or spec is rebuilt too', async () => {
    const dir = path.join(workDir, 'cache-truncated');
    const first = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    await writeFile(path.join(first.cache.dir, 'manifest.json'), '{"format":"loupe.backbo');
    const a = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(a.cache.hit, false);
    assert.ok(a.cache.rebuilt);
    await writeFile(path.join(first.cache.dir, 'spec.json'), '{}');
    const b = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(b.cache.hit, false);
    assert.match(b.cache.rebuilt ?? '', /spec\.json/);
  });

  test('the cache key follows the source bytes', async () => {
    const dir = path.join(workDir, 'cache-key');
    const copy = await mkdtemp(path.join(workDir, 'src-copy-'));
    const files = [path.join(copy, 'model.min.js'), path.join(copy, 'group1-shard1of1.min.js')];
    await copyFile(sources[0]!, files[0]!);
    await copyFile(sources[1]!, files[1]!);
    const a = await loadBackbone('mobilenet_v2', { cacheDir: dir, sources: files });
    // Same bytes, same key, wherever the files live.
    const b = await loadBackbone('mobilenet_v2', { cacheDir: dir });
    assert.equal(b.cache.dir, a.cache.dir);
    assert.equal(b.cache.hit, true);
    await writeFile(files[0]!, `${await readFile(files[0]!, 'utf8')}\n`);
    const c = await loadBackbone('mobilenet_v2', { cacheDir: dir, sources: files });
    assert.notEqual(c.cache.dir, a.cache.dir);
    assert.equal(c.cache.hit, false);
  });
});

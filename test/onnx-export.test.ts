import { test, describe, before, after } from 'node:test';
import { seededRandom } from '../src/train/random.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import { Model } from '../src/engine/model.js';
import {
  exportOnnx,
  writeOnnxFile,
  ONNX_SPEC_KEY,
  type OnnxExportOptions,
} from '../src/engine/onnx/export-onnx.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';
import type { ResolvedLayer, ResolvedSpec } from '../src/engine/spec/resolved.js';
import type { LayerSpecInput, ModelSpecInput } from '../src/engine/spec/schema.js';
import { smallCnnSpec, vggSpec } from '../src/engine/spec/families/vgg.js';
import { numel, type Tensor, type TensorMap } from '../src/engine/tensor.js';
import { seededWeights } from './helpers/seeded-weights.js';

/**
 * Three implementations of every layer are compared on the same weights and inputs: ONNX Runtime
 * on the exported graph, libtorch through Model.forward, and a naive float64 reference written
 * here. When two disagree, the third tells which one is wrong.
 */

const TOLERANCE = 1e-4;
const ADDON = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../native/build/Release/loupe_native.node',
);
const haveNative = existsSync(ADDON);
const skipNative = haveNative ? false : 'the native addon is not built';
const DOG = '/usr/share/darknet/data/dog.jpg';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-onnx-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  if (diffs.length) console.log(`max abs diffs:\n${diffs.join('\n')}`);
});
const diffs: string[] = [];

// --- deterministic data --------------------------------------------------------------------

function randomInput(spec: ResolvedSpec, batch: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  const { channels, height, width } = spec.input;
  return Float32Array.from({ length: batch * channels * height * width }, () => (r() * 2 - 1) * scale);
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape, 'shapes differ');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return Number.isNaN(m) ? Infinity : m;
}

// --- the float64 reference -----------------------------------------------------------------

interface T64 {
  shape: number[];
  data: Float64Array;
}

const w64 = (weights: TensorMap, name: string) => Float64Array.from(weights.get(name)!.data);

function conv(
  x: T64,
  l: Extract<ResolvedLayer, { type: 'conv2d' }>,
  w: Float64Array,
  b: Float64Array | undefined,
  out: number[],
): T64 {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, oh, ow] = out as [number, number, number];
  const [kh, kw] = l.kernel;
  const cin = c / l.groups;
  const outPerGroup = o / l.groups;
  const y = new Float64Array(n * o * oh * ow);
  for (let s = 0; s < n; s++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / outPerGroup);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let acc = b ? b[oc]! : 0;
          for (let ci = 0; ci < cin; ci++)
            for (let a = 0; a < kh; a++) {
              const yy = i * l.stride[0] - l.padding[0] + a * l.dilation[0];
              if (yy < 0 || yy >= h) continue;
              for (let bb = 0; bb < kw; bb++) {
                const xx = j * l.stride[1] - l.padding[2] + bb * l.dilation[1];
                if (xx < 0 || xx >= wd) continue;
                acc +=
                  x.data[((s * c + g * cin + ci) * h + yy) * wd + xx]! *
                  w[((oc * cin + ci) * kh + a) * kw + bb]!;
              }
            }
          y[((s * o + oc) * oh + i) * ow + j] = acc;
        }
    }
  return { shape: [n, ...out], data: y };
}

function pool(x: T64, l: Extract<ResolvedLayer, { type: 'maxpool' | 'avgpool' }>, out: number[]): T64 {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, oh, ow] = out as [number, number, number];
  const y = new Float64Array(n * c * oh * ow);
  for (let s = 0; s < n * c; s++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        let acc = l.type === 'maxpool' ? -Infinity : 0;
        for (let a = 0; a < l.kernel[0]; a++)
          for (let b = 0; b < l.kernel[1]; b++) {
            const yy = i * l.stride[0] - l.padding[0] + a;
            const xx = j * l.stride[1] - l.padding[1] + b;
            const v = yy < 0 || yy >= h || xx < 0 || xx >= w ? undefined : x.data[(s * h + yy) * w + xx]!;
            if (l.type === 'maxpool') acc = v === undefined ? acc : Math.max(acc, v);
            else acc += v ?? 0;
          }
        y[(s * oh + i) * ow + j] = l.type === 'maxpool' ? acc : acc / (l.kernel[0] * l.kernel[1]);
      }
  return { shape: [n, ...out], data: y };
}

const erf = (x: number): number => {
  // Abramowitz–Stegun 7.1.26 is only good to 1e-7, so sum the Taylor series / continued fraction instead.
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let sum = 0;
  let term = ax;
  for (let k = 0; k < 200; k++) {
    sum += term / (2 * k + 1);
    term *= (-ax * ax) / (k + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
};

const ACT: Record<string, (v: number) => number> = {
  relu: (v) => Math.max(0, v),
  relu6: (v) => Math.min(6, Math.max(0, v)),
  gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  silu: (v) => v / (1 + Math.exp(-v)),
};
const map = (x: T64, f: (v: number) => number): T64 => ({ shape: x.shape, data: x.data.map(f) });

function referenceLayer(
  l: ResolvedLayer,
  x: T64,
  path: string,
  weights: TensorMap,
  taps: Map<string, T64>,
): T64 {
  const n = x.shape[0]!;
  switch (l.type) {
    case 'conv2d':
      return conv(
        x,
        l,
        w64(weights, `${path}.weight`),
        l.bias ? w64(weights, `${path}.bias`) : undefined,
        l.outShape,
      );
    case 'batchnorm': {
      const [g, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((p) =>
        w64(weights, `${path}.${p}`),
      ) as Float64Array[];
      const inner = numel(x.shape.slice(2));
      const c = x.shape[1]!;
      return {
        shape: x.shape,
        data: x.data.map((val, i) => {
          const ch = Math.floor(i / inner) % c;
          return ((val - m![ch]!) / Math.sqrt(v![ch]! + l.eps)) * g![ch]! + b![ch]!;
        }),
      };
    }
    case 'relu':
    case 'relu6':
    case 'gelu':
    case 'silu':
      return map(x, ACT[l.type]!);
    case 'maxpool':
    case 'avgpool':
      return pool(x, l, l.outShape);
    case 'global_avgpool': {
      const [c, hw] = [x.shape[1]!, numel(x.shape.slice(2))];
      const y = new Float64Array(n * c);
      for (let i = 0; i < n * c; i++) for (let k = 0; k < hw; k++) y[i]! += x.data[i * hw + k]!;
      return { shape: [n, c], data: y.map((v) => v / hw) };
    }
    case 'dropout':
      return x;
    case 'flatten':
      return { shape: [n, numel(x.shape.slice(1))], data: x.data };
    case 'linear': {
      const w = w64(weights, `${path}.weight`);
      const b = l.bias ? w64(weights, `${path}.bias`) : undefined;
      const y = new Float64Array(n * l.out);
      for (let s = 0; s < n; s++)
        for (let o = 0; o < l.out; o++) {
          let acc = b ? b[o]! : 0;
          for (let i = 0; i < l.in; i++) acc += x.data[s * l.in + i]! * w[o * l.in + i]!;
          y[s * l.out + o] = acc;
        }
      return { shape: [n, l.out], data: y };
    }
    case 'pad': {
      const [c, h, w] = x.shape.slice(1) as [number, number, number];
      const [, oh, ow] = l.outShape as [number, number, number];
      const y = new Float64Array(n * c * oh * ow).fill(l.value);
      for (let s = 0; s < n * c; s++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < w; j++)
            y[(s * oh + i + l.padding[0]) * ow + j + l.padding[2]] = x.data[(s * h + i) * w + j]!;
      return { shape: [n, c, oh, ow], data: y };
    }
    case 'residual': {
      const body = referenceList(l.body, x, `${path}.body`, weights, taps);
      const short = l.shortcut.length ? referenceList(l.shortcut, x, `${path}.shortcut`, weights, taps) : x;
      const sum = { shape: body.shape, data: body.data.map((v, i) => v + short.data[i]!) };
      return l.activation ? map(sum, ACT[l.activation]!) : sum;
    }
    case 'sequential':
      return referenceList(l.layers, x, path, weights, taps);
  }
}

function referenceList(
  layers: ResolvedLayer[],
  x: T64,
  prefix: string,
  weights: TensorMap,
  taps: Map<string, T64>,
): T64 {
  for (const l of layers) {
    x = referenceLayer(l, x, prefix ? `${prefix}.${l.name}` : l.name, weights, taps);
    if (l.tap) taps.set(l.tap, x);
  }
  return x;
}

function reference(spec: ResolvedSpec, weights: TensorMap, x: Float32Array, n: number): Map<string, Tensor> {
  const { channels, height, width } = spec.input;
  const taps = new Map<string, T64>();
  const logits = referenceList(
    spec.layers,
    { shape: [n, channels, height, width], data: Float64Array.from(x) },
    '',
    weights,
    taps,
  );
  const out = new Map<string, Tensor>([
    ['logits', { shape: logits.shape, data: Float32Array.from(logits.data) }],
  ]);
  if (logits.shape.length === 2) {
    const k = logits.shape[1]!;
    const probs = new Float32Array(logits.data.length);
    for (let s = 0; s < n; s++) {
      const row = logits.data.subarray(s * k, (s + 1) * k);
      const mx = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      row.forEach((v, i) => (probs[s * k + i] = Math.exp(v - mx) / z));
    }
    out.set('probs', { shape: logits.shape, data: probs });
  }
  for (const [name, t] of taps) out.set(name, { shape: t.shape, data: Float32Array.from(t.data) });
  return out;
}

// --- the comparison harness ----------------------------------------------------------------

interface Case {
  name: string;
  spec: ModelSpecInput;
  /** Input scale: relu6 needs values above 6 to show its clipping. */
  scale?: number;
  batch?: number;
}

const single = (input: [number, number, number], ...layers: LayerSpecInput[]): ModelSpecInput => ({
  name: 'case',
  input: { channels: input[0], height: input[1], width: input[2] },
  layers,
});

async function compare(c: Case): Promise<void> {
  const spec = resolveSpec(c.spec);
  const batch = c.batch ?? 2;
  const weights = seededWeights(spec, 7);
  const x = randomInput(spec, batch, 11, c.scale);
  const taps = Object.keys(spec.taps);
  const pooled = taps.filter((t) => spec.taps[t]!.length === 3);
  const options: OnnxExportOptions = { taps: taps.map((t) => ({ tap: t, pool: false })) };
  const session = await OnnxSession.open(exportOnnx(spec, weights, options), { threads: 1 });
  const pooledSession = pooled.length
    ? await OnnxSession.open(
        exportOnnx(spec, weights, { taps: pooled.map((tap) => ({ tap, pool: true })) }),
        { threads: 1 },
      )
    : undefined;
  try {
    const ort = await session.run(x, batch);
    const ref = reference(spec, weights, x, batch);
    const report: string[] = [];
    for (const [name, expected] of ref) {
      const d = maxAbsDiff(ort.get(name)!, expected);
      report.push(`ort~ref ${name}=${d.toExponential(1)}`);
      assert.ok(d < TOLERANCE, `${c.name}: ONNX Runtime and the reference differ on "${name}" by ${d}`);
    }
    const ortPooled = pooledSession ? await pooledSession.run(x, batch) : new Map<string, Tensor>();
    if (haveNative) {
      const model = await Model.create(spec, { seed: 1 });
      try {
        await model.setWeights(weights);
        const outputs: [string, Parameters<Model['forward']>[2], Tensor][] = [
          ['logits', 'logits', ort.get('logits')!],
        ];
        if (ort.has('probs')) outputs.push(['probs', 'probs', ort.get('probs')!]);
        for (const t of taps) outputs.push([t, { tap: t }, ort.get(t)!]);
        for (const t of pooled) outputs.push([`${t}(pooled)`, { tap: t, pool: true }, ortPooled.get(t)!]);
        for (const [label, what, expected] of outputs) {
          const torch = await model.forward(x, batch, what);
          const d = maxAbsDiff(torch, expected);
          report.push(`torch~ort ${label}=${d.toExponential(1)}`);
          const refOut = ref.get(label);
          const hint = refOut
            ? ` (libtorch vs reference: ${maxAbsDiff(torch, refOut)}, ONNX vs reference: ${maxAbsDiff(expected, refOut)})`
            : '';
          assert.ok(
            d < TOLERANCE,
            `${c.name}: libtorch and ONNX Runtime differ on "${label}" by ${d}${hint}`,
          );
        }
      } finally {
        await model.dispose();
      }
    }
    diffs.push(`  ${c.name}: ${report.join(', ')}`);
  } finally {
    await session.dispose();
    await pooledSession?.dispose();
  }
}

const LAYER_CASES: Case[] = [
  { name: 'conv2d', spec: single([3, 7, 7], { type: 'conv2d', out: 4, kernel: 3, padding: 1 }) },
  {
    name: 'conv2d strided',
    spec: single([3, 9, 9], { type: 'conv2d', out: 5, kernel: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'conv2d grouped',
    spec: single([4, 6, 6], { type: 'conv2d', out: 6, kernel: 3, groups: 2, padding: 1 }),
  },
  {
    name: 'conv2d without bias',
    spec: single([3, 6, 6], { type: 'conv2d', out: 4, kernel: 1, bias: false }),
  },
  {
    name: 'depthwise conv2d',
    spec: single([3, 7, 7], { type: 'depthwise_conv2d', kernel: 3, multiplier: 2, padding: 1 }),
  },
  {
    name: 'conv2d asymmetric padding',
    spec: single([2, 7, 8], {
      type: 'conv2d',
      out: 3,
      kernel: [3, 2],
      stride: [2, 1],
      padding: [0, 2, 1, 0],
    }),
  },
  {
    name: 'conv2d dilated',
    spec: single([2, 9, 9], { type: 'conv2d', out: 3, kernel: 3, dilation: 2, padding: 2 }),
  },
  {
    name: 'batchnorm on maps',
    spec: single([3, 5, 5], { type: 'conv2d', out: 4, kernel: 3 }, { type: 'batchnorm', eps: 1e-3 }),
  },
  {
    name: 'batchnorm on vectors',
    spec: single([2, 4, 4], { type: 'flatten' }, { type: 'linear', out: 6 }, { type: 'batchnorm' }),
    batch: 3,
  },
  { name: 'relu', spec: single([2, 5, 5], { type: 'relu' }) },
  { name: 'relu6', spec: single([2, 5, 5], { type: 'relu6' }), scale: 9 },
  { name: 'gelu', spec: single([2, 5, 5], { type: 'gelu' }), scale: 4 },
  { name: 'silu', spec: single([2, 5, 5], { type: 'silu' }), scale: 4 },
  { name: 'maxpool padded', spec: single([2, 7, 7], { type: 'maxpool', kernel: 3, stride: 2, padding: 1 }) },
  { name: 'maxpool', spec: single([2, 6, 6], { type: 'maxpool', kernel: 2 }) },
  // Padded zeros count in the divisor (PyTorch's count_include_pad), which border outputs show.
  { name: 'avgpool padded', spec: single([2, 7, 7], { type: 'avgpool', kernel: 3, stride: 2, padding: 1 }) },
  { name: 'avgpool', spec: single([2, 6, 6], { type: 'avgpool', kernel: [2, 3], stride: [2, 1] }) },
  { name: 'global_avgpool', spec: single([3, 5, 4], { type: 'global_avgpool' }) },
  {
    name: 'dropout',
    spec: single([2, 4, 4], { type: 'dropout', p: 0.5 }, { type: 'flatten' }, { type: 'linear', out: 3 }),
  },
  { name: 'flatten', spec: single([2, 3, 4], { type: 'flatten' }) },
  { name: 'linear', spec: single([2, 3, 3], { type: 'flatten' }, { type: 'linear', out: 5 }) },
  {
    name: 'linear without bias',
    spec: single([2, 3, 3], { type: 'flatten' }, { type: 'linear', out: 5, bias: false }),
  },
  { name: 'pad', spec: single([2, 4, 5], { type: 'pad', padding: [1, 0, 2, 3], value: 0.5 }) },
  {
    name: 'residual (identity shortcut)',
    spec: single([3, 5, 5], {
      type: 'residual',
      body: [{ type: 'conv2d', out: 3, kernel: 3, padding: 1 }, { type: 'batchnorm' }],
    }),
  },
  {
    name: 'residual (shortcut, activation)',
    spec: single([3, 6, 6], {
      type: 'residual',
      body: [
        { type: 'conv2d', out: 5, kernel: 3, stride: 2, padding: 1 },
        { type: 'batchnorm' },
        { type: 'relu' },
      ],
      shortcut: [{ type: 'conv2d', out: 5, kernel: 1, stride: 2, bias: false }, { type: 'batchnorm' }],
      activation: 'relu',
    }),
  },
  {
    name: 'sequential with taps',
    spec: single([2, 6, 6], {
      type: 'sequential',
      name: 'outer',
      tap: 'outer',
      layers: [
        { type: 'conv2d', name: 'c', out: 3, kernel: 3, tap: 'inner_conv' },
        { type: 'sequential', name: 'nested', layers: [{ type: 'gelu' }, { type: 'maxpool', kernel: 2 }] },
      ],
    }),
  },
  {
    name: 'inverted_residual same, stride 1 (residual)',
    spec: single([4, 6, 6], { type: 'inverted_residual', out: 4, expand: 3 }),
  },
  {
    name: 'inverted_residual same, stride 2',
    spec: single([4, 7, 7], { type: 'inverted_residual', out: 6, stride: 2, expand: 2 }),
  },
  {
    name: 'inverted_residual keras, stride 2',
    spec: single([4, 8, 8], { type: 'inverted_residual', out: 6, stride: 2, expand: 2, padding: 'keras' }),
  },
  {
    name: 'inverted_residual keras, kernel 5',
    spec: single([3, 9, 9], {
      type: 'inverted_residual',
      out: 4,
      stride: 2,
      expand: 1,
      kernel: 5,
      padding: 'keras',
    }),
  },
];

/** A scaled-down MobileNetV2: stem, inverted residuals with and without skips, Keras padding, head. */
function mobileNetLike(
  padding: 'same' | 'keras',
  input: [number, number, number] = [3, 32, 32],
): ModelSpecInput {
  const stemPad: LayerSpecInput[] =
    padding === 'keras' ? [{ type: 'pad', name: 'stem_pad', padding: [0, 1, 0, 1] }] : [];
  return {
    name: `mobilenet-like-${padding}`,
    input: { channels: input[0], height: input[1], width: input[2] },
    layers: [
      ...stemPad,
      {
        type: 'conv2d',
        name: 'stem',
        out: 8,
        kernel: 3,
        stride: 2,
        padding: padding === 'keras' ? 0 : 1,
        bias: false,
      },
      { type: 'batchnorm', name: 'stem_bn', eps: 1e-3 },
      { type: 'relu6', name: 'stem_relu' },
      { type: 'inverted_residual', name: 'block1', out: 8, expand: 1, padding },
      { type: 'inverted_residual', name: 'block2', out: 12, stride: 2, expand: 6, padding },
      { type: 'inverted_residual', name: 'block3', out: 12, expand: 6, padding, tap: 'block3' },
      { type: 'inverted_residual', name: 'block4', out: 16, stride: 2, expand: 6, padding },
      { type: 'conv2d', name: 'head', out: 32, kernel: 1, bias: false },
      { type: 'batchnorm', name: 'head_bn' },
      { type: 'relu6', name: 'head_relu' },
      { type: 'global_avgpool', name: 'pool', tap: 'features' },
      { type: 'dropout', name: 'dropout', p: 0.2 },
      { type: 'linear', name: 'classifier', out: 5 },
    ],
  };
}

const NETWORK_CASES: Case[] = [
  {
    name: 'vgg (batchnorm, dropout, two blocks)',
    spec: vggSpec({
      input: { channels: 3, height: 16, width: 16 },
      numClasses: 4,
      filters: [6, 8],
      convsPerBlock: [1, 2],
      classifier: [12],
      batchnorm: true,
      dropout: 0.5,
    }),
  },
  {
    name: 'vgg (global pool)',
    spec: vggSpec({
      input: { channels: 1, height: 12, width: 12 },
      numClasses: 3,
      filters: [4, 8],
      globalPool: true,
    }),
  },
  { name: 'small cnn (28×28)', spec: smallCnnSpec({ channels: 1, height: 28, width: 28 }, 10), batch: 1 },
  { name: 'mobilenetv2-like (same)', spec: mobileNetLike('same') },
  { name: 'mobilenetv2-like (keras)', spec: mobileNetLike('keras') },
];

describe('parity per layer', () => {
  for (const c of LAYER_CASES) test(c.name, () => compare(c));
});

describe('parity per network', () => {
  for (const c of NETWORK_CASES) test(c.name, () => compare(c));
});

describe('exported models', () => {
  const spec = resolveSpec(
    vggSpec({
      input: { channels: 3, height: 12, width: 12 },
      numClasses: 3,
      filters: [4, 6],
      classifier: [8],
      batchnorm: true,
    }),
  );
  const weights = seededWeights(spec, 3);

  test('take any batch size and keep samples independent', async () => {
    const session = await OnnxSession.open(exportOnnx(spec, weights), { threads: 1 });
    assert.deepEqual(session.inputShape, ['batch', 3, 12, 12]);
    const x = randomInput(spec, 5, 5);
    const all = (await session.run(x, 5)).get('logits')!;
    for (const i of [0, 4]) {
      const one = (await session.run(x.slice(i * 432, (i + 1) * 432), 1)).get('logits')!;
      assert.ok(maxAbsDiff(one, { shape: [1, 3], data: all.data.slice(i * 3, i * 3 + 3) }) < 1e-6);
    }
    await session.dispose();
  });

  test('carry outputs, metadata and the spec', async () => {
    const file = path.join(dir, 'vgg.onnx');
    await writeOnnxFile(file, spec, weights, {
      probs: true,
      taps: ['block1', { tap: 'block2', pool: true }],
      metadata: { labels: JSON.stringify(['cat', 'dog', 'bird']), preprocessing: 'scale 1/255' },
    });
    const session = await OnnxSession.open(file, { threads: 1 });
    assert.deepEqual(session.outputNames, ['logits', 'probs', 'block1', 'block2']);
    assert.deepEqual(JSON.parse(session.metadata.labels!), ['cat', 'dog', 'bird']);
    assert.equal(session.metadata.preprocessing, 'scale 1/255');
    assert.deepEqual(JSON.parse(session.metadata[ONNX_SPEC_KEY]!), spec);
    const out = await session.run(randomInput(spec, 2, 1), 2, { outputs: ['block2', 'probs'] });
    assert.deepEqual([...out.keys()], ['block2', 'probs']);
    assert.deepEqual(out.get('block2')!.shape, [2, 6]);
    const probs = out.get('probs')!.data;
    assert.ok(Math.abs(probs[0]! + probs[1]! + probs[2]! - 1) < 1e-6);
    await session.dispose();
    await assert.rejects(session.run(randomInput(spec, 1, 1), 1), (e) => isLoupeError(e, 'DISPOSED'));
  });

  test('omit probs when asked', async () => {
    const session = await OnnxSession.open(exportOnnx(spec, weights, { probs: false, taps: [] }));
    assert.deepEqual(session.outputNames, ['logits']);
    await session.dispose();
  });

  test('from libtorch weights match libtorch on a real photo', { skip: skipNative }, async () => {
    for (const s of [
      resolveSpec(mobileNetLike('keras', [3, 48, 48])),
      resolveSpec(
        vggSpec({
          input: { channels: 3, height: 48, width: 48 },
          numClasses: 4,
          filters: [8, 8, 8],
          batchnorm: true,
          classifier: [16],
        }),
      ),
    ]) {
      const model = await Model.create(s, { seed: 3 });
      try {
        // Default initialisation leaves running statistics at 0 and 1; give them real values.
        const trained = await model.getWeights();
        for (const [name, t] of seededWeights(s, 4)) if (name.includes('running_')) trained.set(name, t);
        await model.setWeights(trained);
        const weightsOut = await model.getWeights();
        const x = await photo(48);
        const session = await OnnxSession.open(exportOnnx(s, weightsOut), { threads: 1 });
        const ort = await session.run(x, 1);
        for (const what of ['logits', 'probs'] as const) {
          const d = maxAbsDiff(await model.forward(x, 1, what), ort.get(what)!);
          diffs.push(`  dog.jpg ${s.name} ${what}: torch~ort=${d.toExponential(1)}`);
          assert.ok(d < TOLERANCE, `${s.name} on dog.jpg: ${what} differ by ${d}`);
        }
        await session.dispose();
      } finally {
        await model.dispose();
      }
    }
  });

  test('match the reference on a real photo', async () => {
    const s = resolveSpec(mobileNetLike('keras', [3, 48, 48]));
    const w = seededWeights(s, 9);
    const x = await photo(48);
    const session = await OnnxSession.open(exportOnnx(s, w), { threads: 1 });
    const d = maxAbsDiff((await session.run(x, 1)).get('logits')!, reference(s, w, x, 1).get('logits')!);
    diffs.push(`  dog.jpg ${s.name} logits: ort~ref=${d.toExponential(1)}`);
    assert.ok(d < TOLERANCE);
    await session.dispose();
  });
});

/** dog.jpg resized to size×size, CHW, ImageNet-normalised. */
async function photo(size: number): Promise<Float32Array> {
  const { data } = await sharp(await readFile(DOG))
    .resize(size, size, { fit: 'cover' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Float32Array(3 * size * size);
  for (let i = 0; i < size * size; i++)
    for (let c = 0; c < 3; c++) out[c * size * size + i] = (data[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
  return out;
}

describe('errors', () => {
  const spec = resolveSpec(
    vggSpec({ input: { channels: 1, height: 8, width: 8 }, numClasses: 2, filters: [2], batchnorm: true }),
  );
  const weights = () => seededWeights(spec, 1);
  const fails = (code: ErrorCode, pattern: RegExp) => (e: unknown) =>
    isLoupeError(e, code) && pattern.test(e.message);

  test('a missing weight is named', () => {
    const w = weights();
    w.delete('block1.bn1.running_var');
    assert.throws(
      () => exportOnnx(spec, w),
      fails('SHAPE_MISMATCH', /lack "block1\.bn1\.running_var" \[2\]/),
    );
  });

  test('a wrong shape is named with both shapes', () => {
    const w = weights();
    w.set('classifier.weight', { shape: [2, 31], data: new Float32Array(62) });
    assert.throws(
      () => exportOnnx(spec, w),
      fails('SHAPE_MISMATCH', /"classifier\.weight" has shape \[2, 31\] but the spec needs \[2, 32\]/),
    );
  });

  test('a stray weight and a wrong dtype are refused', () => {
    const stray = weights().set('extra.weight', { shape: [1], data: new Float32Array(1) });
    assert.throws(
      () => exportOnnx(spec, stray),
      fails('SHAPE_MISMATCH', /"extra\.weight", which the spec does not have/),
    );
    const w = weights();
    w.set('classifier.bias', { shape: [2], data: new Float64Array(2) as unknown as Float32Array });
    assert.throws(() => exportOnnx(spec, w), fails('DTYPE_MISMATCH', /classifier\.bias/));
  });

  test('bad options are refused', () => {
    assert.throws(
      () => exportOnnx(spec, weights(), { taps: ['nope'] }),
      fails('INVALID_ARGUMENT', /no tap named "nope"/),
    );
    assert.throws(
      () => exportOnnx(spec, weights(), { taps: [{ tap: 'features', pool: true }] }),
      fails('INVALID_ARGUMENT', /already a vector/),
    );
    assert.throws(
      () => exportOnnx(spec, weights(), { metadata: { 'loupe.spec': 'x' } }),
      fails('INVALID_ARGUMENT', /reserved/),
    );
    const conv = resolveSpec(single([1, 4, 4], { type: 'conv2d', out: 2, kernel: 1 }));
    assert.throws(
      () => exportOnnx(conv, seededWeights(conv, 1), { probs: true }),
      fails('INVALID_ARGUMENT', /probs need a vector/),
    );
  });

  test('corrupt or non-ONNX bytes fail to open with CORRUPT_FILE', async () => {
    const good = exportOnnx(spec, weights());
    const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
    const file = path.join(dir, 'notes.onnx');
    await writeFile(file, 'this is a text file, not a model\n');
    for (const [what, source] of [
      ['empty', new Uint8Array(0)],
      ['random', random],
      ['truncated', good.subarray(0, Math.floor(good.length * 0.6))],
      ['text file', file],
    ] as const) {
      await assert.rejects(
        OnnxSession.open(source),
        (e) => isLoupeError(e, 'CORRUPT_FILE') || assert.fail(`${what}: ${String(e)}`),
      );
    }
    await assert.rejects(OnnxSession.open(path.join(dir, 'missing.onnx')), (e) =>
      isLoupeError(e, 'NOT_FOUND'),
    );
  });

  test('a session checks its input', async () => {
    const session = await OnnxSession.open(exportOnnx(spec, weights()), { threads: 1 });
    await assert.rejects(
      session.run(new Float32Array(63), 1),
      fails('SHAPE_MISMATCH', /63 values .* needs 64/),
    );
    await assert.rejects(session.run(new Float32Array(64), 0), (e) => isLoupeError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(
      session.run(new Float32Array(64), 1, { outputs: ['nope'] }),
      fails('INVALID_ARGUMENT', /no output named "nope"/),
    );
    await assert.rejects(OnnxSession.open(exportOnnx(spec, weights()), { threads: 0 }), (e) =>
      isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    await session.dispose();
  });
});

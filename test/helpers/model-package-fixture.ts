import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { Model } from '../../src/engine/model.js';
import { exportOnnx } from '../../src/engine/onnx/export-onnx.js';
import type { GraphProto } from '../../src/engine/onnx/graph-builder.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { resolveSpec, toSpecInput } from '../../src/engine/spec/resolve.js';
import type { ModelSpecInput } from '../../src/engine/spec/schema.js';
import { loadWeights, WEIGHTS_SPEC_KEY } from '../../src/engine/weights-file.js';
import { seededWeights } from './seeded-weights.js';

const { onnx } = onnxProto;

/** The tap added in front of a network's final linear layer, for reading what it is fed. */
export const PENULTIMATE = 'penultimate';

/**
 * A run's weights file loaded into libtorch: the network is rebuilt from the spec the file
 * records (with a tap added on the layer feeding the final linear one, which names no
 * parameter, so the weights still fit exactly), then the weights are loaded into it.
 */
export async function libtorchFromWeights(file: string): Promise<Model> {
  const { metadata = {} } = await readSafetensors(file);
  const recorded = metadata[WEIGHTS_SPEC_KEY];
  assert.ok(recorded, `${file} records its spec`);
  const spec = toSpecInput(JSON.parse(recorded)) as ModelSpecInput & {
    layers: { type: string; tap?: string }[];
  };
  const layers = spec.layers;
  assert.equal(layers.at(-1)?.type, 'linear', 'the network ends in a linear layer');
  layers[layers.length - 2] = { ...layers[layers.length - 2]!, tap: PENULTIMATE };
  const model = await Model.create(resolveSpec(spec));
  await loadWeights(model, file);
  return model;
}

/** Largest absolute difference, NaN counting as infinitely far. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of values');
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
  }
  return d;
}

/** Row-wise softmax(scores / temperature) in double precision. */
export function softmaxRows(scores: ArrayLike<number>, k: number, temperature = 1): Float64Array {
  const out = new Float64Array(scores.length);
  for (let row = 0; row < scores.length; row += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, scores[row + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += out[row + c] = Math.exp(scores[row + c]! / temperature - max);
    for (let c = 0; c < k; c++) out[row + c]! /= sum;
  }
  return out;
}

/** Mean negative log-likelihood of softmax(logits / T) at the labels. */
export function meanNll(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, t: number): number {
  const p = softmaxRows(logits, k, t);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= Math.log(p[i * k + labels[i]!]!);
  return sum / labels.length;
}

/** x (n × d) · Wᵀ + b for a linear layer's weight [out, d] and bias [out]. */
export function linear(x: Float32Array, n: number, weight: Float32Array, bias: Float32Array): Float64Array {
  const out = bias.length;
  const d = x.length / n;
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < out; o++) {
      let s = bias[o]!;
      for (let j = 0; j < d; j++) s += x[i * d + j]! * weight[o * d + j]!;
      y[i * out + o] = s;
    }
  return y;
}

/** A linear probe head as probe training exports it: [batch, dim, 1, 1] in, flatten, linear. */
export function tinyHead(dim: number, classes: number, seed: number) {
  const spec = resolveSpec({
    name: 'probe-head',
    input: { channels: dim, height: 1, width: 1 },
    layers: [
      { type: 'flatten', name: 'flatten' },
      { type: 'linear', name: 'classifier', out: classes },
    ],
  });
  const weights = seededWeights(spec, seed);
  return {
    bytes: exportOnnx(spec, weights, { taps: [] }),
    weight: weights.get('classifier.weight')!.data,
    bias: weights.get('classifier.bias')!.data,
  };
}

/** A model around a hand-built graph. */
export function modelBytes(graph: GraphProto, o: { opset?: number; irVersion?: number } = {}): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: o.irVersion ?? 7,
    opsetImport: [{ domain: '', version: o.opset ?? 14 }],
    producerName: 'elsewhere',
    graph,
  }).finish();
}

export const decodeModel = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes);
export const encodeModel = (m: onnxProto.onnx.IModelProto): Uint8Array => onnx.ModelProto.encode(m).finish();
/** A decoded graph, whose repeated fields are always arrays. */
export type OnnxGraph = onnxProto.onnx.GraphProto;
export const graphOf = (m: onnxProto.onnx.ModelProto): OnnxGraph => m.graph as OnnxGraph;

/** The declared dims of a model's outputs, by name (symbolic ones as their names). */
export function outputDims(bytes: Uint8Array): Record<string, (number | string)[]> {
  return Object.fromEntries(
    graphOf(decodeModel(bytes)).output.map((o) => [
      o.name,
      (o.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue)),
    ]),
  );
}

import onnxProto from 'onnx-proto';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Activation } from '../spec/schema.js';
import type { ResolvedLayer, ResolvedSpec } from '../spec/resolved.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { numel, type TensorMap } from '../tensor.js';
import { GraphBuilder } from './graph-builder.js';

const { onnx } = onnxProto;

/**
 * Opset 14 with IR 7 (the pair ONNX 1.9 shipped): old enough for every runtime in use, new
 * enough that Clip and Pad take their bounds as inputs and Softmax normalises one axis only.
 * Gelu only became an operator in opset 20, so it is written out in its exact erf form.
 */
export const ONNX_OPSET = 14;
const IR_VERSION = 7;

export const ONNX_INPUT = 'input';
export const ONNX_LOGITS = 'logits';
export const ONNX_PROBS = 'probs';
/** metadata_props key holding the resolved spec as JSON; keys under "loupe." are reserved. */
export const ONNX_SPEC_KEY = 'loupe.spec';
const BATCH = 'batch';

export interface OnnxTapOutput {
  tap: string;
  /** Average the tap's feature map over height and width, as model.forward({ tap, pool: true }) does. */
  pool?: boolean;
}

export interface OnnxExportOptions {
  /** Adds a `probs` output (softmax of the logits). Defaults to true when the network outputs a vector. */
  probs?: boolean;
  /** Taps exposed as extra outputs named after the tap. Defaults to every tap of the spec, unpooled. */
  taps?: (string | OnnxTapOutput)[];
  /** Free-form strings stored in metadata_props (labels, preprocessing, provenance). */
  metadata?: Record<string, string>;
  producerVersion?: string;
  docString?: string;
}

/** Serialises a resolved spec and its weights as an ONNX model (ModelProto bytes). */
export function exportOnnx(
  spec: ResolvedSpec,
  weights: TensorMap,
  options: OnnxExportOptions = {},
): Uint8Array {
  checkWeights(spec, weights);
  const taps = tapOutputs(spec, options.taps);
  const metadata = metadataProps(spec, options.metadata ?? {});
  const wantProbs = options.probs ?? spec.outShape.length === 1;
  if (wantProbs && spec.outShape.length !== 1) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `probs need a vector output but this network outputs [${spec.outShape.join(', ')}]`,
    );
  }

  const g = new GraphBuilder();
  const { channels, height, width } = spec.input;
  const input = g.input(ONNX_INPUT, [BATCH, channels, height, width]);
  const lowering = new Lowering(g, weights);
  const last = lowering.list(spec.layers, input, '');

  g.node('Identity', [last], ONNX_LOGITS);
  g.output(ONNX_LOGITS, [BATCH, ...spec.outShape]);
  if (wantProbs) {
    g.node('Softmax', [ONNX_LOGITS], ONNX_PROBS, { axis: 1 });
    g.output(ONNX_PROBS, [BATCH, ...spec.outShape]);
  }
  for (const { tap, pool } of taps) {
    const value = lowering.taps.get(tap)!;
    const shape = spec.taps[tap]!;
    if (pool) {
      const pooled = g.node('GlobalAveragePool', [value], g.fresh(`/${tap}/pool`));
      g.node('Flatten', [pooled], tap, { axis: 1 });
      g.output(tap, [BATCH, shape[0]!]);
    } else {
      g.node('Identity', [value], tap);
      g.output(tap, [BATCH, ...shape]);
    }
  }

  return onnx.ModelProto.encode({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'loupe',
    producerVersion: options.producerVersion ?? '',
    docString: options.docString ?? '',
    graph: g.build(spec.name),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  }).finish();
}

/** Exports and writes a `.onnx` file atomically, so a crash never leaves a truncated model to be served. */
export async function writeOnnxFile(
  file: string,
  spec: ResolvedSpec,
  weights: TensorMap,
  options: OnnxExportOptions = {},
): Promise<void> {
  await writeFileAtomic(file, exportOnnx(spec, weights, options));
}

/** Every tensor the spec declares must be present with its shape; strays mean the weights belong to another model. */
function checkWeights(spec: ResolvedSpec, weights: TensorMap): void {
  for (const [name, shape] of Object.entries(spec.tensors)) {
    const t = weights.get(name);
    if (!t)
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `cannot export "${spec.name}": the weights lack "${name}" [${shape.join(', ')}]`,
        { tensor: name },
      );
    if (t.shape.join(',') !== shape.join(',')) {
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `cannot export "${spec.name}": "${name}" has shape [${t.shape.join(', ')}] but the spec needs [${shape.join(', ')}]`,
        { tensor: name },
      );
    }
    if (!(t.data instanceof Float32Array) || t.data.length !== numel(shape)) {
      throw new LoupeError(
        'DTYPE_MISMATCH',
        `cannot export "${spec.name}": "${name}" must hold ${numel(shape)} float32 values`,
        { tensor: name },
      );
    }
  }
  for (const name of weights.keys()) {
    if (!(name in spec.tensors))
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `cannot export "${spec.name}": the weights contain "${name}", which the spec does not have`,
        { tensor: name },
      );
  }
}

function tapOutputs(spec: ResolvedSpec, requested: OnnxExportOptions['taps']): Required<OnnxTapOutput>[] {
  const list = (requested ?? Object.keys(spec.taps)).map((t) =>
    typeof t === 'string' ? { tap: t, pool: false } : { tap: t.tap, pool: t.pool ?? false },
  );
  const seen = new Set<string>();
  for (const { tap, pool } of list) {
    const shape = spec.taps[tap];
    if (!shape)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `no tap named "${tap}"; this model has: ${Object.keys(spec.taps).join(', ') || 'none'}`,
      );
    if (pool && shape.length !== 3)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `tap "${tap}" is already a vector; pooling needs a feature map`,
      );
    if ([ONNX_INPUT, ONNX_LOGITS, ONNX_PROBS].includes(tap))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `tap "${tap}" would clash with the model's "${tap}" input or output; rename it`,
      );
    if (seen.has(tap)) throw new LoupeError('INVALID_ARGUMENT', `tap "${tap}" is requested twice`);
    seen.add(tap);
  }
  return list;
}

function metadataProps(spec: ResolvedSpec, user: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(user)) {
    if (key.startsWith('loupe.'))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `metadata key "${key}" is reserved (keys under "loupe." are Loupe's own)`,
      );
    if (typeof value !== 'string')
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `metadata "${key}" must be a string; encode structured values as JSON`,
      );
  }
  return { [ONNX_SPEC_KEY]: JSON.stringify(spec), ...user };
}

/**
 * Lowers resolved layers to ONNX nodes. Internal values are named "/<layer path>" so they can
 * never collide with the graph's inputs and outputs (tap names cannot contain "/") nor with
 * initializers (named like the engine's tensors).
 */
class Lowering {
  readonly taps = new Map<string, string>();
  private readonly constants = new Map<number, string>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly weights: TensorMap,
  ) {}

  list(layers: ResolvedLayer[], x: string, prefix: string): string {
    for (const layer of layers) {
      x = this.layer(layer, x, prefix ? `${prefix}.${layer.name}` : layer.name);
      if (layer.tap) this.taps.set(layer.tap, x);
    }
    return x;
  }

  private weight(name: string): string {
    const t = this.weights.get(name)!;
    return this.g.floatInitializer(name, t.shape, t.data);
  }

  private constant(value: number): string {
    let name = this.constants.get(value);
    if (!name) {
      name = this.g.scalar(`/const/${value}`, value);
      this.constants.set(value, name);
    }
    return name;
  }

  private activation(kind: Activation, x: string, out: string): string {
    const g = this.g;
    switch (kind) {
      case 'relu':
        return g.node('Relu', [x], out);
      case 'relu6':
        return g.node('Clip', [x, this.constant(0), this.constant(6)], out);
      case 'silu':
        return g.node('Mul', [x, g.node('Sigmoid', [x], `${out}/sigmoid`)], out);
      case 'gelu': {
        // PyTorch's default gelu is the exact one, 0.5·x·(1 + erf(x/√2)), not the tanh approximation.
        const erf = g.node(
          'Erf',
          [g.node('Div', [x, this.constant(Math.SQRT2)], `${out}/scaled`)],
          `${out}/erf`,
        );
        const gate = g.node(
          'Mul',
          [x, g.node('Add', [erf, this.constant(1)], `${out}/erf_plus_1`)],
          `${out}/gated`,
        );
        return g.node('Mul', [gate, this.constant(0.5)], out);
      }
    }
  }

  private layer(l: ResolvedLayer, x: string, path: string): string {
    const g = this.g;
    const out = `/${path}`;
    switch (l.type) {
      case 'conv2d': {
        const inputs = [x, this.weight(`${path}.weight`)];
        if (l.bias) inputs.push(this.weight(`${path}.bias`));
        const [top, bottom, left, right] = l.padding;
        return g.node('Conv', inputs, out, {
          kernel_shape: l.kernel,
          strides: l.stride,
          pads: [top, left, bottom, right],
          dilations: l.dilation,
          group: l.groups,
        });
      }
      case 'batchnorm': {
        // BatchNormalization takes [N, C] as well as [N, C, H, W], so vectors need no reshaping.
        const params = ['weight', 'bias', 'running_mean', 'running_var'].map((p) =>
          this.weight(`${path}.${p}`),
        );
        return g.node('BatchNormalization', [x, ...params], out, { epsilon: { float: l.eps } });
      }
      case 'relu':
      case 'relu6':
      case 'gelu':
      case 'silu':
        return this.activation(l.type, x, out);
      case 'maxpool':
      case 'avgpool': {
        const [ph, pw] = l.padding;
        const attrs = { kernel_shape: l.kernel, strides: l.stride, pads: [ph, pw, ph, pw] };
        // PyTorch's avg_pool2d counts padded zeros in the divisor by default.
        return l.type === 'maxpool'
          ? g.node('MaxPool', [x], out, attrs)
          : g.node('AveragePool', [x], out, { ...attrs, count_include_pad: 1 });
      }
      case 'global_avgpool':
        return g.node('Flatten', [g.node('GlobalAveragePool', [x], `${out}/pool`)], out, { axis: 1 });
      case 'dropout':
        return x;
      case 'flatten':
        return g.node('Flatten', [x], out, { axis: 1 });
      case 'linear': {
        const inputs = [x, this.weight(`${path}.weight`)];
        if (l.bias) inputs.push(this.weight(`${path}.bias`));
        return g.node('Gemm', inputs, out, { transB: 1 });
      }
      case 'pad': {
        const [top, bottom, left, right] = l.padding;
        const pads = g.int64Initializer(`${out}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
        return g.node('Pad', [x, pads, this.constant(l.value)], out, { mode: 'constant' });
      }
      case 'residual': {
        const body = this.list(l.body, x, `${path}.body`);
        const shortcut = l.shortcut.length ? this.list(l.shortcut, x, `${path}.shortcut`) : x;
        if (!l.activation) return g.node('Add', [body, shortcut], out);
        return this.activation(l.activation, g.node('Add', [body, shortcut], `${out}/sum`), out);
      }
      case 'sequential':
        return this.list(l.layers, x, path);
    }
  }
}

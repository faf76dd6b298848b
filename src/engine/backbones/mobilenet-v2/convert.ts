import { LoupeError } from '../../../errors/loupe-error.js';
import { resolveSpec } from '../../spec/resolve.js';
import type { LayerSpecInput, ModelSpecInput } from '../../spec/schema.js';
import type { Tensor, TensorMap } from '../../tensor.js';
import { isIntPair, isNumber, isOneOf, isPositiveInt, KerasGraph } from '../tfjs/keras-graph.js';
import { convKernelToOihw, depthwiseKernelToOihw } from '../tfjs/keras-layout.js';
import type { KerasLayer, TfjsLayersBundle } from '../tfjs/layers-bundle.js';
import { decodeTfjsWeights } from '../tfjs/layers-bundle.js';

/**
 * Converts a Keras MobileNetV2 (keras.applications naming: Conv1, expanded_conv, block_1 …
 * block_16, Conv_1) from a tfjs layers bundle into a Loupe spec and weights. Block shapes are
 * read from the topology, not assumed, and every layer's class, wiring and config is checked,
 * so any alpha or input size converts and anything else is refused with the layer named.
 */

export interface MobileNetV2Conversion {
  spec: ModelSpecInput;
  weights: TensorMap;
  /** Keras layer name → Loupe layer path, for taps and for explaining the mapping. */
  layerMap: Record<string, string>;
  /** Number of inverted-residual blocks (block_0 is Keras' expanded_conv). */
  blocks: number;
  /** Index of the deepest block whose Keras layers are all trainable:false (-1 if none). */
  lastFrozenBlock: number;
}

export interface MobileNetV2ConvertOptions {
  /** Block whose output becomes the `mid` tap. */
  midBlock: number;
  name?: string;
}

/** Keras' ReLU(6.) as MobileNetV2 uses it. */
const isRelu6 = (g: KerasGraph, l: KerasLayer) => {
  g.config(l, 'max_value', isOneOf(6), '6');
  const slope = l.config.negative_slope ?? 0;
  const threshold = l.config.threshold ?? 0;
  if (slope !== 0 || threshold !== 0) g.fail(`layer ${l.name} is not a plain ReLU6`);
};

class Converter {
  readonly weights: TensorMap = new Map();
  readonly layerMap: Record<string, string> = {};
  private readonly used = new Set<string>();

  constructor(
    readonly g: KerasGraph,
    private readonly source: Map<string, Tensor>,
  ) {}

  private take(name: string): Tensor | undefined {
    const t = this.source.get(name);
    if (t) this.used.add(name);
    return t;
  }

  private need(name: string): Tensor {
    const t = this.take(name);
    if (!t) this.g.fail(`the weights manifest lacks ${name}`);
    return t;
  }

  private checkChannelsLast(l: KerasLayer): void {
    if ((l.config.data_format ?? 'channels_last') !== 'channels_last')
      this.g.fail(`layer ${l.name} is not channels_last`);
  }

  /** Zero padding [[top, bottom], [left, right]] → [top, bottom, left, right]. */
  pad(name: string, from: string): [number, number, number, number] {
    const l = this.g.get(name, 'ZeroPadding2D', [from]);
    this.checkChannelsLast(l);
    const p = l.config.padding;
    const ok =
      Array.isArray(p) &&
      p.length === 2 &&
      p.every((q) => Array.isArray(q) && q.length === 2 && q.every((v) => Number.isInteger(v) && v >= 0));
    if (!ok)
      this.g.fail(`layer ${name} has padding ${JSON.stringify(p)}, expected [[top, bottom], [left, right]]`);
    const [[t, b], [le, r]] = p as [[number, number], [number, number]];
    return [t, b, le, r];
  }

  /** A bias-free linear Conv2D; returns its filters, kernel and stride. */
  conv(
    name: string,
    from: string,
    loupePath: string,
    padding: 'valid' | 'same' | 'any',
  ): { filters: number; kernel: [number, number]; stride: [number, number]; padding: string } {
    const l = this.g.get(name, 'Conv2D', [from]);
    this.checkChannelsLast(l);
    const filters = this.g.config(l, 'filters', isPositiveInt, 'a positive integer');
    const kernel = this.g.config(l, 'kernel_size', isIntPair, '[kh, kw]');
    const stride = this.g.config(l, 'strides', isIntPair, '[sh, sw]');
    const pad = this.g.config(l, 'padding', isOneOf('valid', 'same'), '"valid" or "same"');
    if (padding !== 'any' && pad !== padding)
      this.g.fail(`layer ${name} has padding "${pad}", expected "${padding}"`);
    this.g.config(
      l,
      'dilation_rate',
      (v): v is [1, 1] => Array.isArray(v) && v.every((d) => d === 1),
      '[1, 1]',
    );
    this.g.config(l, 'activation', isOneOf('linear'), '"linear"');
    this.g.config(l, 'use_bias', isOneOf(false), 'false (MobileNetV2 convolutions feed a batchnorm)');
    this.weights.set(`${loupePath}.weight`, convKernelToOihw(this.need(`${name}/kernel`)));
    this.layerMap[name] = loupePath;
    return { filters, kernel, stride, padding: pad };
  }

  depthwise(
    name: string,
    from: string,
    loupePath: string,
  ): { kernel: number; stride: 1 | 2; padding: 'valid' | 'same' } {
    const l = this.g.get(name, 'DepthwiseConv2D', [from]);
    this.checkChannelsLast(l);
    const kernel = this.g.config(l, 'kernel_size', isIntPair, '[k, k]');
    if (kernel[0] !== kernel[1]) this.g.fail(`layer ${name} has a non-square kernel`);
    const stride = this.g.config(
      l,
      'strides',
      (v): v is [1, 1] | [2, 2] =>
        Array.isArray(v) && v.length === 2 && v[0] === v[1] && (v[0] === 1 || v[0] === 2),
      '[1, 1] or [2, 2]',
    );
    const padding = this.g.config(l, 'padding', isOneOf('valid', 'same'), '"valid" or "same"');
    this.g.config(l, 'depth_multiplier', isOneOf(1), '1');
    this.g.config(l, 'activation', isOneOf('linear'), '"linear"');
    this.g.config(l, 'use_bias', isOneOf(false), 'false');
    this.weights.set(`${loupePath}.weight`, depthwiseKernelToOihw(this.need(`${name}/depthwise_kernel`)));
    this.layerMap[name] = loupePath;
    return { kernel: kernel[0], stride: stride[0], padding };
  }

  /** BatchNormalization over channels; gamma/beta/moving stats → weight/bias/running_*. Returns eps. */
  batchnorm(name: string, from: string, loupePath: string, channels: number): number {
    const l = this.g.get(name, 'BatchNormalization', [from]);
    const axis = l.config.axis;
    if (!(
      axis === -1 ||
      axis === 3 ||
      (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3))
    )) {
      this.g.fail(`layer ${name} normalises axis ${JSON.stringify(axis)}, expected the channel axis`);
    }
    const eps = this.g.config(l, 'epsilon', isNumber, 'a number');
    const vector = (t: Tensor | undefined, fill: number): Tensor => {
      if (!t) return { shape: [channels], data: new Float32Array(channels).fill(fill) };
      if (t.shape.length !== 1 || t.shape[0] !== channels)
        this.g.fail(`${name} has a parameter of shape [${t.shape.join(', ')}], expected [${channels}]`);
      return t;
    };
    // center/scale false mean Keras created no beta/gamma: the identity values stand in.
    this.weights.set(
      `${loupePath}.weight`,
      vector(l.config.scale === false ? undefined : this.need(`${name}/gamma`), 1),
    );
    this.weights.set(
      `${loupePath}.bias`,
      vector(l.config.center === false ? undefined : this.need(`${name}/beta`), 0),
    );
    this.weights.set(`${loupePath}.running_mean`, vector(this.need(`${name}/moving_mean`), 0));
    this.weights.set(`${loupePath}.running_var`, vector(this.need(`${name}/moving_variance`), 1));
    this.layerMap[name] = loupePath;
    return eps;
  }

  relu6(name: string, from: string, loupePath: string): void {
    isRelu6(this.g, this.g.get(name, 'ReLU', [from]));
    this.layerMap[name] = loupePath;
  }

  unusedBackboneWeights(keep: (name: string) => boolean): string[] {
    return [...this.source.keys()].filter((n) => !this.used.has(n) && keep(n));
  }
}

/** Converts the Keras MobileNetV2 inside a tfjs layers bundle; the classifier head is dropped. */
export function convertKerasMobileNetV2(
  bundle: TfjsLayersBundle,
  options: MobileNetV2ConvertOptions,
): MobileNetV2Conversion {
  const source = bundle.files[0] ?? 'model';
  const g = new KerasGraph(bundle.modelJson.modelTopology.model_config.config.layers, source);
  const c = new Converter(g, decodeTfjsWeights(bundle));
  const layers: LayerSpecInput[] = [];

  const inputs = bundle.modelJson.modelTopology.model_config.config.layers.filter(
    (l) => l.class_name === 'InputLayer',
  );
  if (inputs.length !== 1) g.fail(`expected one InputLayer, found ${inputs.length}`);
  const input = inputs[0]!;
  const shape = input.config.batch_input_shape;
  if (!(Array.isArray(shape) && shape.length === 4 && shape.slice(1).every(isPositiveInt))) {
    g.fail(`input ${input.name} has batch_input_shape ${JSON.stringify(shape)}, expected [null, H, W, C]`);
  }
  const [, height, width, channels] = shape as [null, number, number, number];

  // Stem: Keras pads bottom/right explicitly, then convolves 'valid'.
  const stemPad = c.pad('Conv1_pad', input.name);
  layers.push({ type: 'pad', name: 'conv1_pad', padding: stemPad });
  c.layerMap.Conv1_pad = 'conv1_pad';
  const stem = c.conv('Conv1', 'Conv1_pad', 'conv1', 'valid');
  layers.push({
    type: 'conv2d',
    name: 'conv1',
    out: stem.filters,
    kernel: stem.kernel,
    stride: stem.stride,
    padding: 0,
    bias: false,
  });
  // Keras' BN momentum 0.999 is PyTorch's 0.001; we keep Loupe's default (0.1), the one the
  // lowered inverted_residual blocks use, so fine-tuning adapts every BN at the same rate.
  layers.push({
    type: 'batchnorm',
    name: 'conv1_bn',
    eps: c.batchnorm('bn_Conv1', 'Conv1', 'conv1_bn', stem.filters),
  });
  c.relu6('Conv1_relu', 'bn_Conv1', 'conv1_relu');
  layers.push({ type: 'relu6', name: 'conv1_relu' });

  let prev = 'Conv1_relu';
  let inChannels = stem.filters;
  let blocks = 0;
  let lastFrozenBlock = -1;
  for (let b = 0; ; b++) {
    const k = b === 0 ? 'expanded_conv' : `block_${b}`;
    if (!g.has(`${k}_project`)) break;
    const name = `block_${b}`;
    const names = [
      'expand',
      'expand_BN',
      'expand_relu',
      'pad',
      'depthwise',
      'depthwise_BN',
      'depthwise_relu',
      'project',
      'project_BN',
      'add',
    ].map((s) => `${k}_${s}`);

    // Where the weights land depends on how resolve.ts lowers the block, which depends on the
    // block's output width; read that first from the projection, then convert in order.
    const out = g.config(g.get(`${k}_project`, 'Conv2D'), 'filters', isPositiveInt, 'a positive integer');
    const depthwiseStride = g.get(`${k}_depthwise`, 'DepthwiseConv2D').config.strides;
    const residual = Array.isArray(depthwiseStride) && depthwiseStride[0] === 1 && inChannels === out;
    if (residual !== g.has(`${k}_add`))
      g.fail(`block ${k} ${residual ? 'lacks' : 'has'} the residual add that MobileNetV2 implies`);
    const base = residual ? `${name}.body` : name;

    const blockInput = prev;
    let cur = prev;
    let expand = 1;
    const eps: number[] = [];
    if (g.has(`${k}_expand`)) {
      const e = c.conv(`${k}_expand`, cur, `${base}.expand`, 'any');
      if (e.kernel.join() !== '1,1' || e.stride.join() !== '1,1')
        g.fail(`layer ${k}_expand is not a 1×1 stride-1 convolution`);
      if (e.filters % inChannels !== 0)
        g.fail(`layer ${k}_expand widens ${inChannels} to ${e.filters}, not a whole expansion factor`);
      expand = e.filters / inChannels;
      eps.push(c.batchnorm(`${k}_expand_BN`, `${k}_expand`, `${base}.expand_bn`, e.filters));
      c.relu6(`${k}_expand_relu`, `${k}_expand_BN`, `${base}.expand_relu`);
      cur = `${k}_expand_relu`;
    }
    const hidden = inChannels * expand;
    let explicitPad: [number, number, number, number] | undefined;
    if (g.has(`${k}_pad`)) {
      explicitPad = c.pad(`${k}_pad`, cur);
      c.layerMap[`${k}_pad`] = `${base}.pad`;
      cur = `${k}_pad`;
    }
    const dw = c.depthwise(`${k}_depthwise`, cur, `${base}.depthwise`);
    const half = Math.floor(dw.kernel / 2);
    // resolve.ts' 'keras' mode pads [half-1, half] before a stride-2 depthwise and 'same' (= half
    // each side) at stride 1; that is Keras' correct_pad for even inputs, which MobileNetV2 has.
    const kerasPad = [half - 1, half, half - 1, half].join();
    const consistent = explicitPad
      ? dw.stride === 2 && dw.padding === 'valid' && explicitPad.join() === kerasPad
      : dw.padding === 'same' && dw.stride === 1;
    if (!consistent)
      g.fail(
        `block ${k}: depthwise stride ${dw.stride} with ${explicitPad ? `padding ${JSON.stringify(explicitPad)}` : `"${dw.padding}"`} is not Keras MobileNetV2 padding`,
      );
    eps.push(c.batchnorm(`${k}_depthwise_BN`, `${k}_depthwise`, `${base}.depthwise_bn`, hidden));
    c.relu6(`${k}_depthwise_relu`, `${k}_depthwise_BN`, `${base}.depthwise_relu`);
    const p = c.conv(`${k}_project`, `${k}_depthwise_relu`, `${base}.project`, 'any');
    if (p.kernel.join() !== '1,1' || p.stride.join() !== '1,1')
      g.fail(`layer ${k}_project is not a 1×1 stride-1 convolution`);
    eps.push(c.batchnorm(`${k}_project_BN`, `${k}_project`, `${base}.project_bn`, out));
    if (new Set(eps).size !== 1)
      g.fail(`block ${k} mixes batchnorm epsilons ${eps.join(', ')}; inverted_residual has one`);
    prev = `${k}_project_BN`;
    if (residual) {
      g.get(`${k}_add`, 'Add', [blockInput, `${k}_project_BN`]);
      prev = `${k}_add`;
    }
    c.layerMap[prev] = name;

    const spec: LayerSpecInput = {
      type: 'inverted_residual',
      name,
      out,
      stride: dw.stride,
      expand,
      kernel: dw.kernel,
      padding: 'keras',
      eps: eps[0]!,
    };
    if (b === options.midBlock) spec.tap = 'mid';
    layers.push(spec);
    if (lastFrozenBlock === b - 1 && names.every((n) => !g.has(n) || g.layer(n).config.trainable === false))
      lastFrozenBlock = b;
    inChannels = out;
    blocks++;
  }
  if (blocks === 0) g.fail('no MobileNetV2 blocks (expanded_conv_project, block_N_project) found');
  if (options.midBlock < 0 || options.midBlock >= blocks) {
    throw new LoupeError('INVALID_ARGUMENT', `mid block ${options.midBlock} is outside 0..${blocks - 1}`);
  }

  const top = c.conv('Conv_1', prev, 'conv_last', 'any');
  if (top.kernel.join() !== '1,1' || top.stride.join() !== '1,1')
    g.fail('layer Conv_1 is not a 1×1 stride-1 convolution');
  layers.push({ type: 'conv2d', name: 'conv_last', out: top.filters, kernel: 1, bias: false });
  layers.push({
    type: 'batchnorm',
    name: 'conv_last_bn',
    eps: c.batchnorm('Conv_1_bn', 'Conv_1', 'conv_last_bn', top.filters),
  });
  c.relu6('out_relu', 'Conv_1_bn', 'conv_last_relu');
  layers.push({ type: 'relu6', name: 'conv_last_relu' });
  layers.push({ type: 'global_avgpool', name: 'pool', tap: 'final' });

  const spec: ModelSpecInput = {
    name: options.name ?? 'mobilenet_v2',
    input: { channels, height, width },
    layers,
  };
  checkAgainstResolved(spec, c.weights, source);
  const leftover = c.unusedBackboneWeights((n) => !/^(dense|predictions|logits)/i.test(n));
  if (leftover.length) g.fail(`weights ${leftover.slice(0, 3).join(', ')} belong to no converted layer`);
  return { spec, weights: c.weights, layerMap: c.layerMap, blocks, lastFrozenBlock };
}

/** The converted weights must be exactly the tensors the resolved spec declares, shape for shape. */
function checkAgainstResolved(spec: ModelSpecInput, weights: TensorMap, source: string): void {
  const resolved = resolveSpec(spec);
  const expected = Object.entries(resolved.tensors);
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = weights.get(name);
    if (!t) problems.push(`missing ${name}`);
    else if (t.shape.join() !== shape.join())
      problems.push(`${name} is [${t.shape.join(', ')}], spec wants [${shape.join(', ')}]`);
  }
  for (const name of weights.keys()) if (!(name in resolved.tensors)) problems.push(`extra ${name}`);
  if (problems.length) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${source}: converted weights do not fit the spec: ${problems.slice(0, 3).join('; ')}`,
    );
  }
}

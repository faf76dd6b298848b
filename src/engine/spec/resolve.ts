import { LoupeError } from '../../errors/loupe-error.js';
import { modelSpecSchema, type LayerSpec, type ModelSpecInput } from './schema.js';
import type { Pad4, Pair, ResolvedLayer, ResolvedSpec, Shape } from './resolved.js';

const toPair = (v: number | [number, number]): Pair => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const toPad4 = (v: number | [number, number] | [number, number, number, number]): Pad4 => {
  if (typeof v === 'number') return [v, v, v, v];
  if (v.length === 2) return [v[0], v[0], v[1], v[1]];
  return [v[0], v[1], v[2], v[3]];
};
const fmt = (s: Shape) => `[${s.join(', ')}]`;

class Resolver {
  readonly taps: Record<string, Shape> = {};
  readonly tensors: Record<string, number[]> = {};
  parameterCount = 0;

  fail(path: string, message: string): never {
    throw new LoupeError('INVALID_SPEC', `${path}: ${message}`, { path });
  }

  private tensor(name: string, shape: number[], trainable: boolean): void {
    this.tensors[name] = shape;
    if (trainable) this.parameterCount += shape.reduce((a, b) => a * b, 1);
  }

  list(
    specs: LayerSpec[],
    inShape: Shape,
    path: string,
    prefix: string,
  ): { layers: ResolvedLayer[]; outShape: Shape } {
    const seen = new Set<string>();
    const layers: ResolvedLayer[] = [];
    let shape = inShape;
    specs.forEach((spec, i) => {
      const name = spec.name ?? String(i);
      const where = `${path}[${i}]${spec.name ? ` (${spec.name})` : ''}`;
      if (seen.has(name)) this.fail(where, `duplicate layer name "${name}" among its siblings`);
      seen.add(name);
      const resolved = this.layer(spec, name, shape, where, prefix ? `${prefix}.${name}` : name);
      if (spec.tap) {
        if (this.taps[spec.tap]) this.fail(where, `tap "${spec.tap}" is defined twice`);
        this.taps[spec.tap] = resolved.outShape;
        resolved.tap = spec.tap;
      }
      layers.push(resolved);
      shape = resolved.outShape;
    });
    return { layers, outShape: shape };
  }

  private need3d(shape: Shape, where: string, what: string): [number, number, number] {
    if (shape.length !== 3) {
      this.fail(
        where,
        `${what} needs a feature map [channels, height, width] but gets ${fmt(shape)}; did a flatten or global_avgpool come too early?`,
      );
    }
    return [shape[0]!, shape[1]!, shape[2]!];
  }

  private spatial(
    size: number,
    k: number,
    s: number,
    p0: number,
    p1: number,
    d: number,
    where: string,
    axis: string,
  ): number {
    const out = Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
    if (out < 1)
      this.fail(
        where,
        `kernel ${k} (dilation ${d}) does not fit the input ${axis} ${size} with padding ${p0}+${p1}`,
      );
    return out;
  }

  private layer(spec: LayerSpec, name: string, inShape: Shape, where: string, path: string): ResolvedLayer {
    switch (spec.type) {
      case 'conv2d':
      case 'depthwise_conv2d': {
        const [c, h, w] = this.need3d(inShape, where, spec.type);
        const kernel = toPair(spec.kernel);
        const stride = toPair(spec.stride);
        const padding = toPad4(spec.padding);
        const dilation = spec.type === 'conv2d' ? toPair(spec.dilation) : ([1, 1] as Pair);
        const groups = spec.type === 'conv2d' ? spec.groups : c;
        const out = spec.type === 'conv2d' ? spec.out : c * spec.multiplier;
        if (c % groups !== 0) this.fail(where, `groups ${groups} must divide the input channels ${c}`);
        if (out % groups !== 0) this.fail(where, `groups ${groups} must divide the output channels ${out}`);
        const oh = this.spatial(
          h,
          kernel[0],
          stride[0],
          padding[0],
          padding[1],
          dilation[0],
          where,
          'height',
        );
        const ow = this.spatial(w, kernel[1], stride[1], padding[2], padding[3], dilation[1], where, 'width');
        this.tensor(`${path}.weight`, [out, c / groups, kernel[0], kernel[1]], true);
        if (spec.bias) this.tensor(`${path}.bias`, [out], true);
        return {
          type: 'conv2d',
          name,
          outShape: [out, oh, ow],
          in: c,
          out,
          kernel,
          stride,
          padding,
          dilation,
          groups,
          bias: spec.bias,
        };
      }
      case 'batchnorm': {
        if (inShape.length !== 3 && inShape.length !== 1)
          this.fail(where, `batchnorm needs [C, H, W] or [F], got ${fmt(inShape)}`);
        const features = inShape[0]!;
        this.tensor(`${path}.weight`, [features], true);
        this.tensor(`${path}.bias`, [features], true);
        this.tensor(`${path}.running_mean`, [features], false);
        this.tensor(`${path}.running_var`, [features], false);
        return {
          type: 'batchnorm',
          name,
          outShape: inShape,
          features,
          eps: spec.eps,
          momentum: spec.momentum,
        };
      }
      case 'relu':
      case 'relu6':
      case 'gelu':
      case 'silu':
        return { type: spec.type, name, outShape: inShape };
      case 'maxpool':
      case 'avgpool': {
        const [c, h, w] = this.need3d(inShape, where, spec.type);
        const kernel = toPair(spec.kernel);
        const stride = toPair(spec.stride ?? spec.kernel);
        const padding = toPair(spec.padding);
        if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1])
          this.fail(where, 'pool padding must be at most half the kernel');
        const oh = this.spatial(h, kernel[0], stride[0], padding[0], padding[0], 1, where, 'height');
        const ow = this.spatial(w, kernel[1], stride[1], padding[1], padding[1], 1, where, 'width');
        return { type: spec.type, name, outShape: [c, oh, ow], kernel, stride, padding };
      }
      case 'global_avgpool': {
        const [c] = this.need3d(inShape, where, 'global_avgpool');
        return { type: 'global_avgpool', name, outShape: [c] };
      }
      case 'dropout':
        return { type: 'dropout', name, outShape: inShape, p: spec.p };
      case 'flatten':
        return { type: 'flatten', name, outShape: [inShape.reduce((a, b) => a * b, 1)] };
      case 'linear': {
        if (inShape.length !== 1)
          this.fail(
            where,
            `linear needs a vector but gets ${fmt(inShape)}; add a flatten or global_avgpool before it`,
          );
        this.tensor(`${path}.weight`, [spec.out, inShape[0]!], true);
        if (spec.bias) this.tensor(`${path}.bias`, [spec.out], true);
        return {
          type: 'linear',
          name,
          outShape: [spec.out],
          in: inShape[0]!,
          out: spec.out,
          bias: spec.bias,
        };
      }
      case 'pad': {
        const [c, h, w] = this.need3d(inShape, where, 'pad');
        const padding = toPad4(spec.padding);
        return {
          type: 'pad',
          name,
          outShape: [c, h + padding[0] + padding[1], w + padding[2] + padding[3]],
          padding,
          value: spec.value,
        };
      }
      case 'residual': {
        const body = this.list(spec.body, inShape, `${where}.body`, `${path}.body`);
        const shortcut = spec.shortcut?.length
          ? this.list(spec.shortcut, inShape, `${where}.shortcut`, `${path}.shortcut`)
          : { layers: [], outShape: inShape };
        if (fmt(body.outShape) !== fmt(shortcut.outShape)) {
          this.fail(
            where,
            `residual body gives ${fmt(body.outShape)} but the shortcut gives ${fmt(shortcut.outShape)}; add a shortcut that matches`,
          );
        }
        const r: ResolvedLayer = {
          type: 'residual',
          name,
          outShape: body.outShape,
          body: body.layers,
          shortcut: shortcut.layers,
        };
        if (spec.activation) r.activation = spec.activation;
        return r;
      }
      case 'sequential': {
        const inner = this.list(spec.layers, inShape, `${where}.layers`, path);
        return { type: 'sequential', name, outShape: inner.outShape, layers: inner.layers };
      }
      case 'inverted_residual':
        return this.layer(lowerInvertedResidual(spec, inShape, where, this), name, inShape, where, path);
    }
  }
}

/** MobileNetV2's block: expand (1×1) → depthwise (k×k, stride) → project (1×1, linear), skip when shapes allow. */
function lowerInvertedResidual(
  spec: Extract<LayerSpec, { type: 'inverted_residual' }>,
  inShape: Shape,
  where: string,
  r: Resolver,
): LayerSpec {
  if (inShape.length !== 3) r.fail(where, `inverted_residual needs a feature map, got ${fmt(inShape)}`);
  const c = inShape[0]!;
  const hidden = c * spec.expand;
  const k = spec.kernel;
  const bn = (n: string): LayerSpec => ({ type: 'batchnorm', name: n, eps: spec.eps, momentum: 0.1 });
  const pointwise = (n: string, out: number): LayerSpec => ({
    type: 'conv2d',
    name: n,
    out,
    kernel: 1,
    stride: 1,
    padding: 0,
    dilation: 1,
    groups: 1,
    bias: false,
  });
  const layers: LayerSpec[] = [];
  if (spec.expand !== 1) {
    layers.push(pointwise('expand', hidden), bn('expand_bn'), { type: 'relu6', name: 'expand_relu' });
  }
  const half = Math.floor(k / 2);
  const kerasPad = spec.padding === 'keras' && spec.stride === 2;
  if (kerasPad)
    layers.push({ type: 'pad', name: 'pad', padding: [half - 1, half, half - 1, half], value: 0 });
  layers.push(
    {
      type: 'depthwise_conv2d',
      name: 'depthwise',
      kernel: k,
      stride: spec.stride,
      padding: kerasPad ? 0 : half,
      multiplier: 1,
      bias: false,
    },
    bn('depthwise_bn'),
    { type: 'relu6', name: 'depthwise_relu' },
    pointwise('project', spec.out),
    bn('project_bn'),
  );
  const { tap, name } = spec;
  const base = { ...(name ? { name } : {}), ...(tap ? { tap } : {}) };
  return spec.stride === 1 && c === spec.out
    ? { type: 'residual', ...base, body: layers }
    : { type: 'sequential', ...base, layers };
}

/** Validates a spec (from JSON, YAML or code) and resolves it; errors name the offending path. */
export function resolveSpec(input: unknown): ResolvedSpec {
  const parsed = modelSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new LoupeError('INVALID_SPEC', `spec${path}: ${issue.message}`, { issues: parsed.error.issues });
  }
  const spec = parsed.data;
  const r = new Resolver();
  const inShape = [spec.input.channels, spec.input.height, spec.input.width];
  const { layers, outShape } = r.list(spec.layers, inShape, 'layers', '');
  return {
    format: spec.format,
    name: spec.name,
    input: spec.input,
    layers,
    outShape,
    taps: r.taps,
    tensors: r.tensors,
    parameterCount: r.parameterCount,
  };
}

const DERIVED_FIELDS = new Set(['outShape', 'taps', 'tensors', 'parameterCount', 'in', 'features']);

/**
 * Turns a resolved spec (as stored in weights files, ONNX metadata and the registry) back into a
 * spec input by dropping what resolution derives, so that loading one validates it afresh
 * instead of trusting a file; resolving the result gives the same resolved spec.
 */
export function toSpecInput(resolved: unknown): unknown {
  if (Array.isArray(resolved)) return resolved.map(toSpecInput);
  if (!resolved || typeof resolved !== 'object') return resolved;
  return Object.fromEntries(
    Object.entries(resolved)
      .filter(([k]) => !DERIVED_FIELDS.has(k))
      .map(([k, v]) => [k, toSpecInput(v)]),
  );
}

export type { ModelSpecInput };

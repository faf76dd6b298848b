import { z } from 'zod';

/**
 * The model spec: a network described as data. Users write it (or a family such as VGG or
 * MobileNetV2 writes it for them); `resolveSpec` validates it, infers every shape and lowers
 * composite blocks into the primitives the native engine and the ONNX exporter understand.
 */

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const layerName = z
  .string()
  .regex(/^[A-Za-z0-9_]+$/, 'a layer name may hold only letters, digits and underscores');
const pair = z.union([posInt, z.tuple([posInt, posInt])]);
/** A single number, [vertical, horizontal], or [top, bottom, left, right]. */
const padding = z.union([
  nonNegInt,
  z.tuple([nonNegInt, nonNegInt]),
  z.tuple([nonNegInt, nonNegInt, nonNegInt, nonNegInt]),
]);
export const ACTIVATIONS = ['relu', 'relu6', 'gelu', 'silu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

const common = {
  /** Parameters are named after layers ("block1.conv1.weight"); unnamed layers use their index. */
  name: layerName.optional(),
  /** Exposes this layer's output as named features (forward with { tap }) and as an ONNX output. */
  tap: layerName.optional(),
};

const conv2d = z.strictObject({
  type: z.literal('conv2d'),
  ...common,
  out: posInt,
  kernel: pair,
  stride: pair.default(1),
  padding: padding.default(0),
  dilation: pair.default(1),
  groups: posInt.default(1),
  bias: z.boolean().default(true),
});
const depthwiseConv2d = z.strictObject({
  type: z.literal('depthwise_conv2d'),
  ...common,
  kernel: pair,
  stride: pair.default(1),
  padding: padding.default(0),
  multiplier: posInt.default(1),
  bias: z.boolean().default(true),
});
const batchnorm = z.strictObject({
  type: z.literal('batchnorm'),
  ...common,
  eps: z.number().positive().default(1e-5),
  momentum: z.number().gt(0).lt(1).default(0.1),
});
const activation = z.strictObject({ type: z.enum(ACTIVATIONS), ...common });
const pool = z.strictObject({
  type: z.enum(['maxpool', 'avgpool']),
  ...common,
  kernel: pair,
  stride: pair.optional(),
  padding: z.union([nonNegInt, z.tuple([nonNegInt, nonNegInt])]).default(0),
});
const globalAvgPool = z.strictObject({ type: z.literal('global_avgpool'), ...common });
const dropout = z.strictObject({ type: z.literal('dropout'), ...common, p: z.number().min(0).lt(1) });
const flatten = z.strictObject({ type: z.literal('flatten'), ...common });
const linear = z.strictObject({
  type: z.literal('linear'),
  ...common,
  out: posInt,
  bias: z.boolean().default(true),
});
const pad = z.strictObject({ type: z.literal('pad'), ...common, padding, value: z.number().default(0) });
const invertedResidual = z.strictObject({
  type: z.literal('inverted_residual'),
  ...common,
  out: posInt,
  stride: z.union([z.literal(1), z.literal(2)]).default(1),
  /** Expansion factor t of MobileNetV2; 1 skips the expanding 1×1 convolution. */
  expand: posInt.default(6),
  kernel: posInt.default(3),
  /**
   * 'same' pads symmetrically (PyTorch's MobileNetV2); 'keras' pads only bottom/right before a
   * stride-2 depthwise convolution, as Keras does, which converted Keras weights need.
   */
  padding: z.enum(['same', 'keras']).default('same'),
  eps: z.number().positive().default(1e-5),
});

/** The layers that hold no other layers. */
const leafLayers = [
  conv2d,
  depthwiseConv2d,
  batchnorm,
  activation,
  pool,
  globalAvgPool,
  dropout,
  flatten,
  linear,
  pad,
  invertedResidual,
] as const;
type LeafLayer = (typeof leafLayers)[number];

/** Blocks nest layers, so their types are spelled out (zod cannot infer recursive types). */
interface ResidualBlock<L> {
  type: 'residual';
  name?: string;
  tap?: string;
  body: L[];
  shortcut?: L[];
  activation?: Activation;
}
interface SequentialBlock<L> {
  type: 'sequential';
  name?: string;
  tap?: string;
  layers: L[];
}

export type LayerSpecInput =
  z.input<LeafLayer> | ResidualBlock<LayerSpecInput> | SequentialBlock<LayerSpecInput>;
export type LayerSpec = z.output<LeafLayer> | ResidualBlock<LayerSpec> | SequentialBlock<LayerSpec>;

const layer: z.ZodType<LayerSpec, LayerSpecInput> = z.lazy(() =>
  z.discriminatedUnion('type', [
    ...leafLayers,
    z.strictObject({
      type: z.literal('residual'),
      ...common,
      body: z.array(layer).min(1),
      shortcut: z.array(layer).optional(),
      activation: z.enum(ACTIVATIONS).optional(),
    }),
    z.strictObject({ type: z.literal('sequential'), ...common, layers: z.array(layer).min(1) }),
  ]),
);

export const modelSpecSchema = z.strictObject({
  format: z.literal('loupe.model/1').default('loupe.model/1'),
  name: z.string().default('model'),
  input: z.strictObject({ channels: posInt, height: posInt, width: posInt }),
  layers: z.array(layer).min(1),
});

export type ModelSpecInput = z.input<typeof modelSpecSchema>;
export type ModelSpec = z.output<typeof modelSpecSchema>;
export type LayerType = LayerSpec['type'];

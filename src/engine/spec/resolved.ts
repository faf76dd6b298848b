import type { Activation } from './schema.js';

/**
 * The resolved spec: primitives only, every default filled in, every input size explicit and
 * every output shape inferred. The native engine and the ONNX exporter both consume exactly
 * this, so they cannot disagree about what a spec means.
 */

/** Per-sample shape: [channels, height, width] for feature maps, [features] for vectors. */
export type Shape = number[];
export type Pad4 = [top: number, bottom: number, left: number, right: number];
export type Pair = [number, number];

interface Base {
  /** Unique among its siblings; parameter names join these with dots. */
  name: string;
  tap?: string;
  /** Output shape of this layer, batch dimension excluded. */
  outShape: Shape;
}

export type ResolvedLayer =
  | (Base & {
      type: 'conv2d';
      in: number;
      out: number;
      kernel: Pair;
      stride: Pair;
      padding: Pad4;
      dilation: Pair;
      groups: number;
      bias: boolean;
    })
  | (Base & { type: 'batchnorm'; features: number; eps: number; momentum: number })
  | (Base & { type: Activation })
  | (Base & { type: 'maxpool' | 'avgpool'; kernel: Pair; stride: Pair; padding: Pair })
  | (Base & { type: 'global_avgpool' })
  | (Base & { type: 'dropout'; p: number })
  | (Base & { type: 'flatten' })
  | (Base & { type: 'linear'; in: number; out: number; bias: boolean })
  | (Base & { type: 'pad'; padding: Pad4; value: number })
  | (Base & { type: 'residual'; body: ResolvedLayer[]; shortcut: ResolvedLayer[]; activation?: Activation })
  | (Base & { type: 'sequential'; layers: ResolvedLayer[] });

export type ResolvedLayerType = ResolvedLayer['type'];

export interface ResolvedSpec {
  format: 'loupe.model/1';
  name: string;
  input: { channels: number; height: number; width: number };
  layers: ResolvedLayer[];
  /** Shape of the network's output (the logits when it ends in a linear layer). */
  outShape: Shape;
  /** Tap name → per-sample shape of the features it exposes. */
  taps: Record<string, Shape>;
  /** Parameter or buffer name → shape, in the order the engine registers them. */
  tensors: Record<string, number[]>;
  parameterCount: number;
}

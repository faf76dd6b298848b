import type { LayerSpecInput, ModelSpecInput } from '../schema.js';

/** A VGG-style network from a few config fields: blocks of 3×3 convolutions, each block ending in a 2×2 max-pool. */
export interface VggOptions {
  input: { channels: number; height: number; width: number };
  numClasses: number;
  /** Filters of each block, e.g. [32, 64]. */
  filters: number[];
  /** Convolutions per block: one number for all blocks, or one per block. */
  convsPerBlock?: number | number[];
  /** Widths of the hidden dense layers before the classifier, e.g. [128]. */
  classifier?: number[];
  batchnorm?: boolean;
  dropout?: number;
  /** Pool the last block globally instead of flattening it (fewer parameters, any input size). */
  globalPool?: boolean;
  name?: string;
}

export function vggSpec(o: VggOptions): ModelSpecInput {
  const layers: LayerSpecInput[] = [];
  o.filters.forEach((filters, b) => {
    const convs = Array.isArray(o.convsPerBlock) ? (o.convsPerBlock[b] ?? 1) : (o.convsPerBlock ?? 1);
    const block: LayerSpecInput[] = [];
    for (let i = 1; i <= convs; i++) {
      block.push({
        type: 'conv2d',
        name: `conv${i}`,
        out: filters,
        kernel: 3,
        padding: 1,
        bias: !o.batchnorm,
      });
      if (o.batchnorm) block.push({ type: 'batchnorm', name: `bn${i}` });
      block.push({ type: 'relu', name: `relu${i}` });
    }
    block.push({ type: 'maxpool', name: 'pool', kernel: 2 });
    layers.push({ type: 'sequential', name: `block${b + 1}`, tap: `block${b + 1}`, layers: block });
  });
  layers.push(
    o.globalPool
      ? { type: 'global_avgpool', name: 'pool', tap: 'features' }
      : { type: 'flatten', name: 'flatten', tap: 'features' },
  );
  (o.classifier ?? []).forEach((width, i) => {
    layers.push(
      { type: 'linear', name: `fc${i + 1}`, out: width },
      {
        type: 'relu',
        name: `fc${i + 1}_relu`,
        tap: i === (o.classifier?.length ?? 0) - 1 ? 'embedding' : undefined,
      },
    );
    if (o.dropout) layers.push({ type: 'dropout', name: `fc${i + 1}_dropout`, p: o.dropout });
  });
  layers.push({ type: 'linear', name: 'classifier', out: o.numClasses });
  return { name: o.name ?? 'vgg', input: o.input, layers };
}

/** The network the benchmarks and the demo use: conv32-pool-conv64-pool-dense128-dense10. */
export function smallCnnSpec(input: VggOptions['input'], numClasses: number): ModelSpecInput {
  return vggSpec({
    name: 'small-cnn',
    input,
    numClasses,
    filters: [32, 64],
    convsPerBlock: 1,
    classifier: [128],
  });
}

import type { LayerSpecInput, ModelSpecInput } from '../src/engine/spec/schema.js';

/** MobileNetV2's body (Sandler et al. 2018, table 2): expansion t, channels c, repeats n, first stride s. */
const CONFIG: [t: number, c: number, n: number, s: 1 | 2][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * The same network as torchvision's mobilenet_v2().features, from the spec's inverted_residual
 * blocks, for speed comparisons only (random weights). The 1280-channel map is the "features" tap.
 */
export function mobileNetV2FeaturesSpec(size = 224): ModelSpecInput {
  const layers: LayerSpecInput[] = [
    { type: 'conv2d', name: 'stem', out: 32, kernel: 3, stride: 2, padding: 1, bias: false },
    { type: 'batchnorm', name: 'stem_bn' },
    { type: 'relu6', name: 'stem_relu' },
  ];
  let block = 0;
  for (const [t, c, n, s] of CONFIG) {
    for (let i = 0; i < n; i++)
      layers.push({
        type: 'inverted_residual',
        name: `block${block++}`,
        out: c,
        expand: t,
        stride: i === 0 ? s : 1,
      });
  }
  layers.push(
    { type: 'conv2d', name: 'head', out: 1280, kernel: 1, bias: false },
    { type: 'batchnorm', name: 'head_bn' },
    { type: 'relu6', name: 'head_relu', tap: 'features' },
  );
  return { name: 'mobilenet_v2_features', input: { channels: 3, height: size, width: size }, layers };
}

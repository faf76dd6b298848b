import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LoupeError } from '../../../errors/loupe-error.js';
import type { ImagePreprocessing } from '../../../features/image/image-preprocessing.js';
import type { BackboneDefinition } from '../backbone.js';
import { readTfjsLayersBundle } from '../tfjs/layers-bundle.js';
import { convertKerasMobileNetV2 } from './convert.js';

const PACKAGE = 'nsfwjs';
const MODEL_DIR = 'dist/models/mobilenet_v2';

/**
 * The `mid` tap: block 10's output (96 channels at 14×14). The shipped Keras config marks every
 * layer up to block 10 trainable:false and everything from block 11 on trainable:true, so block 10
 * is the deepest representation nsfwjs did not fine-tune for its 5 NSFW classes: ImageNet
 * features (up to uint8 weight quantization) at the depth DESIGN.md's retrieval check favoured
 * (blocks 10–13). Blocks 11–12 have the same width and resolution, so nothing is lost in size.
 */
export const MID_BLOCK = 10;

/**
 * Exactly what nsfwjs feeds this model (dist/esm/core.js, NSFWJS.infer): RGB pixels divided by
 * 255 (so [0, 1], not Keras' usual [-1, 1]), then, unless already 224×224, the whole image
 * stretched with tf.image.resizeBilinear(alignCorners = true) — no crop, no antialiasing.
 * Browsers hand fromPixels un-premultiplied RGB and drop alpha; we composite onto white instead,
 * because transparent regions are meant to be seen on a background and white is what viewers
 * (and Loupe's web app) show; black would turn the outlines of cut-out objects into dark halos.
 */
export const NSFWJS_PREPROCESSING: ImagePreprocessing = {
  width: 224,
  height: 224,
  channelOrder: 'rgb',
  fit: 'fill',
  resize: { method: 'bilinear', alignCorners: true, halfPixelCenters: false },
  mean: [0, 0, 0],
  std: [1, 1, 1],
  background: [255, 255, 255],
};

function packageRoot(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(PACKAGE);
  } catch (e) {
    throw new LoupeError(
      'MISSING_DEPENDENCY',
      `the offline MobileNetV2 backbone needs the npm package ${PACKAGE}@4.4.0; run \`npm install ${PACKAGE}@4.4.0\``,
      undefined,
      {
        cause: e,
      },
    );
  }
  // The package's exports hide package.json and the models folder; walk up from its entry point.
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (path.basename(dir) === PACKAGE) return dir;
  }
  throw new LoupeError('MISSING_DEPENDENCY', `cannot locate the ${PACKAGE} package folder from ${entry}`);
}

function packageVersion(root: string): string {
  try {
    return (
      (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ??
      'unknown'
    );
  } catch {
    return 'unknown';
  }
}

export const mobileNetV2: BackboneDefinition = {
  name: 'mobilenet_v2',
  converterVersion: 1,
  sources() {
    const dir = path.join(packageRoot(), MODEL_DIR);
    return [path.join(dir, 'model.min.js'), path.join(dir, 'group1-shard1of1.min.js')];
  },
  async convert(sources) {
    const [modelFile] = sources;
    if (!modelFile) throw new LoupeError('INVALID_ARGUMENT', 'no model file given');
    const bundle = await readTfjsLayersBundle(modelFile);
    const { spec, weights } = convertKerasMobileNetV2(bundle, { midBlock: MID_BLOCK, name: 'mobilenet_v2' });
    return { spec, weights };
  },
  preprocessing: NSFWJS_PREPROCESSING,
  taps: {
    final: {
      features: 1280,
      pool: false,
      description: 'global average of the last 1×1 convolution (Conv_1, 1280 channels, after BN and ReLU6)',
    },
    mid: {
      features: 96,
      pool: true,
      description: `output of inverted-residual block ${MID_BLOCK} (96 channels at 14×14), averaged over space`,
    },
  },
  info: {
    get origin() {
      let version = 'unknown';
      try {
        version = packageVersion(packageRoot());
      } catch {
        // Describing the origin must not fail just because the package is gone; loading will say so.
      }
      return `Keras MobileNetV2 (alpha 1.0, 224×224) shipped in the npm package ${PACKAGE}@${version} (${MODEL_DIR}/, tfjs layers format, uint8-quantized weights), converted by Loupe`;
    },
    licence:
      'MIT (nsfwjs, © 2019 Infinite Red, Inc.); the ImageNet starting point is the Keras applications MobileNetV2, released by the Keras team under Apache-2.0',
    caveat:
      'ImageNet-initialised, but nsfwjs fine-tuned blocks 11–16 and the last convolution for its own 5-class NSFW task, ' +
      'and stored every weight quantized to 8 bits. The final (1280-d) features therefore lean towards that task; ' +
      `the mid tap (block ${MID_BLOCK}) is the deepest layer left as trained on ImageNet. ` +
      'nsfwjs feeds pixels scaled to [0, 1] rather than the [-1, 1] the ImageNet weights were trained with, and we keep its ' +
      'preprocessing. No ImageNet classifier ships offline; for stronger features use an online backbone.',
  },
};

import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import {
  imagePreprocessingSchema,
  type ImagePreprocessing,
} from '../../features/image/image-preprocessing.js';

/** The Hugging Face image processor's settings, next to the model in hub repos. */
export const PREPROCESSOR_CONFIG = 'preprocessor_config.json';

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const DEFAULT_SIZE = 224;

/** What the model's input declares; sizes are undefined where the graph leaves them symbolic. */
export interface EncoderInput {
  channels: number;
  height?: number;
  width?: number;
}

const posInt = z.number().int().positive();
const hfSize = z.union([
  posInt,
  z.object({ height: posInt, width: posInt }),
  z.object({ shortest_edge: posInt }),
]);
const hfChannels = z.union([z.number(), z.array(z.number()).min(1)]);
const hfStd = z.union([z.number().positive(), z.array(z.number().positive()).min(1)]);
const hfConfigSchema = z.object({
  do_resize: z.boolean().optional(),
  size: hfSize.optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: hfSize.optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: hfChannels.optional(),
  image_std: hfStd.optional(),
  resample: z.number().int().optional(),
});
type HfConfig = z.output<typeof hfConfigSchema>;

/** PIL's resampling filters by number, as the config stores them, to the closest sharp kernels. */
const RESAMPLE: Record<number, 'nearest' | 'lanczos3' | 'linear' | 'cubic'> = {
  0: 'nearest',
  1: 'lanczos3',
  2: 'linear',
  3: 'cubic',
  4: 'linear',
  5: 'linear',
};

/**
 * The sidecar config of a local model: beside it, or, for a model in an `onnx/` folder (the hub
 * layout, e.g. a copied snapshot), one level up.
 */
export async function findPreprocessorConfig(modelFile: string): Promise<string | undefined> {
  const dir = path.dirname(modelFile);
  const candidates = [path.join(dir, PREPROCESSOR_CONFIG)];
  if (path.basename(dir) === 'onnx') candidates.push(path.join(path.dirname(dir), PREPROCESSOR_CONFIG));
  for (const file of candidates) {
    if (
      await access(file).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

/**
 * The pixels an ONNX encoder wants: from its preprocessor_config.json when there is one, else
 * ImageNet's mean and std, centre-cropped to the model's input size (or 224 when the graph leaves
 * it open), as most ImageNet-trained encoders expect. `source` says which, for run records.
 */
export async function encoderPreprocessing(
  configFile: string | undefined,
  input: EncoderInput,
): Promise<{ preprocessing: ImagePreprocessing; source: string }> {
  const channelOrder = input.channels === 1 ? 'gray' : 'rgb';
  if (!configFile) {
    const preprocessing = imagePreprocessingSchema.parse({
      width: input.width ?? DEFAULT_SIZE,
      height: input.height ?? DEFAULT_SIZE,
      channelOrder,
      fit: 'cover',
      resize: { method: 'sharp', kernel: 'linear' },
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    });
    return { preprocessing, source: `no ${PREPROCESSOR_CONFIG}: ImageNet defaults` };
  }
  const config = await readHfConfig(configFile);
  const target = targetSize(config, input);
  if (
    (input.height !== undefined && input.height !== target.height) ||
    (input.width !== undefined && input.width !== target.width)
  ) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${configFile} sizes images to ${target.width}×${target.height} but the model takes ${input.width}×${input.height}`,
      { file: configFile },
    );
  }
  const normalize = config.do_normalize !== false;
  // HF computes (pixel · rescale_factor − mean) / std; Loupe computes (pixel / 255 − mean) / std.
  // Dividing mean and std by 255 · rescale_factor makes the two equal.
  const k = 255 * (config.do_rescale === false ? 1 : (config.rescale_factor ?? 1 / 255));
  const mean = normalize ? triple(config.image_mean, IMAGENET_MEAN, 'image_mean', configFile) : [0, 0, 0];
  const std = normalize ? triple(config.image_std, IMAGENET_STD, 'image_std', configFile) : [1, 1, 1];
  const preprocessing = imagePreprocessingSchema.parse({
    width: target.width,
    height: target.height,
    channelOrder,
    fit: target.fit,
    resize: { method: 'sharp', kernel: RESAMPLE[config.resample ?? 2] ?? 'linear' },
    mean: mean.map((v) => v / k),
    std: std.map((v) => v / k),
  });
  return { preprocessing, source: PREPROCESSOR_CONFIG };
}

async function readHfConfig(file: string): Promise<HfConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw fsError(e, file, { what: 'preprocessor config' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} is not JSON: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
  const parsed = hfConfigSchema.safeParse(json);
  if (!parsed.success)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} is not an image processor config Loupe can follow: ${z.prettifyError(parsed.error)}`,
      { file },
    );
  return parsed.data;
}

/**
 * Where the image ends up. A centre crop becomes fit 'cover' at the crop size: HF first scales the
 * short side to `size` and crops `crop_size` out of it (DINOv2: 256 then 224, the middle 87.5%),
 * while 'cover' keeps the whole short side; the model sees slightly more of the border. A fixed
 * height×width (ViT) stretches the image, which is fit 'fill'.
 */
function targetSize(
  c: HfConfig,
  input: EncoderInput,
): { width: number; height: number; fit: 'fill' | 'cover' } {
  const dims = (s: z.output<typeof hfSize>) =>
    typeof s === 'number'
      ? { width: s, height: s }
      : 'height' in s
        ? { width: s.width, height: s.height }
        : { width: s.shortest_edge, height: s.shortest_edge };
  if (c.do_center_crop !== false && c.crop_size) return { ...dims(c.crop_size), fit: 'cover' };
  if (c.do_resize !== false && c.size)
    return {
      ...dims(c.size),
      fit: typeof c.size === 'object' && 'shortest_edge' in c.size ? 'cover' : 'fill',
    };
  return { width: input.width ?? DEFAULT_SIZE, height: input.height ?? DEFAULT_SIZE, fit: 'cover' };
}

function triple(
  v: z.output<typeof hfChannels> | undefined,
  fallback: [number, number, number],
  key: string,
  file: string,
): number[] {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return [v, v, v];
  if (v.length === 1) return [v[0]!, v[0]!, v[0]!];
  if (v.length === 3) return v;
  throw new LoupeError('CORRUPT_FILE', `${file}: ${key} must hold 1 or 3 values, not ${v.length}`, { file });
}

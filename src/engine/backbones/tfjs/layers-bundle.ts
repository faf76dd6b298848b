import path from 'node:path';
import { z } from 'zod';
import { LoupeError } from '../../../errors/loupe-error.js';
import { numel, type Tensor } from '../../tensor.js';
import { readBundleExport } from './umd-bundle.js';

/**
 * A TensorFlow.js *layers* model (Keras topology + weights manifest) as nsfwjs bundles it: the
 * model JSON in `model.min.js`, each weight shard as base64 in `<path>.min.js` next to it.
 */

const quantizationSchema = z.object({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  min: z.number().optional(),
  scale: z.number().optional(),
});
const weightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.literal('float32'),
  quantization: quantizationSchema.optional(),
});
const kerasLayerSchema = z.object({
  name: z.string(),
  class_name: z.string(),
  config: z.record(z.string(), z.unknown()),
  inbound_nodes: z.array(z.unknown()),
});
const modelJsonSchema = z.object({
  modelTopology: z
    .object({
      keras_version: z.string().optional(),
      model_config: z.object({
        class_name: z.string(),
        config: z.object({ name: z.string().optional(), layers: z.array(kerasLayerSchema) }).loose(),
      }),
    })
    .loose(),
  weightsManifest: z
    .array(z.object({ paths: z.array(z.string()).min(1), weights: z.array(weightSpecSchema) }))
    .min(1),
});

export type TfjsWeightSpec = z.infer<typeof weightSpecSchema>;
export type KerasLayer = z.infer<typeof kerasLayerSchema>;
export type TfjsModelJson = z.infer<typeof modelJsonSchema>;

export interface TfjsLayersBundle {
  modelJson: TfjsModelJson;
  /** Every weight spec of every group, in manifest order (the order of the bytes in weightData). */
  weightSpecs: TfjsWeightSpec[];
  /** The shards' bytes concatenated, still quantized: exactly what tf.io.fromMemory expects. */
  weightData: Uint8Array;
  /** The files read, model JSON first. */
  files: string[];
}

const BYTES: Record<string, number> = { float32: 4, uint8: 1, uint16: 2, float16: 2 };
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bytesOf(spec: TfjsWeightSpec): number {
  return numel(spec.shape) * BYTES[spec.quantization?.dtype ?? spec.dtype]!;
}

/** Reads a tfjs layers bundle without executing it; any damage surfaces as CORRUPT_FILE. */
export async function readTfjsLayersBundle(modelFile: string): Promise<TfjsLayersBundle> {
  const parsed = modelJsonSchema.safeParse(await readBundleExport(modelFile));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LoupeError(
      'CORRUPT_FILE',
      `${modelFile} does not hold a tfjs layers model: ${issue.path.join('.')}: ${issue.message}`,
      {
        file: modelFile,
      },
    );
  }
  const modelJson = parsed.data;
  const dir = path.dirname(modelFile);
  const files = [modelFile];
  const chunks: Uint8Array[] = [];
  const weightSpecs: TfjsWeightSpec[] = [];
  for (const group of modelJson.weightsManifest) {
    const groupChunks: Uint8Array[] = [];
    for (const p of group.paths) {
      const file = path.join(dir, `${path.basename(p)}.min.js`);
      files.push(file);
      const text = await readBundleExport(file);
      if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) {
        throw new LoupeError('CORRUPT_FILE', `${file} does not hold base64 weight data`, { file });
      }
      groupChunks.push(Buffer.from(text, 'base64'));
    }
    const got = groupChunks.reduce((a, c) => a + c.length, 0);
    const want = group.weights.reduce((a, w) => a + bytesOf(w), 0);
    if (got !== want) {
      throw new LoupeError(
        'CORRUPT_FILE',
        `weight shards ${group.paths.join(', ')} hold ${got} bytes but the manifest needs ${want}`,
        {
          files: files.slice(-group.paths.length),
        },
      );
    }
    chunks.push(...groupChunks);
    weightSpecs.push(...group.weights);
  }
  return { modelJson, weightSpecs, weightData: Buffer.concat(chunks), files };
}

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Dequantizes every weight to float32 exactly as tfjs-core's decodeWeights does
 * (`q * scale + min`, in double precision, rounded once to float32), so the converted model
 * sees bit-identical weights to the tfjs reference.
 */
export function decodeTfjsWeights(
  bundle: Pick<TfjsLayersBundle, 'weightSpecs' | 'weightData'>,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const { weightData } = bundle;
  let offset = 0;
  for (const spec of bundle.weightSpecs) {
    const n = numel(spec.shape);
    const size = bytesOf(spec);
    const bytes = weightData.subarray(offset, offset + size);
    offset += size;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const data = new Float32Array(n);
    const q = spec.quantization;
    if (!q) for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
    else if (q.dtype === 'float16')
      for (let i = 0; i < n; i++) data[i] = float16ToFloat32(view.getUint16(i * 2, true));
    else {
      if (q.min === undefined || q.scale === undefined) {
        throw new LoupeError(
          'CORRUPT_FILE',
          `weight ${spec.name} is ${q.dtype}-quantized but lacks min/scale`,
        );
      }
      const { min, scale } = q;
      if (q.dtype === 'uint8') for (let i = 0; i < n; i++) data[i] = bytes[i]! * scale + min;
      else for (let i = 0; i < n; i++) data[i] = view.getUint16(i * 2, true) * scale + min;
    }
    if (out.has(spec.name))
      throw new LoupeError('CORRUPT_FILE', `weight ${spec.name} appears twice in the manifest`);
    out.set(spec.name, { shape: [...spec.shape], data });
  }
  return out;
}

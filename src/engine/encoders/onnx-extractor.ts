import { readFile } from 'node:fs/promises';
import type { FeaturePooling } from '../onnx/compose-classifier.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';
import { OnnxSession } from '../onnx/onnx-session.js';
import { numel, type Tensor } from '../tensor.js';
import { embedInChunks } from './embed-in-chunks.js';
import { encoderPreprocessing, type EncoderInput } from './encoder-preprocessing.js';
import { extractorId, fileSha256 } from './extractor-id.js';
import type { FeatureExtractor } from './feature-extractor.js';

/**
 * Images per ONNX Runtime call. It computes on the calling thread, so this bounds how long the
 * event loop is blocked (a ViT-S at 224² takes ~0.1 s per image on one core) as well as memory.
 */
const CHUNK = 16;

export interface OnnxEncoderSource {
  kind: 'onnx' | 'hf';
  /** The source's name in the id: a file name, or repo:path (never a location on this machine). */
  name: string;
  /** How run records name it: the path, or a hub reference pinned to its commit. */
  label: string;
  modelFile: string;
  preprocessorConfig?: string;
  /** An output name; default: the first output of rank 2, else the first of rank 3 or 4. */
  tap?: string;
}

const POOLING_BY_RANK: Record<number, FeaturePooling> = { 2: 'none', 3: 'tokens', 4: 'spatial' };
const POOLING_NOTE: Record<FeaturePooling, string> = {
  none: '',
  tokens: ' (mean over tokens)',
  spatial: ' (mean over height×width)',
};

/** An image encoder in an ONNX file, its features read from one output and pooled to a vector. */
export async function openOnnxExtractor(source: OnnxEncoderSource): Promise<FeatureExtractor> {
  const weightsSha256 = await fileSha256(source.modelFile);
  const session = await OnnxSession.open(source.modelFile, { threads: onnxThreads() });
  try {
    const input = inputLayout(session);
    const { preprocessing, source: pixels } = await encoderPreprocessing(source.preprocessorConfig, input);
    const sample = [input.channels, preprocessing.height, preprocessing.width];
    const batch = input.batch ?? 1;
    // Output shapes are only known for sure by running: graphs often leave them symbolic.
    const probe = await session.run(new Float32Array(batch * numel(sample)), batch, { sampleShape: sample });
    const output = chooseOutput(session, probe, batch, source.tap);
    return sessionExtractor(session, {
      id: extractorId({
        kind: source.kind,
        name: source.name,
        weightsSha256,
        tap: output.pooling === 'none' ? output.name : `${output.name}.mean`,
        settings: { preprocessing, pooling: output.pooling },
      }),
      description: `${source.label} output ${output.name}${POOLING_NOTE[output.pooling]}; pixels: ${pixels}`,
      preprocessing,
      sample,
      output,
      chunk: input.batch ?? CHUNK,
      fixedBatch: input.batch !== undefined,
      modelBytes: () => readFile(source.modelFile),
    });
  } catch (e) {
    await session.dispose();
    throw e;
  }
}

/**
 * Intra-op threads for ONNX Runtime: LOUPE_THREADS when set, as for libtorch, since tuning splits
 * the cores between trial processes through it; otherwise ONNX Runtime's default.
 */
export function onnxThreads(): number | undefined {
  const threads = Number(process.env.LOUPE_THREADS);
  return Number.isInteger(threads) && threads > 0 ? threads : undefined;
}

/** Where an extractor reads its features and how it averages them to a vector. */
export interface OnnxFeatureOutput {
  name: string;
  pooling: FeaturePooling;
  /** Features per image once pooled. */
  dim: number;
}

export interface SessionExtractorOptions {
  id: string;
  description: string;
  preprocessing: ImagePreprocessing;
  /** One image as the session takes it: [channels, height, width]. */
  sample: number[];
  output: OnnxFeatureOutput;
  /** Images per ONNX Runtime call. */
  chunk: number;
  /** The graph's batch is fixed at `chunk`, so every call gets exactly that many images. */
  fixedBatch?: boolean;
  /** The session's model, for fused exports. */
  modelBytes: () => Promise<Uint8Array>;
}

/** An extractor over an open session, which it owns: dispose releases the session. */
export function sessionExtractor(session: OnnxSession, o: SessionExtractorOptions): FeatureExtractor {
  const { output, sample } = o;
  return {
    id: o.id,
    description: o.description,
    dim: output.dim,
    preprocessing: o.preprocessing,
    embed: (x, n) =>
      embedInChunks(
        x,
        n,
        { sampleSize: numel(sample), dim: output.dim, chunk: o.chunk, fixedBatch: o.fixedBatch },
        async (chunk, size) => {
          const out = await session.run(chunk, size, { outputs: [output.name], sampleShape: sample });
          return pool(out.get(output.name)!, output.pooling);
        },
      ),
    graph: async () => ({ bytes: await o.modelBytes(), output: output.name, pooling: output.pooling }),
    dispose: () => session.dispose(),
  };
}

/** The input as [batch, channels, height, width]; sizes left symbolic are undefined. */
function inputLayout(session: OnnxSession): EncoderInput & { batch?: number } {
  const shape = session.inputShape;
  const fixed = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
  const [batch, channels, height, width] = shape.map(fixed);
  const colour = (c: number | undefined) => c === 1 || c === 3;
  if (shape.length !== 4 || (channels !== undefined && !colour(channels))) {
    const nhwc = shape.length === 4 && colour(fixed(shape[3])) && channels !== undefined;
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${session.source} takes [${shape.join(', ')}]; an image encoder must take [batch, channels, height, width]` +
        ` with 1 or 3 channels${nhwc ? ' (this looks channels-last: export it channels-first)' : ''}`,
      { file: session.source },
    );
  }
  return { batch, channels: channels ?? 3, height, width };
}

function chooseOutput(
  session: OnnxSession,
  probe: Map<string, Tensor>,
  batch: number,
  tap: string | undefined,
): OnnxFeatureOutput {
  const shapes = session.outputNames.map((name) => ({ name, shape: probe.get(name)!.shape }));
  const listing = shapes.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ');
  const chosen = tap
    ? shapes.find((o) => o.name === tap)
    : (shapes.find((o) => o.shape.length === 2) ??
      shapes.find((o) => o.shape.length === 3 || o.shape.length === 4));
  if (!chosen) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      tap
        ? `${session.source} has no output "${tap}"; its outputs: ${listing}`
        : `${session.source} has no output of rank 2, 3 or 4 to read features from; its outputs: ${listing}`,
      { file: session.source },
    );
  }
  const pooling = POOLING_BY_RANK[chosen.shape.length];
  if (!pooling || chosen.shape[0] !== batch) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `output ${chosen.name} of ${session.source} is [${chosen.shape.join(', ')}] for ${batch} image(s);` +
        ' features must be [batch, features], [batch, tokens, features] or [batch, channels, height, width]',
      { file: session.source },
    );
  }
  const dim = pooling === 'tokens' ? chosen.shape[2]! : chosen.shape[1]!;
  return { name: chosen.name, pooling, dim };
}

/** Averages token or spatial axes away, leaving [batch, features]. */
function pool(t: Tensor, pooling: FeaturePooling): Float32Array {
  if (pooling === 'none') return t.data;
  const [n, a, b] = t.shape as [number, number, number];
  if (pooling === 'tokens') {
    // [n, tokens a, features b]: each feature's mean over the tokens.
    const out = new Float64Array(n * b);
    for (let i = 0; i < n; i++)
      for (let k = 0; k < a; k++) for (let j = 0; j < b; j++) out[i * b + j]! += t.data[(i * a + k) * b + j]!;
    return Float32Array.from(out, (v) => v / a);
  }
  // [n, channels a, h, w]: each channel's mean over its contiguous h×w plane.
  const plane = numel(t.shape.slice(2));
  const out = new Float32Array(n * a);
  for (let r = 0; r < n * a; r++) {
    let sum = 0;
    for (let p = r * plane, end = p + plane; p < end; p++) sum += t.data[p]!;
    out[r] = sum / plane;
  }
  return out;
}

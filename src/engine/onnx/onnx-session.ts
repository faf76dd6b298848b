import { fsError } from '../../errors/fs-error.js';
import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { LoupeError } from '../../errors/loupe-error.js';
import { numel, type TensorMap } from '../tensor.js';
import { readOnnxMetadata } from './onnx-metadata.js';

export interface OnnxSessionOptions {
  /** Intra-op threads (the parallelism inside one operator). Defaults to ONNX Runtime's choice, one per physical core. */
  threads?: number;
}

export interface OnnxRunOptions {
  /** Outputs to compute; defaults to all. Naming fewer lets ONNX Runtime skip work (a tap without the head). */
  outputs?: string[];
  /** Per-sample input shape, for models whose input declares symbolic sizes beyond the batch. */
  sampleShape?: number[];
}

/**
 * An ONNX Runtime inference session over one model with one float32 input, the layout Loupe
 * exports and image encoders from elsewhere use. Note that onnxruntime-node runs inference on
 * the calling thread: a server keeps sessions in worker threads so the event loop stays free.
 */
export class OnnxSession {
  private disposed = false;
  private inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly source: string,
    /** The model's input name. */
    readonly inputName: string,
    /** The declared input shape, batch included; strings are symbolic dimensions. */
    readonly inputShape: readonly (number | string)[],
    readonly outputNames: readonly string[],
    /** metadata_props of the model (for Loupe exports: the spec and the caller's strings). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Opens a model from a file path or from its bytes. */
  static async open(model: string | Uint8Array, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const threads = options.threads;
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
      throw new LoupeError('INVALID_ARGUMENT', `threads must be a positive integer, got ${threads}`);
    }
    const source = typeof model === 'string' ? model : 'ONNX model bytes';
    const bytes = typeof model === 'string' ? await readModelFile(model) : model;
    const metadata = readOnnxMetadata(bytes);
    if (metadata === undefined || bytes.length === 0) {
      throw new LoupeError(
        'CORRUPT_FILE',
        `${source} is not an ONNX model (it does not parse as a protobuf ModelProto)`,
        { file: source },
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        ...(threads ? { intraOpNumThreads: threads } : {}),
        // One model per request path: parallel branches are rare in classifiers and would need more threads.
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw new LoupeError(
        'CORRUPT_FILE',
        `ONNX Runtime cannot load ${source}: ${(e as Error).message}`,
        { file: source },
        { cause: e },
      );
    }
    const inputs = session.inputMetadata;
    const input = inputs[0];
    if (inputs.length !== 1 || !input?.isTensor || input.type !== 'float32') {
      await session.release();
      const found = inputs.map((i) => `${i.name}${i.isTensor ? ` (${i.type})` : ''}`).join(', ');
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${source} must take exactly one float32 tensor input; it takes: ${found || 'none'}`,
        { file: source },
      );
    }
    return new OnnxSession(session, source, input.name, [...input.shape], [...session.outputNames], metadata);
  }

  /**
   * Runs a batch of `size` samples laid out NCHW (or whatever per-sample layout the model
   * declares) and returns the requested outputs as float32 tensors keyed by output name.
   */
  async run(x: Float32Array, size: number, options: OnnxRunOptions = {}): Promise<TensorMap> {
    if (this.disposed) throw new LoupeError('DISPOSED', `the session for ${this.source} has been disposed`);
    if (!(x instanceof Float32Array)) throw new LoupeError('DTYPE_MISMATCH', 'input must be a Float32Array');
    if (!Number.isInteger(size) || size < 1)
      throw new LoupeError('INVALID_ARGUMENT', `batch size must be a positive integer, got ${size}`);
    const sample = this.sampleShape(options.sampleShape);
    if (x.length !== size * numel(sample)) {
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `input holds ${x.length} values but a batch of ${size} × [${sample.join(', ')}] needs ${size * numel(sample)}`,
      );
    }
    const outputs = options.outputs ?? this.outputNames;
    for (const name of outputs) {
      if (!this.outputNames.includes(name)) {
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `no output named "${name}"; this model has: ${this.outputNames.join(', ')}`,
        );
      }
    }
    const feeds = { [this.inputName]: new ort.Tensor('float32', x, [size, ...sample]) };
    const pending = this.session.run(feeds, [...outputs]);
    this.inFlight.add(pending);
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await pending;
    } catch (e) {
      throw new LoupeError(
        'NATIVE_ERROR',
        `ONNX Runtime failed on ${this.source}: ${(e as Error).message}`,
        undefined,
        { cause: e },
      );
    } finally {
      this.inFlight.delete(pending);
    }
    const out: TensorMap = new Map();
    for (const name of outputs) {
      const t = results[name]!;
      out.set(name, { shape: [...t.dims], data: toFloat32(name, t.data) });
    }
    return out;
  }

  /** Releases the native session once calls in flight have finished; later runs throw DISPOSED. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.session.release();
  }

  private sampleShape(override: number[] | undefined): number[] {
    const declared = this.inputShape.slice(1);
    if (override) {
      if (
        override.length !== declared.length ||
        !override.every(
          (d, i) => Number.isInteger(d) && d > 0 && (typeof declared[i] === 'string' || declared[i] === d),
        )
      ) {
        throw new LoupeError(
          'SHAPE_MISMATCH',
          `sample shape [${override.join(', ')}] does not fit the model's input [${declared.join(', ')}]`,
        );
      }
      return override;
    }
    if (!declared.every((d): d is number => typeof d === 'number')) {
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `the input of ${this.source} has symbolic sizes [${declared.join(', ')}]; pass sampleShape`,
      );
    }
    return declared;
  }
}

async function readModelFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    throw fsError(e, file, { what: 'ONNX model' });
  }
}

function toFloat32(name: string, data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (
    data instanceof Float64Array ||
    data instanceof Int32Array ||
    data instanceof Uint8Array ||
    data instanceof Int8Array
  ) {
    return Float32Array.from(data);
  }
  if (data instanceof BigInt64Array) return Float32Array.from(data, Number);
  throw new LoupeError('DTYPE_MISMATCH', `output "${name}" is not numeric`);
}

import type { NativeModel } from '../../native/index.js';
import { LoupeError, type ErrorCode } from '../errors/loupe-error.js';
import { loadAddon } from './native/load-addon.js';
import { resolveSpec } from './spec/resolve.js';
import type { ResolvedSpec } from './spec/resolved.js';
import type { ModelSpecInput } from './spec/schema.js';
import { numel, type Tensor, type TensorMap } from './tensor.js';

export interface OptimizerOptions {
  type: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
}

export interface Batch {
  /** NCHW float32 pixels, batch-major. */
  x: Float32Array;
  /** Number of samples in x. */
  size: number;
  labels: Int32Array;
  /** Optional per-sample loss weights (class weights, importance). */
  weights?: Float32Array;
}

export interface TrainStepOptions {
  labelSmoothing?: number;
  /** Clip the global gradient L2 norm to this value. */
  clipGradNorm?: number;
}

/** What forward returns: the logits, softmax probabilities, or the features of a named tap. */
export type ForwardOutput = 'logits' | 'probs' | { tap: string; pool?: boolean };

/** Which parameters to freeze or unfreeze: names or name prefixes, or a range of top-level layers. */
export type LayerSelector = string[] | { from?: number | string; to?: number | string };

const NATIVE_CODE = /^\[([A-Z_]+)\] /;

/** Native errors carry their code in brackets; anything else is an engine fault. */
function toLoupeError(e: unknown): LoupeError {
  if (e instanceof LoupeError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const m = NATIVE_CODE.exec(message);
  const code = (m?.[1] ?? 'NATIVE_ERROR') as ErrorCode;
  return new LoupeError(code, m ? message.slice(m[0].length) : message, undefined, { cause: e });
}

async function guard<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toLoupeError(e);
  }
}

/**
 * A trainable network on the libtorch engine. Calls on one model run one at a time (a training
 * step and a forward never interleave on the same weights), in order, off the event loop.
 */
export class Model {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    readonly spec: ResolvedSpec,
    private readonly native: NativeModel,
  ) {}

  /** Builds a network with deterministic initialisation: the same spec and seed give the same weights. */
  static async create(spec: ModelSpecInput | ResolvedSpec, options: { seed?: number } = {}): Promise<Model> {
    const resolved = isResolved(spec) ? spec : resolveSpec(spec);
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new LoupeError('INVALID_ARGUMENT', `seed must be a non-negative integer, got ${seed}`);
    const native = await guard(() => loadAddon().createModel(JSON.stringify(resolved), seed));
    return new Model(resolved, native);
  }

  get inputShape(): [number, number, number] {
    const { channels, height, width } = this.spec.input;
    return [channels, height, width];
  }

  get numOutputs(): number {
    return numel(this.spec.outShape);
  }

  private run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(() => {
      if (this.disposed) throw new LoupeError('DISPOSED', 'this model has been disposed');
      return guard(fn);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private checkInput(x: Float32Array, size: number): number[] {
    if (!(x instanceof Float32Array))
      throw new LoupeError('DTYPE_MISMATCH', `input must be a Float32Array, got ${describe(x)}`);
    if (!Number.isInteger(size) || size < 1)
      throw new LoupeError('INVALID_ARGUMENT', `batch size must be a positive integer, got ${size}`);
    const shape = [size, ...this.inputShape];
    if (x.length !== numel(shape)) {
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `input holds ${x.length} values but a batch of ${size} × [${this.inputShape.join(', ')}] needs ${numel(shape)}`,
      );
    }
    return shape;
  }

  configureOptimizer(o: OptimizerOptions): Promise<void> {
    if (!(o.lr > 0)) throw new LoupeError('INVALID_ARGUMENT', `learning rate must be positive, got ${o.lr}`);
    return this.run(() =>
      this.native.configureOptimizer({
        type: o.type,
        lr: o.lr,
        momentum: o.momentum ?? (o.type === 'sgd' ? 0.9 : 0),
        nesterov: o.nesterov ?? false,
        weightDecay: o.weightDecay ?? (o.type === 'adamw' ? 0.01 : 0),
        beta1: o.betas?.[0] ?? 0.9,
        beta2: o.betas?.[1] ?? 0.999,
        eps: o.eps ?? 1e-8,
      }),
    );
  }

  setLearningRate(lr: number): Promise<void> {
    if (!(lr >= 0) || !Number.isFinite(lr))
      throw new LoupeError('INVALID_ARGUMENT', `learning rate must be finite and ≥ 0, got ${lr}`);
    return this.run(() => this.native.setLearningRate(lr));
  }

  /** One optimizer step; resolves to the batch's mean loss. A NaN or infinite loss rejects with NAN_LOSS. */
  trainBatch(batch: Batch, options: TrainStepOptions = {}): Promise<number> {
    const shape = this.checkInput(batch.x, batch.size);
    if (!(batch.labels instanceof Int32Array))
      throw new LoupeError('DTYPE_MISMATCH', `labels must be an Int32Array, got ${describe(batch.labels)}`);
    if (batch.labels.length !== batch.size)
      throw new LoupeError('SHAPE_MISMATCH', `${batch.labels.length} labels for a batch of ${batch.size}`);
    const classes = this.numOutputs;
    for (const label of batch.labels) {
      if (label < 0 || label >= classes)
        throw new LoupeError('INVALID_ARGUMENT', `label ${label} is outside 0..${classes - 1}`);
    }
    if (batch.weights && (!(batch.weights instanceof Float32Array) || batch.weights.length !== batch.size)) {
      throw new LoupeError(
        'SHAPE_MISMATCH',
        `sample weights must be a Float32Array with one weight per sample (${batch.size})`,
      );
    }
    const smoothing = options.labelSmoothing ?? 0;
    if (!(smoothing >= 0 && smoothing < 1))
      throw new LoupeError('INVALID_ARGUMENT', `label smoothing must be in [0, 1), got ${smoothing}`);
    const clip = options.clipGradNorm ?? 0;
    if (!(clip >= 0)) throw new LoupeError('INVALID_ARGUMENT', `clipGradNorm must be ≥ 0, got ${clip}`);
    return this.run(() =>
      this.native.trainBatch(batch.x, shape, batch.labels, batch.weights ?? null, {
        labelSmoothing: smoothing,
        clipGradNorm: clip,
      }),
    );
  }

  /** Eval-mode forward (batchnorm uses running statistics, dropout is off). */
  forward(x: Float32Array, size: number, output: ForwardOutput = 'logits'): Promise<Tensor> {
    const shape = this.checkInput(x, size);
    const [name, pool] = typeof output === 'string' ? [output, false] : [output.tap, output.pool ?? false];
    if (typeof output !== 'string') {
      const tapShape = this.spec.taps[output.tap];
      if (!tapShape)
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `no tap named "${output.tap}"; this model has: ${Object.keys(this.spec.taps).join(', ') || 'none'}`,
        );
      if (pool && tapShape.length !== 3)
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `tap "${output.tap}" is already a vector; pooling needs a feature map`,
        );
    }
    return this.run(() =>
      this.native.forward(x, shape, typeof output === 'string' ? name : `tap:${name}`, pool),
    );
  }

  /** Freezes (or unfreezes) parameters; frozen batchnorm layers also stop updating their statistics. */
  setTrainable(selector: LayerSelector, trainable: boolean): Promise<void> {
    const prefixes = this.selectPrefixes(selector);
    return this.run(() => this.native.setTrainable(prefixes, trainable));
  }

  freeze(selector: LayerSelector): Promise<void> {
    return this.setTrainable(selector, false);
  }

  unfreeze(selector: LayerSelector): Promise<void> {
    return this.setTrainable(selector, true);
  }

  private selectPrefixes(selector: LayerSelector): string[] {
    const names = this.spec.layers.map((l) => l.name);
    if (Array.isArray(selector)) {
      const known = Object.keys(this.spec.tensors);
      for (const p of selector) {
        if (!known.some((t) => t === p || t.startsWith(`${p}.`))) {
          throw new LoupeError(
            'INVALID_ARGUMENT',
            `no parameters under "${p}"; top-level layers are: ${names.join(', ')}`,
          );
        }
      }
      return selector;
    }
    const index = (v: number | string | undefined, fallback: number): number => {
      if (v === undefined) return fallback;
      const i = typeof v === 'number' ? v : names.indexOf(v);
      if (i < 0 || i >= names.length)
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `no top-level layer ${JSON.stringify(v)}; there are ${names.length}: ${names.join(', ')}`,
        );
      return i;
    };
    return names.slice(index(selector.from, 0), index(selector.to, names.length - 1) + 1);
  }

  /** Copies out every parameter and batchnorm statistic. */
  getWeights(): Promise<TensorMap> {
    return this.run(
      () => new Map(this.native.tensors().map((t) => [t.name, { shape: t.shape, data: t.data }])),
    );
  }

  /** Names of parameters that currently receive gradients. */
  trainableNames(): Promise<string[]> {
    return this.run(() =>
      this.native
        .tensors()
        .filter((t) => t.trainable)
        .map((t) => t.name),
    );
  }

  /** Copies weights in. With strict (the default) every tensor of the model must be given. */
  setWeights(weights: TensorMap, options: { strict?: boolean } = {}): Promise<void> {
    const strict = options.strict ?? true;
    const list: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [name, t] of weights) {
      const expected = this.spec.tensors[name];
      if (!expected)
        throw new LoupeError('SHAPE_MISMATCH', `weights contain "${name}", which this model does not have`);
      if (expected.join(',') !== t.shape.join(',')) {
        throw new LoupeError(
          'SHAPE_MISMATCH',
          `"${name}" has shape [${t.shape.join(', ')}] but the model expects [${expected.join(', ')}]`,
        );
      }
      if (!(t.data instanceof Float32Array) || t.data.length !== numel(t.shape)) {
        throw new LoupeError('DTYPE_MISMATCH', `"${name}" must hold ${numel(t.shape)} float32 values`);
      }
      list.push({ name, shape: t.shape, data: t.data });
    }
    if (strict) {
      const missing = Object.keys(this.spec.tensors).filter((n) => !weights.has(n));
      if (missing.length)
        throw new LoupeError(
          'SHAPE_MISMATCH',
          `weights lack ${missing.length} tensors, e.g. "${missing[0]}"`,
        );
    }
    return this.run(() => this.native.loadTensors(list, strict));
  }

  /**
   * The optimizer's state (momentum buffers, Adam moments and step counts) as opaque bytes, so a
   * resumed run continues exactly. The learning rate and other options are not included.
   */
  getOptimizerState(): Promise<Uint8Array> {
    return this.run(() => this.native.optimizerState());
  }

  /**
   * Restores bytes from getOptimizerState. Configure the same optimizer type first; its options
   * stay as configured. Damaged bytes reject with CORRUPT_FILE and leave the optimizer as it was.
   */
  setOptimizerState(bytes: Uint8Array): Promise<void> {
    checkBytes(bytes, 'optimizer state');
    return this.run(() => this.native.loadOptimizerState(bytes));
  }

  /** The state of the model's random generator (dropout masks), as opaque bytes. */
  getRngState(): Promise<Uint8Array> {
    return this.run(() => this.native.rngState());
  }

  /** Restores bytes from getRngState, so later dropout masks match those of an uninterrupted run. */
  setRngState(bytes: Uint8Array): Promise<void> {
    checkBytes(bytes, 'random generator state');
    return this.run(() => this.native.setRngState(bytes));
  }

  /** Frees native memory now instead of at garbage collection. Waits for calls in flight. */
  async dispose(): Promise<void> {
    await this.queue;
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose();
  }
}

function isResolved(spec: ModelSpecInput | ResolvedSpec): spec is ResolvedSpec {
  return 'tensors' in spec && 'taps' in spec;
}

function checkBytes(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array))
    throw new LoupeError('DTYPE_MISMATCH', `${what} must be a Uint8Array, got ${describe(bytes)}`);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return (v as object).constructor?.name ?? typeof v;
}

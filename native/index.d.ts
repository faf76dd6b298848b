/**
 * The raw surface of the native addon (native/src). TypeScript code never calls this directly:
 * src/engine/model.ts validates every argument first and turns native errors into LoupeErrors.
 *
 * Async methods run in an N-API AsyncWorker on the libuv pool and never block the event loop.
 * Sync methods copy at most a model's weights. Every method throws a plain Error whose message
 * starts with a code in brackets ("[SHAPE_MISMATCH] ...") instead of crashing the process.
 */
export interface NativeTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  trainable: boolean;
}

export interface NativeOptimizerOptions {
  type: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface NativeTrainOptions {
  labelSmoothing: number;
  /** Max global L2 norm of the gradients; 0 disables clipping. */
  clipGradNorm: number;
}

export interface NativeForwardResult {
  data: Float32Array;
  shape: number[];
}

export interface NativeModel {
  /** Async. One optimizer step on a batch; resolves to the mean loss (before the step). */
  trainBatch(
    x: Float32Array,
    shape: number[],
    labels: Int32Array,
    weights: Float32Array | null,
    options: NativeTrainOptions,
  ): Promise<number>;
  /** Async. Eval-mode forward; output 'logits' | 'probs' | a tap name; pool averages a tap's H×W. */
  forward(x: Float32Array, shape: number[], output: string, pool: boolean): Promise<NativeForwardResult>;
  /** Sync. Replaces the optimizer (its state starts afresh). */
  configureOptimizer(options: NativeOptimizerOptions): void;
  /** Sync. Sets the learning rate of every parameter group. */
  setLearningRate(lr: number): void;
  /** Sync. Sets requires_grad for every parameter under the given name prefixes. */
  setTrainable(prefixes: string[], trainable: boolean): void;
  /** Sync. Copies out every parameter and buffer (running statistics). */
  tensors(): NativeTensor[];
  /** Sync. Copies the given tensors in; unknown names or wrong shapes throw and change nothing. */
  loadTensors(tensors: { name: string; shape: number[]; data: Float32Array }[], strict: boolean): void;
  /**
   * Sync. The optimizer's state (SGD momentum buffers; Adam/AdamW moments and step counts) in
   * libtorch's serialisation, sealed with a checksum. Opaque bytes for a checkpoint; they do not
   * include the options (learning rate etc.). Throws [INVALID_ARGUMENT] if no optimizer is configured.
   */
  optimizerState(): Buffer;
  /**
   * Sync. Replaces the optimizer's state with bytes from optimizerState. Call after
   * configureOptimizer with the same type, on a model of the same spec; the options stay as
   * configured. Throws, changing nothing: [CORRUPT_FILE] for damaged or foreign bytes,
   * [INVALID_ARGUMENT] with no optimizer or another optimizer type, [SHAPE_MISMATCH] for state
   * saved from a model with other parameters, [DTYPE_MISMATCH] if bytes is not a Uint8Array.
   */
  loadOptimizerState(bytes: Uint8Array): void;
  /**
   * Sync. The state of the model's own random generator (dropout masks), sealed with a checksum.
   * Platform-specific bytes: restore them only with the same build on the same architecture.
   */
  rngState(): Buffer;
  /** Sync. Restores bytes from rngState; damaged or foreign bytes throw [CORRUPT_FILE] and change nothing. */
  setRngState(bytes: Uint8Array): void;
  /** Sync. Frees the weights now; any later call throws [DISPOSED]. */
  dispose(): void;
}

export interface NativeAddon {
  /** Async. Builds a network from a resolved spec (JSON) with deterministic initialisation. */
  createModel(resolvedSpecJson: string, seed: number): Promise<NativeModel>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** libtorch version string, e.g. "1.13.1". */
  torchVersion(): string;
}

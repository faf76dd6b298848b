import sharp from 'sharp';
import { LoupeError } from '../errors/loupe-error.js';
import { readModelFile } from '../registry/model-files.js';
import { formatRef, type ModelRef } from '../registry/model-ref.js';
import { aliasTarget, getVersion, CHAMPION } from '../registry/registry-store.js';
import type { Workspace } from '../workspace/workspace.js';
import type { DecodeLimits } from './decode-upload.js';
import { MicroBatcher, type BatcherOptions } from './inference/micro-batcher.js';
import { WorkerModel } from './inference/worker-model.js';
import type { ItemResult, LoadedInfo } from './inference/worker-protocol.js';
import type { ServeMetrics } from './serve-metrics.js';

export interface HostSettings {
  batching: BatcherOptions;
  limits: DecodeLimits;
  reloadIntervalMs: number;
  /** ONNX Runtime intra-op threads per model (default: ONNX Runtime's choice). */
  threads?: number;
}

export interface HostLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/** One loaded version: its worker, its batcher and the requests still using it. */
export class ServedModel {
  inflight = 0;
  readonly batcher: MicroBatcher<Uint8Array, ItemResult>;

  constructor(
    readonly model: string,
    readonly version: number,
    readonly worker: WorkerModel,
    settings: HostSettings,
    metrics: ServeMetrics,
  ) {
    this.batcher = new MicroBatcher(
      async (inputs) => {
        const out = await worker.run(inputs, settings.limits);
        metrics.inferenceSeconds.observe({ model: model, stage: 'decode' }, out.decodeMs / 1000);
        metrics.inferenceSeconds.observe({ model: model, stage: 'infer' }, out.inferMs / 1000);
        return out.results;
      },
      settings.batching,
      (size) => metrics.batchSize.observe({ model }, size),
    );
  }

  get ref(): string {
    return formatRef(this.model, this.version);
  }

  get info(): LoadedInfo {
    return this.worker.info;
  }

  /**
   * Runs `work` with this version held: it is not unloaded until `work` settles, even if a newer
   * version replaces it meanwhile. Take the hold in the same tick as `ModelHost.get` returns, so
   * slow work before the prediction (fetching a URL) cannot outlive the version.
   */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      return await work();
    } finally {
      this.inflight--;
    }
  }

  /** Classifies one upload. */
  predict(bytes: Uint8Array): Promise<ItemResult> {
    return this.hold(() => this.batcher.submit(bytes));
  }

  /** Waits for the requests still using this version, then stops its worker. */
  async retire(): Promise<void> {
    // A request handed this version by ModelHost.get() calls predict() in the continuation of
    // that call, a microtask later: let those run before counting what is in flight.
    await new Promise((r) => setImmediate(r));
    while (this.inflight > 0 || this.batcher.busy) await new Promise((r) => setTimeout(r, 10));
    await this.worker.close();
  }
}

/** How a request names a model: following an alias (hot-reloaded) or pinned to a version. */
type Selector = { kind: 'alias'; alias: string } | { kind: 'version'; version: number };

interface Slot {
  model: string;
  selector: Selector;
  current?: ServedModel;
  loading?: Promise<ServedModel>;
  /** Versions that failed to load or to answer the self-test, with why; never retried. */
  refused: Map<number, string>;
  lastUsed: number;
}

const keyOf = (model: string, s: Selector) =>
  s.kind === 'alias' ? `${model}:${s.alias}` : `${model}@${s.version}`;

/** Versions pinned by number that stay loaded at once; the least recently used goes first. */
const PINNED = 4;

/**
 * Keeps the served model versions loaded and current. A request names a model (its champion,
 * else its latest version), an alias or a version. Aliases are watched: when one moves, the new
 * version is loaded in the background and must answer a self-test before it replaces the old
 * one in a single assignment; requests already holding the old version finish on it, then its
 * worker stops. A version that fails is refused — logged, counted and shown in /readyz — and the
 * old one keeps serving.
 */
export class ModelHost {
  private readonly slots = new Map<string, Slot>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;

  constructor(
    private readonly ws: Workspace,
    private readonly settings: HostSettings,
    private readonly metrics: ServeMetrics,
    private readonly log: HostLog,
  ) {
    metrics.queueDepth.reset();
  }

  /** Loads the champion (else latest version) of every registered model, and starts watching. */
  async start(): Promise<void> {
    const models = await this.ws.db.selectFrom('registered_models').select('name').execute();
    await Promise.all(
      models.map((m) =>
        this.get({ model: m.name }).catch((e: unknown) =>
          this.log.warn({ model: m.name, err: (e as Error).message }, 'model not loaded at start'),
        ),
      ),
    );
    this.timer = setInterval(() => void this.check(), this.settings.reloadIntervalMs);
    this.timer.unref();
  }

  /** The loaded version a reference names, loading it first if needed. */
  async get(ref: ModelRef): Promise<ServedModel> {
    if (this.closed) throw new LoupeError('OVERLOADED', 'the server is shutting down');
    const selector: Selector =
      'version' in ref
        ? { kind: 'version', version: ref.version }
        : { kind: 'alias', alias: 'alias' in ref ? ref.alias : CHAMPION };
    const key = keyOf(ref.model, selector);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { model: ref.model, selector, refused: new Map(), lastUsed: Date.now() };
      this.slots.set(key, slot);
    }
    slot.lastUsed = Date.now();
    if (slot.current) return slot.current;
    slot.loading ??= this.target(slot)
      .then((version) => this.load(slot, version))
      .finally(() => (slot.loading = undefined));
    try {
      return await slot.loading;
    } catch (e) {
      if (!slot.current) this.slots.delete(key);
      throw e;
    }
  }

  /** The version a slot should serve now: the alias's target (a bare name's champion, else its latest version). */
  private async target(slot: Slot): Promise<number> {
    if (slot.selector.kind === 'version') return slot.selector.version;
    const aliased = await aliasTarget(this.ws.db, slot.model, slot.selector.alias);
    if (aliased !== undefined) return aliased;
    if (slot.selector.alias !== CHAMPION)
      throw new LoupeError('NOT_FOUND', `model ${slot.model} has no alias "${slot.selector.alias}"`);
    return (await getVersion(this.ws.db, { model: slot.model })).version;
  }

  private async load(slot: Slot, version: number): Promise<ServedModel> {
    const refusal = slot.refused.get(version);
    if (refusal)
      throw new LoupeError('NOT_FOUND', `${formatRef(slot.model, version)} was refused: ${refusal}`);
    const v = await getVersion(this.ws.db, { model: slot.model, version });
    let worker: WorkerModel | undefined;
    try {
      worker = await WorkerModel.load(
        await readModelFile(this.ws.blobs, v),
        this.settings.threads ? { threads: this.settings.threads } : {},
      );
      const served = new ServedModel(slot.model, version, worker, this.settings, this.metrics);
      await selfTest(served);
      const old = slot.current;
      slot.current = served;
      this.metrics.reloads.inc({ model: slot.model, result: 'loaded' });
      this.publish();
      this.log.info(
        { model: slot.model, version, replaces: old?.version },
        old ? 'model version swapped in' : 'model version loaded',
      );
      if (old) void old.retire().then(() => this.publish());
      return served;
    } catch (e) {
      await worker?.close();
      const reason = (e as Error).message;
      slot.refused.set(version, reason);
      this.metrics.reloads.inc({ model: slot.model, result: 'refused' });
      this.log.warn(
        { model: slot.model, version, err: reason },
        'model version refused; the previous one keeps serving',
      );
      throw e instanceof LoupeError ? e : new LoupeError('INTERNAL', reason);
    }
  }

  /** Moves alias-following slots to their alias's new target; unloads pinned versions nobody asked for lately. */
  private async check(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      for (const slot of this.slots.values()) {
        if (slot.selector.kind !== 'alias' || !slot.current || slot.loading) continue;
        const version = await this.target(slot).catch(() => undefined);
        if (version === undefined || version === slot.current.version || slot.refused.has(version)) continue;
        slot.loading = this.load(slot, version).finally(() => (slot.loading = undefined));
        await slot.loading.catch(() => undefined);
      }
      const pinned = [...this.slots.entries()].filter(([, s]) => s.selector.kind === 'version' && s.current);
      pinned.sort((a, b) => b[1].lastUsed - a[1].lastUsed);
      for (const [key, slot] of pinned.slice(PINNED)) {
        this.slots.delete(key);
        void slot.current!.retire().then(() => this.publish());
      }
      this.publish();
    } finally {
      this.checking = false;
    }
  }

  /** Refreshes the model-info and queue-depth gauges from the slots. */
  private publish(): void {
    this.metrics.modelInfo.reset();
    this.metrics.queueDepth.reset();
    for (const [key, slot] of this.slots) {
      if (!slot.current) continue;
      this.metrics.modelInfo.set(
        { model: slot.model, version: String(slot.current.version), selector: key },
        1,
      );
      this.metrics.queueDepth.inc({ model: slot.model }, slot.current.batcher.depth);
    }
  }

  /** For /readyz: what is loaded, and what was refused. */
  status(): {
    loaded: { selector: string; version: string }[];
    refused: { version: string; reason: string }[];
  } {
    this.publish();
    const loaded: { selector: string; version: string }[] = [];
    const refused: { version: string; reason: string }[] = [];
    for (const [key, slot] of this.slots) {
      if (slot.current) loaded.push({ selector: key, version: slot.current.ref });
      for (const [v, reason] of slot.refused) refused.push({ version: formatRef(slot.model, v), reason });
    }
    return { loaded, refused };
  }

  /** Waits for requests in flight, then stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.slots.values()].map((s) => s.loading?.catch(() => undefined)));
    await Promise.all([...this.slots.values()].flatMap((s) => (s.current ? [s.current.retire()] : [])));
    this.slots.clear();
  }
}

/**
 * A version must classify a plain grey image before it serves: one that loads but cannot run (a
 * wrong input size, an operator the runtime lacks) or that answers nonsense is refused.
 */
async function selfTest(served: ServedModel): Promise<void> {
  const inputs = served.info.inputs;
  if (inputs.kind !== 'image') return;
  const { width, height } = inputs.preprocessing;
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .png()
    .toBuffer();
  const result = await served.predict(png);
  if ('error' in result)
    throw new LoupeError('INVALID_ARGUMENT', `self-test failed: ${result.error.message}`);
  const sum = result.probs.reduce((a, b) => a + b, 0);
  if (result.probs.length !== served.info.classes.length || !Number.isFinite(sum) || Math.abs(sum - 1) > 1e-3)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `self-test failed: ${result.probs.length} probabilities summing to ${sum} for ${served.info.classes.length} classes`,
    );
}

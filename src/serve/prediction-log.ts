import { createHash } from 'node:crypto';
import { LoupeError } from '../errors/loupe-error.js';
import { sha256, type BlobStore } from '../store/blob-store.js';
import type { Database } from '../store/database.js';
import { isBusy } from '../store/immediate-transaction.js';
import type { PredictionSource } from '../store/schema.js';
import type { PredictionRow } from './prediction-log-rows.js';
import { PredictionLogWriter } from './prediction-log-writer.js';
import type { PredictionLogConfig } from './serve-config.js';

export type { PredictionSource };

export interface TopKEntry {
  label: string;
  probability: number;
}

/** One served prediction, as the request handler hands it over. */
export interface PredictionEntry {
  /** When the prediction was made; default: when record() is called. */
  at?: Date | string;
  model: string;
  version: number;
  /** The input bytes as received; needed unless inputHash is given (and for storeInputs). */
  input?: Uint8Array;
  /** SHA-256 hex of the input, when the caller has it already: record() then skips hashing. */
  inputHash?: string;
  source: PredictionSource;
  /** Most probable first. */
  topK: TopKEntry[];
  /** Default: topK[0]. */
  predicted?: string;
  confidence?: number;
  embedding?: Float32Array | null;
  latencyMs: number;
  /** The API key's id; default 'anonymous'. */
  caller?: string;
  requestId: string;
}

export type PredictionLogSettings = PredictionLogConfig;

/** What became of an entry offered to the log: the outcomes `loupe_prediction_log_total` counts. */
export type PredictionLogOutcome = 'recorded' | 'sampled_out' | 'dropped';

export interface PredictionLogOptions {
  /** Makes sampling a function of (seed, request id): the same requests are kept on every run. */
  seed?: string | number;
  /** Entries waiting to be written beyond this are dropped (and counted). */
  queueLimit?: number;
  /** Stored inputs waiting to be written beyond this many bytes are dropped (and counted). */
  queueBytesLimit?: number;
  flushEveryMs?: number;
  /** A queue this long is written at once rather than at the next tick; also rows per transaction. */
  batchSize?: number;
  /** How often prune() runs in the background (and whether at start); 0: only when called. */
  pruneEveryMs?: number;
  /** Failures of background writes; the request path never sees them. */
  onError?: (error: Error) => void;
  /** Each entry's fate as it is settled (a batch's at once): for metrics. */
  onOutcome?: (outcome: PredictionLogOutcome, count: number) => void;
}

export interface PredictionLogStats {
  /** Rows written. */
  recorded: number;
  /** Entries lost: the queue was full, the log was closed, or a write failed. */
  dropped: number;
  /** Entries not kept because of `sample`. */
  sampledOut: number;
  /** Entries waiting to be written. */
  pending: number;
  /** Write transactions committed. */
  transactions: number;
}

interface Pending {
  row: Omit<PredictionRow, 'input_hash' | 'input_blob'>;
  inputHash: string | undefined;
  input: Uint8Array | undefined;
  inputBlob: string | null;
}

const MiB = 1024 * 1024;

const iso = (t: Date | string) => (typeof t === 'string' ? new Date(t).toISOString() : t.toISOString());

function embeddingBytes(embedding: Float32Array): Uint8Array {
  // A copy: the caller's array may be a view into a whole batch's output, which would be kept
  // alive (or overwritten) while the entry waits in the queue.
  return new Uint8Array(
    embedding.buffer.slice(embedding.byteOffset, embedding.byteOffset + embedding.byteLength),
  );
}

function embeddingOf(bytes: Uint8Array): Float32Array {
  // Copied into a fresh buffer: SQLite's bytes need not be 4-byte aligned.
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

/**
 * The served-predictions log. record() runs on the request path, so it only samples and
 * queues; a timer hands the queue to the writer thread (PredictionLogWriter) every flushEveryMs
 * (or as soon as batchSize entries wait), one transaction per batch. The queue is bounded: when
 * the database falls behind (another process holds the write lock), new entries are dropped and
 * counted rather than held without limit, because the log is for monitoring and must never take
 * the server down with it.
 */
export class PredictionLog {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private readonly counters = { recorded: 0, dropped: 0, sampledOut: 0, transactions: 0 };
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushSoon = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly background = new Set<Promise<unknown>>();
  private closed = false;
  private readonly writer: PredictionLogWriter;
  private readonly queueLimit: number;
  private readonly queueBytesLimit: number;
  private readonly flushEveryMs: number;
  private readonly batchSize: number;
  private readonly onError: (error: Error) => void;

  /** `dbFile` is the workspace database (Workspace.dbFile), which the writer thread opens. */
  constructor(
    dbFile: string,
    private readonly blobs: BlobStore | undefined,
    private readonly settings: PredictionLogSettings,
    private readonly options: PredictionLogOptions = {},
  ) {
    if (!(settings.sample >= 0 && settings.sample <= 1))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `predictionLog.sample is a fraction 0..1, got ${settings.sample}`,
      );
    if (settings.storeInputs && !blobs)
      throw new LoupeError('INVALID_ARGUMENT', 'predictionLog.storeInputs needs a blob store');
    this.writer = new PredictionLogWriter(dbFile);
    this.queueLimit = options.queueLimit ?? 10_000;
    this.queueBytesLimit = options.queueBytesLimit ?? 256 * MiB;
    this.flushEveryMs = options.flushEveryMs ?? 200;
    this.batchSize = options.batchSize ?? 500;
    this.onError = options.onError ?? ((e) => console.error(`loupe: prediction log: ${e.message}`));
    const pruneEvery = options.pruneEveryMs ?? 3_600_000;
    if (pruneEvery > 0) {
      this.inBackground(this.prune());
      this.pruneTimer = setInterval(() => this.inBackground(this.prune()), pruneEvery);
      this.pruneTimer.unref();
    }
  }

  get stats(): PredictionLogStats {
    return { ...this.counters, pending: this.queue.length };
  }

  private settle(outcome: PredictionLogOutcome, count: number): void {
    if (!count) return;
    if (outcome === 'recorded') this.counters.recorded += count;
    else if (outcome === 'dropped') this.counters.dropped += count;
    else this.counters.sampledOut += count;
    this.options.onOutcome?.(outcome, count);
  }

  /** Whether a request's prediction is kept, deterministic in the request id when seeded. */
  sampled(requestId: string): boolean {
    const { sample } = this.settings;
    if (sample >= 1) return true;
    if (sample <= 0) return false;
    if (this.options.seed === undefined) return Math.random() < sample;
    const digest = createHash('sha256').update(`${this.options.seed}\0${requestId}`).digest();
    return digest.readUIntBE(0, 6) / 2 ** 48 < sample;
  }

  /**
   * Queues an entry; never waits, never throws for the database's sake. False when the entry
   * was sampled out or dropped.
   */
  record(entry: PredictionEntry): boolean {
    // Checked before sampling, so a malformed entry fails in every test, not one run in ten.
    const top = entry.topK[0];
    const predicted = entry.predicted ?? top?.label;
    const confidence = entry.confidence ?? top?.probability;
    if (predicted === undefined || confidence === undefined)
      throw new LoupeError('INVALID_ARGUMENT', 'a prediction needs topK entries or predicted and confidence');
    if (entry.input === undefined && entry.inputHash === undefined)
      throw new LoupeError('INVALID_ARGUMENT', 'a prediction needs its input bytes or inputHash');
    if (!this.sampled(entry.requestId)) {
      this.settle('sampled_out', 1);
      return false;
    }
    const keepInput = this.settings.storeInputs && entry.input !== undefined;
    const bytes = keepInput ? entry.input!.byteLength : 0;
    if (
      this.closed ||
      this.queue.length >= this.queueLimit ||
      this.queuedBytes + bytes > this.queueBytesLimit
    ) {
      this.settle('dropped', 1);
      return false;
    }
    this.queue.push({
      row: {
        at: iso(entry.at ?? new Date()),
        model: entry.model,
        version: entry.version,
        source: entry.source,
        top_k: JSON.stringify(entry.topK.map((t) => ({ label: t.label, probability: t.probability }))),
        predicted,
        confidence,
        embedding: entry.embedding ? embeddingBytes(entry.embedding) : null,
        latency_ms: entry.latencyMs,
        caller: entry.caller ?? 'anonymous',
        request_id: entry.requestId,
      },
      // Without storeInputs only the hash is needed: take it now rather than hold the bytes.
      inputHash: entry.inputHash ?? (keepInput ? undefined : sha256(entry.input!)),
      input: keepInput ? entry.input : undefined,
      inputBlob: null,
    });
    this.queuedBytes += bytes;
    this.schedule();
    return true;
  }

  // Timers are unref'd so an idle log never keeps the process alive; close() writes the rest.
  private schedule(): void {
    if (this.closed) return;
    if (this.queue.length >= this.batchSize && !this.flushSoon) {
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = setTimeout(() => this.backgroundFlush(), 0).unref();
      this.flushSoon = true;
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.backgroundFlush(), this.flushEveryMs).unref();
    }
  }

  private backgroundFlush(): void {
    this.flushTimer = undefined;
    this.flushSoon = false;
    if (this.flushing) return this.scheduleRetry();
    this.inBackground(
      this.run().catch((e: unknown) => {
        // A lock held past the busy timeout is expected now and then: the rows stay queued.
        if (!isBusy(e)) this.onError(e as Error);
        this.scheduleRetry();
      }),
    );
  }

  private scheduleRetry(): void {
    if (this.closed || this.flushTimer || !this.queue.length) return;
    this.flushTimer = setTimeout(() => this.backgroundFlush(), this.flushEveryMs).unref();
  }

  private inBackground(p: Promise<unknown>): void {
    const tracked = p
      .catch((e: unknown) => this.onError(e as Error))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /** One drain at a time. */
  private run(): Promise<void> {
    const task = (this.flushing ?? Promise.resolve()).then(() => this.drain());
    const settled = task.then(
      () => undefined,
      () => undefined,
    );
    this.flushing = settled;
    void settled.then(() => {
      if (this.flushing === settled) this.flushing = undefined;
    });
    return task;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.batchSize);
      for (const p of batch) {
        if (!p.input) continue;
        try {
          p.inputBlob = await this.blobs!.put(p.input);
          p.inputHash = p.inputBlob;
        } catch (e) {
          // The prediction is still worth a row; its input is the part that could not be kept.
          p.inputHash ??= sha256(p.input);
          this.onError(e as Error);
        }
        this.queuedBytes -= p.input.byteLength;
        p.input = undefined;
      }
      try {
        await this.writer.insert(
          batch.map((p) => ({ ...p.row, input_hash: p.inputHash!, input_blob: p.inputBlob })),
        );
      } catch (e) {
        if (isBusy(e)) throw e; // kept queued for the next attempt
        // Not a lock: retrying the same rows would fail the same way and block the queue.
        this.queue.splice(0, batch.length);
        this.settle('dropped', batch.length);
        throw e;
      }
      this.queue.splice(0, batch.length);
      this.settle('recorded', batch.length);
      this.counters.transactions++;
    }
  }

  /** Writes everything queued, waiting for the write lock (up to the busy timeout) if need be. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushSoon = false;
    try {
      await this.run();
    } catch (e) {
      if (isBusy(e))
        throw new LoupeError(
          'CONFLICT',
          'the database stayed locked; predictions are still queued',
          undefined,
          {
            cause: e,
          },
        );
      throw e;
    }
  }

  /** Stops the timers, writes what is queued and waits for background work; record() then drops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    try {
      await this.flush();
    } catch (e) {
      this.settle('dropped', this.queue.length);
      this.queue.length = 0;
      this.queuedBytes = 0;
      throw e;
    } finally {
      await Promise.all([...this.background]);
      await this.writer.close();
    }
  }

  /** Deletes rows older than retentionDays, then the oldest beyond maxRows (prunePredictions). */
  prune(options: { now?: Date } = {}): Promise<{ byAge: number; byCount: number }> {
    return this.writer.prune(this.settings, options.now ?? new Date());
  }
}

/** A logged prediction as the query helpers return it. */
export interface LoggedPrediction {
  id: number;
  at: string;
  model: string;
  version: number;
  inputHash: string;
  inputBlob: string | null;
  source: PredictionSource;
  topK: TopKEntry[];
  predicted: string;
  confidence: number;
  latencyMs: number;
  caller: string;
  requestId: string;
}

/** The latest predictions, newest first; embeddings are left out (see embeddingsSince). */
export async function recent(
  db: Database,
  options: { model?: string; limit: number; since?: Date | string },
): Promise<LoggedPrediction[]> {
  let q = db
    .selectFrom('predictions')
    .select([
      'id',
      'at',
      'model',
      'version',
      'input_hash',
      'input_blob',
      'source',
      'top_k',
      'predicted',
      'confidence',
      'latency_ms',
      'caller',
      'request_id',
    ])
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(options.limit);
  if (options.model !== undefined) q = q.where('model', '=', options.model);
  if (options.since !== undefined) q = q.where('at', '>=', iso(options.since));
  return (await q.execute()).map((r) => ({
    id: r.id,
    at: r.at,
    model: r.model,
    version: r.version,
    inputHash: r.input_hash,
    inputBlob: r.input_blob,
    source: r.source,
    topK: JSON.parse(r.top_k) as TopKEntry[],
    predicted: r.predicted,
    confidence: r.confidence,
    latencyMs: r.latency_ms,
    caller: r.caller,
    requestId: r.request_id,
  }));
}

export interface LoggedEmbedding {
  id: number;
  at: string;
  version: number;
  predicted: string;
  confidence: number;
  embedding: Float32Array;
}

/**
 * The embeddings of a model's predictions at or after `since`: the latest `limit` of them,
 * oldest first. Predictions logged without an embedding are skipped.
 */
export async function embeddingsSince(
  db: Database,
  model: string,
  since: Date | string,
  limit: number,
): Promise<LoggedEmbedding[]> {
  const rows = await db
    .selectFrom('predictions')
    .select(['id', 'at', 'version', 'predicted', 'confidence', 'embedding'])
    .where('model', '=', model)
    .where('at', '>=', iso(since))
    .where('embedding', 'is not', null)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map((r) => ({
    id: r.id,
    at: r.at,
    version: r.version,
    predicted: r.predicted,
    confidence: r.confidence,
    embedding: embeddingOf(r.embedding!),
  }));
}

/** How often each class was predicted for a model at or after `since`, most frequent first. */
export async function classCounts(
  db: Database,
  model: string,
  since: Date | string,
): Promise<{ label: string; count: number }[]> {
  const rows = await db
    .selectFrom('predictions')
    .select(['predicted', (eb) => eb.fn.countAll<number>().as('count')])
    .where('model', '=', model)
    .where('at', '>=', iso(since))
    .groupBy('predicted')
    .orderBy('count', 'desc')
    .orderBy('predicted')
    .execute();
  return rows.map((r) => ({ label: r.predicted, count: Number(r.count) }));
}

import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { LoupeError } from '../errors/loupe-error.js';
import { sha256, type BlobStore } from '../store/blob-store.js';
import type { Database } from '../store/database.js';
import { immediateTransaction } from '../store/immediate-transaction.js';
import type { DatabaseSchema, PredictionSource, PredictionsTable } from '../store/schema.js';
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
  row: Omit<PredictionsTable, 'id' | 'input_hash' | 'input_blob'>;
  inputHash: string | undefined;
  input: Uint8Array | undefined;
  inputBlob: string | null;
}

const MiB = 1024 * 1024;
/** Rows per INSERT: 14 columns each stays far below SQLite's bound-variable limit. */
const ROWS_PER_INSERT = 50;
/** Rows per DELETE transaction when pruning, so a large prune never holds the lock for long. */
const PRUNE_CHUNK = 5000;

const isBusy = (e: unknown) => String((e as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_BUSY');

/**
 * Like immediateTransaction, but gives up at once, instead of waiting the busy timeout, when
 * another connection holds the write lock. better-sqlite3 is synchronous: waiting for a lock
 * blocks the event loop, and with it every request the server is handling. Work that can be
 * retried later (logging, a last-used timestamp) should not pay that.
 */
export async function immediateTransactionNoWait<T>(
  db: Database,
  work: (trx: Kysely<DatabaseSchema>) => Promise<T>,
): Promise<{ busy: true } | { busy: false; value: T }> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn);
    const timeout = Math.max(0, Math.trunc(Number(rows[0]?.timeout ?? 0)));
    await sql`pragma busy_timeout = 0`.execute(conn);
    try {
      await sql`begin immediate`.execute(conn);
    } catch (e) {
      if (isBusy(e)) return { busy: true };
      throw e;
    } finally {
      await sql.raw(`pragma busy_timeout = ${timeout}`).execute(conn);
    }
    try {
      const value = await work(conn);
      await sql`commit`.execute(conn);
      return { busy: false, value };
    } catch (e) {
      await sql`rollback`.execute(conn);
      throw e;
    }
  });
}

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
 * queues; a timer writes the queue in one transaction every flushEveryMs (or as soon as
 * batchSize entries wait). The queue is bounded: when the database falls behind (another
 * process holds the write lock), new entries are dropped and counted rather than held without
 * limit, because the log is for monitoring and must never take the server down with it.
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
  private readonly queueLimit: number;
  private readonly queueBytesLimit: number;
  private readonly flushEveryMs: number;
  private readonly batchSize: number;
  private readonly onError: (error: Error) => void;

  constructor(
    private readonly db: Database,
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
    this.queueLimit = options.queueLimit ?? 10_000;
    this.queueBytesLimit = options.queueBytesLimit ?? 256 * MiB;
    this.flushEveryMs = options.flushEveryMs ?? 200;
    this.batchSize = options.batchSize ?? 500;
    this.onError = options.onError ?? ((e) => console.error(`loupe: prediction log: ${e.message}`));
    const pruneEvery = options.pruneEveryMs ?? 3_600_000;
    if (pruneEvery > 0) {
      this.inBackground(this.pruneInBackground());
      this.pruneTimer = setInterval(() => this.inBackground(this.pruneInBackground()), pruneEvery);
      this.pruneTimer.unref();
    }
  }

  get stats(): PredictionLogStats {
    return { ...this.counters, pending: this.queue.length };
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
      this.counters.sampledOut++;
      return false;
    }
    const keepInput = this.settings.storeInputs && entry.input !== undefined;
    const bytes = keepInput ? entry.input!.byteLength : 0;
    if (
      this.closed ||
      this.queue.length >= this.queueLimit ||
      this.queuedBytes + bytes > this.queueBytesLimit
    ) {
      this.counters.dropped++;
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
      this.run(false).then(
        (busy) => (busy ? this.scheduleRetry() : undefined),
        (e: unknown) => {
          this.onError(e as Error);
          this.scheduleRetry();
        },
      ),
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

  /** One writer at a time; resolves true when it stopped because the database was busy. */
  private run(wait: boolean): Promise<boolean> {
    const task = (this.flushing ?? Promise.resolve()).then(() => this.drain(wait));
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

  private async drain(wait: boolean): Promise<boolean> {
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
      const rows = batch.map((p) => ({ ...p.row, input_hash: p.inputHash!, input_blob: p.inputBlob }));
      const insert = async (trx: Kysely<DatabaseSchema>) => {
        for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
          await trx
            .insertInto('predictions')
            .values(rows.slice(i, i + ROWS_PER_INSERT))
            .execute();
      };
      try {
        if (wait) await immediateTransaction(this.db, insert);
        else if ((await immediateTransactionNoWait(this.db, insert)).busy) return true;
      } catch (e) {
        if (isBusy(e))
          throw new LoupeError('CONFLICT', 'the database stayed locked; predictions are still queued');
        // Not a lock: retrying the same rows would fail the same way and block the queue.
        this.queue.splice(0, batch.length);
        this.counters.dropped += batch.length;
        throw e;
      }
      this.queue.splice(0, batch.length);
      this.counters.recorded += batch.length;
      this.counters.transactions++;
    }
    return false;
  }

  /** Writes everything queued, waiting for the write lock (up to the busy timeout) if need be. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushSoon = false;
    await this.run(true);
  }

  /** Stops the timers, writes what is queued and waits for background work; record() then drops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    try {
      await this.flush();
    } catch (e) {
      this.counters.dropped += this.queue.length;
      this.queue.length = 0;
      this.queuedBytes = 0;
      throw e;
    } finally {
      await Promise.all([...this.background]);
    }
  }

  private async pruneInBackground(): Promise<void> {
    await this.prune({ wait: false });
  }

  /**
   * Deletes rows older than retentionDays, then the oldest rows beyond maxRows. Deletes run in
   * chunks, each its own transaction, so other writers get the lock in between. Stored input
   * blobs stay: the blob store is shared (a dataset may hold the same image), so removing them
   * is for a store-wide garbage collection, not for the log.
   */
  async prune(options: { now?: Date; wait?: boolean } = {}): Promise<{ byAge: number; byCount: number }> {
    const wait = options.wait ?? true;
    const cutoff = new Date(
      (options.now ?? new Date()).getTime() - this.settings.retentionDays * 86_400_000,
    ).toISOString();
    const deleteChunks = async (chunk: (trx: Kysely<DatabaseSchema>) => Promise<number>): Promise<number> => {
      let total = 0;
      for (;;) {
        let n: number;
        if (wait) n = await immediateTransaction(this.db, chunk);
        else {
          const r = await immediateTransactionNoWait(this.db, chunk);
          if (r.busy) return total;
          n = r.value;
        }
        total += n;
        if (n < PRUNE_CHUNK) return total;
      }
    };
    const byAge = await deleteChunks(async (trx) => {
      const r = await trx
        .deleteFrom('predictions')
        .where('id', 'in', (eb) =>
          eb.selectFrom('predictions').select('id').where('at', '<', cutoff).limit(PRUNE_CHUNK),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    });
    // Rows are inserted in time order, so the id order is the age order and needs no sort on `at`.
    const keepFrom = await this.db
      .selectFrom('predictions')
      .select('id')
      .orderBy('id', 'desc')
      .limit(1)
      .offset(this.settings.maxRows - 1)
      .executeTakeFirst();
    const byCount = keepFrom
      ? await deleteChunks(async (trx) => {
          const r = await trx
            .deleteFrom('predictions')
            .where('id', 'in', (eb) =>
              eb
                .selectFrom('predictions')
                .select('id')
                .where('id', '<', keepFrom.id)
                .orderBy('id')
                .limit(PRUNE_CHUNK),
            )
            .executeTakeFirst();
          return Number(r.numDeletedRows);
        })
      : 0;
    return { byAge, byCount };
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

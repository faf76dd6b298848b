import BetterSqlite3 from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  PredictionLog,
  classCounts,
  embeddingsSince,
  recent,
  type PredictionEntry,
  type PredictionLogOptions,
  type PredictionLogSettings,
} from '../src/serve/prediction-log.js';
import { serveConfigSchema } from '../src/serve/serve-config.js';
import { sha256 } from '../src/store/blob-store.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-predlog-'))));
after(() => rm(dir, { recursive: true, force: true }));

/** A fresh workspace per test, so row counts are the test's own. */
let ws: Workspace;
let n = 0;
const logs: PredictionLog[] = [];
beforeEach(async () => {
  const root = path.join(dir, `ws${n++}`);
  await initWorkspace(root);
  ws = await openWorkspace({ workspace: root, env: {} });
});
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  await ws.close();
});

const defaults = serveConfigSchema.parse({}).predictionLog;
function openLog(settings: Partial<PredictionLogSettings> = {}, options: PredictionLogOptions = {}) {
  const log = new PredictionLog(
    ws.dbFile,
    ws.blobs,
    { ...defaults, ...settings },
    { pruneEveryMs: 0, ...options },
  );
  logs.push(log);
  return log;
}

const bytesOf = (i: number) => new TextEncoder().encode(`image ${i}`);
function entry(i: number, over: Partial<PredictionEntry> = {}): PredictionEntry {
  return {
    model: 'birds',
    version: 1,
    input: bytesOf(i),
    source: 'upload',
    topK: [
      { label: i % 3 === 0 ? 'robin' : 'wren', probability: 0.8 },
      { label: 'crow', probability: 0.15 },
    ],
    latencyMs: 4.5,
    requestId: `req-${i}`,
    ...over,
  };
}

const rowCount = async () =>
  Number(
    (
      await ws.db
        .selectFrom('predictions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

describe('prediction log', () => {
  it('writes many records in a few transactions, off the request path', async () => {
    const log = openLog({}, { flushEveryMs: 50 });
    for (let i = 0; i < 1200; i++) assert.equal(log.record(entry(i)), true);
    assert.equal(await rowCount(), 0, 'record() wrote synchronously');
    assert.equal(log.stats.pending, 1200);
    await until(() => log.stats.pending === 0);
    assert.equal(log.stats.recorded, 1200);
    assert.ok(log.stats.transactions <= 3, `${log.stats.transactions} transactions for 1200 rows`);
    assert.equal(await rowCount(), 1200);

    // A trickle is written by the timer, a few at a time, without anyone calling flush().
    const before = log.stats.transactions;
    for (let i = 0; i < 3; i++) log.record(entry(5000 + i));
    await until(() => log.stats.recorded === 1203);
    assert.equal(log.stats.transactions, before + 1);

    const [row] = await recent(ws.db, { model: 'birds', limit: 1 });
    assert.deepEqual(
      { ...row!, id: 0, at: '' },
      {
        id: 0,
        at: '',
        model: 'birds',
        version: 1,
        inputHash: sha256(bytesOf(5002)),
        inputBlob: null,
        source: 'upload',
        topK: [
          { label: 'wren', probability: 0.8 },
          { label: 'crow', probability: 0.15 },
        ],
        predicted: 'wren',
        confidence: 0.8,
        latencyMs: 4.5,
        caller: 'anonymous',
        requestId: 'req-5002',
      },
    );
  });

  it('samples the configured fraction, deterministically per request id when seeded', async () => {
    const N = 10_000;
    const seeded = openLog({ sample: 0.3 }, { seed: 7 });
    const kept = new Set<string>();
    for (let i = 0; i < N; i++) if (seeded.record(entry(i))) kept.add(`req-${i}`);
    assert.ok(Math.abs(kept.size / N - 0.3) < 0.02, `kept ${kept.size} of ${N}`);
    assert.equal(seeded.stats.sampledOut, N - kept.size);
    await seeded.flush();
    assert.equal(await rowCount(), kept.size);

    const again = openLog({ sample: 0.3 }, { seed: 7 });
    const otherSeed = openLog({ sample: 0.3 }, { seed: 8 });
    const ids = Array.from({ length: N }, (_, i) => `req-${i}`);
    assert.deepEqual(
      new Set(ids.filter((id) => again.sampled(id))),
      kept,
      'the same seed keeps the same requests',
    );
    const other = ids.filter((id) => otherSeed.sampled(id));
    assert.ok(Math.abs(other.length / N - 0.3) < 0.02);
    assert.ok(
      other.filter((id) => kept.has(id)).length < other.length * 0.5,
      'another seed keeps other requests',
    );

    const unseeded = openLog({ sample: 0.3 });
    const count = ids.filter((id) => unseeded.sampled(id)).length;
    assert.ok(Math.abs(count / N - 0.3) < 0.03, `unseeded kept ${count} of ${N}`);
    assert.equal(openLog({ sample: 0 }).record(entry(1)), false);
    assert.equal(
      ids.every((id) => openLog({ sample: 1 }, { seed: 1 }).sampled(id)),
      true,
    );
  });

  it('stores inputs in the blob store only when asked to', async () => {
    const storing = openLog({ storeInputs: true });
    const image = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);
    storing.record(entry(1, { input: image, requestId: 'stored' }));
    await storing.flush();
    const stored = await ws.db
      .selectFrom('predictions')
      .selectAll()
      .where('request_id', '=', 'stored')
      .executeTakeFirstOrThrow();
    assert.equal(stored.input_hash, sha256(image));
    assert.equal(stored.input_blob, sha256(image));
    assert.deepEqual(Buffer.from(await ws.blobs.get(stored.input_blob)), Buffer.from(image));

    const plain = openLog({ storeInputs: false });
    const other = new Uint8Array([9, 9, 9]);
    plain.record(entry(2, { input: other, requestId: 'not-stored' }));
    plain.record(entry(3, { input: undefined, inputHash: 'ab'.repeat(32), requestId: 'hash-only' }));
    await plain.flush();
    const rows = await recent(ws.db, { limit: 10 });
    const byId = new Map(rows.map((r) => [r.requestId, r]));
    assert.equal(byId.get('not-stored')!.inputHash, sha256(other));
    assert.equal(byId.get('not-stored')!.inputBlob, null);
    assert.equal(await ws.blobs.has(sha256(other)), false);
    assert.equal(byId.get('hash-only')!.inputHash, 'ab'.repeat(32));

    assert.throws(
      () => new PredictionLog(ws.dbFile, undefined, { ...defaults, storeInputs: true }),
      /needs a blob store/,
    );
    assert.throws(() => plain.record(entry(4, { input: undefined })), /input bytes or inputHash/);
  });

  it('round-trips embeddings, also from views into a larger buffer', async () => {
    const log = openLog();
    const batchOutput = new Float32Array(3 * 4).map((_, i) => i * 0.25 - 1.1);
    const vectors = [0, 1, 2].map((k) => batchOutput.subarray(k * 4, k * 4 + 4));
    const t0 = Date.parse('2031-05-01T00:00:00Z');
    vectors.forEach((v, k) =>
      log.record(entry(k, { embedding: v, at: new Date(t0 + k * 1000), requestId: `e${k}` })),
    );
    log.record(entry(9, { embedding: null, at: new Date(t0 + 500), requestId: 'no-embedding' }));
    log.record(entry(10, { model: 'other', embedding: vectors[0], at: new Date(t0) }));
    batchOutput.fill(0); // the caller reuses its buffer; the queued copies must not change
    await log.close();

    const all = await embeddingsSince(ws.db, 'birds', new Date(t0), 100);
    assert.equal(all.length, 3);
    all.forEach((e, k) => {
      assert.ok(e.embedding instanceof Float32Array);
      assert.deepEqual(
        Array.from(e.embedding),
        Array.from({ length: 4 }, (_, i) => Math.fround((k * 4 + i) * 0.25 - 1.1)),
      );
    });
    assert.deepEqual(
      all.map((e) => e.at),
      [0, 1, 2].map((k) => new Date(t0 + k * 1000).toISOString()),
      'oldest first',
    );
    const latest = await embeddingsSince(ws.db, 'birds', new Date(t0).toISOString(), 2);
    assert.deepEqual(
      latest.map((e) => e.at),
      [1, 2].map((k) => new Date(t0 + k * 1000).toISOString()),
      'the latest `limit`',
    );
    assert.equal((await embeddingsSince(ws.db, 'birds', new Date(t0 + 1500), 10)).length, 1);
    assert.equal((await embeddingsSince(ws.db, 'other', new Date(t0), 10)).length, 1);
  });

  it('counts predicted classes per model since a time, and lists recent predictions', async () => {
    const log = openLog();
    const t0 = Date.parse('2031-06-01T00:00:00Z');
    for (let i = 0; i < 30; i++) log.record(entry(i, { at: new Date(t0 + i * 60_000), caller: 'k1' }));
    log.record(entry(99, { model: 'other', at: new Date(t0) }));
    await log.flush();
    assert.deepEqual(await classCounts(ws.db, 'birds', new Date(t0)), [
      { label: 'wren', count: 20 },
      { label: 'robin', count: 10 },
    ]);
    assert.deepEqual(await classCounts(ws.db, 'birds', new Date(t0 + 27 * 60_000)), [
      { label: 'wren', count: 2 },
      { label: 'robin', count: 1 },
    ]);
    const latest = await recent(ws.db, { model: 'birds', limit: 5 });
    assert.deepEqual(
      latest.map((r) => r.requestId),
      ['req-29', 'req-28', 'req-27', 'req-26', 'req-25'],
    );
    assert.equal(latest[0]!.caller, 'k1');
    assert.equal((await recent(ws.db, { limit: 100, since: new Date(t0 + 28 * 60_000) })).length, 2);
    assert.equal((await recent(ws.db, { limit: 100 })).length, 31);
  });

  it('prunes rows older than retentionDays, then the oldest beyond maxRows', async () => {
    const now = new Date('2032-01-31T00:00:00Z');
    const day = 86_400_000;
    const log = openLog({ retentionDays: 30, maxRows: 10 });
    for (let i = 0; i < 5; i++) log.record(entry(i, { at: new Date(now.getTime() - (40 + i) * day) }));
    for (let i = 5; i < 25; i++) log.record(entry(i, { at: new Date(now.getTime() - (25 - i) * 3_600_000) }));
    await log.flush();
    assert.equal(await rowCount(), 25);
    assert.deepEqual(await log.prune({ now }), { byAge: 5, byCount: 10 });
    const left = await recent(ws.db, { limit: 100 });
    assert.deepEqual(
      left.map((r) => r.requestId),
      Array.from({ length: 10 }, (_, k) => `req-${24 - k}`),
      'the newest ten stay',
    );
    assert.deepEqual(await log.prune({ now }), { byAge: 0, byCount: 0 });
  });

  it('prunes on start when asked to', async () => {
    const old = openLog();
    old.record(entry(1, { at: '2000-01-01T00:00:00Z' }));
    old.record(entry(2));
    await old.close();
    const log = openLog({ retentionDays: 30 }, { pruneEveryMs: 60_000 });
    await log.close();
    assert.equal(await rowCount(), 1);
  });

  it('drops and counts entries, without blocking, while another process holds the write lock', async () => {
    const log = openLog({}, { queueLimit: 50, flushEveryMs: 20 });
    const lock = new BetterSqlite3(path.join(ws.root, '.loupe', 'loupe.db'));
    lock.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      for (let i = 0; i < 80; i++) log.record(entry(i));
      assert.deepEqual(
        { ...log.stats },
        { recorded: 0, dropped: 30, sampledOut: 0, pending: 50, transactions: 0 },
      );

      // Several flush attempts fail on the lock meanwhile; none may wait out the busy timeout
      // (5 s), which would freeze the event loop.
      const started = Date.now();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      await sleep(300);
      clearInterval(ticker);
      assert.ok(Date.now() - started < 1500, `the event loop stalled for ${Date.now() - started} ms`);
      assert.ok(ticks >= 10, `only ${ticks} timer ticks in 300 ms`);
      assert.equal(log.record(entry(100)), false);
      assert.equal(log.stats.dropped, 31);
      assert.equal(log.stats.pending, 50);
      assert.equal(await rowCount(), 0);

      lock.exec('COMMIT');
      released = true;
      await until(() => log.stats.pending === 0);
      assert.equal(log.stats.recorded, 50);
      assert.equal(await rowCount(), 50);
      assert.equal(log.record(entry(101)), true, 'the queue takes entries again');
    } finally {
      if (!released) lock.exec('ROLLBACK');
      lock.close();
    }
  });

  it('waits out a lock in its writer thread: flush() resolves after the release, timers keep running', async () => {
    const log = openLog({}, { flushEveryMs: 60_000 });
    for (let i = 0; i < 20; i++) log.record(entry(i));
    const lock = new BetterSqlite3(path.join(ws.root, '.loupe', 'loupe.db'));
    lock.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const flushed = log.flush();
      await sleep(400);
      assert.equal(log.stats.pending, 20, 'nothing is written while the lock is held');
      // An in-thread write would freeze the event loop for the whole wait.
      assert.ok(ticks >= 15, `only ${ticks} timer ticks in 400 ms`);
      lock.exec('COMMIT');
      await flushed;
      assert.equal(await rowCount(), 20);
    } finally {
      clearInterval(ticker);
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
    }
  });

  it('reports each outcome once, exactly: recorded, sampled out, dropped', async () => {
    const seen = { recorded: 0, sampled_out: 0, dropped: 0 };
    const log = openLog(
      { sample: 0.5 },
      { seed: 3, queueLimit: 100, flushEveryMs: 60_000, onOutcome: (o, n) => (seen[o] += n) },
    );
    for (let i = 0; i < 400; i++) log.record(entry(i));
    await log.close();
    const { recorded, sampledOut, dropped } = log.stats;
    assert.deepEqual(seen, { recorded, sampled_out: sampledOut, dropped });
    assert.equal(recorded, 100);
    assert.equal(recorded + sampledOut + dropped, 400);
    assert.ok(sampledOut > 150 && sampledOut < 250, `${sampledOut} sampled out`);
    assert.equal(await rowCount(), 100);
  });

  it('counts a batch as dropped, with the reason, when the database cannot be opened', async () => {
    const errors: Error[] = [];
    let dropped = 0;
    const log = new PredictionLog(dir, undefined, defaults, {
      pruneEveryMs: 0,
      flushEveryMs: 60_000,
      onError: (e) => errors.push(e),
      onOutcome: (o, n) => (dropped += o === 'dropped' ? n : 0),
    });
    logs.push(log);
    for (let i = 0; i < 3; i++) log.record(entry(i));
    await assert.rejects(log.flush(), /cannot open the database/);
    assert.equal(log.stats.dropped, 3);
    assert.equal(dropped, 3);
    assert.equal(log.stats.pending, 0, 'a failing batch does not block the queue');
  });

  it('bounds the bytes of queued inputs too', async () => {
    const log = openLog({ storeInputs: true }, { queueBytesLimit: 1000, flushEveryMs: 60_000 });
    const big = new Uint8Array(400);
    assert.equal(log.record(entry(1, { input: big.fill(1) })), true);
    assert.equal(log.record(entry(2, { input: new Uint8Array(400).fill(2) })), true);
    assert.equal(log.record(entry(3, { input: new Uint8Array(400).fill(3) })), false);
    assert.equal(log.stats.dropped, 1);
    await log.flush();
    assert.equal(
      log.record(entry(4, { input: new Uint8Array(400).fill(4) })),
      true,
      'written bytes are released',
    );
  });

  it('close() writes what is queued, and later records are dropped', async () => {
    const log = openLog({}, { flushEveryMs: 60_000 });
    for (let i = 0; i < 7; i++) log.record(entry(i));
    assert.equal(await rowCount(), 0);
    await log.close();
    assert.equal(await rowCount(), 7);
    assert.equal(log.stats.recorded, 7);
    assert.equal(log.record(entry(8)), false);
    assert.equal(log.stats.dropped, 1);
    await log.close();
  });
});

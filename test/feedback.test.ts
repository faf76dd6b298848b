import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { addFeedbackToDataset } from '../src/monitor/feedback/feedback-dataset.js';
import { MISSING_BYTES, pendingDecisions } from '../src/monitor/feedback/feedback-source.js';
import {
  listFeedback,
  markConsumed,
  pendingFeedback,
  recordFeedback,
  type FeedbackInput,
} from '../src/monitor/feedback/feedback-store.js';
import { sha256 } from '../src/store/blob-store.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { sampleImages } from './helpers/retrain-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

const decision = (over: Partial<FeedbackInput>): FeedbackInput => ({
  actor: 'ana@example.org',
  channel: 'review',
  action: 'correct',
  model: 'fm',
  inputHash: 'a'.repeat(64),
  label: 'Bag',
  ...over,
});

describe('feedback store', () => {
  let dir: string;
  let ws: Workspace;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-feedback-'));
    await initWorkspace(dir);
    ws = await openWorkspace({ workspace: dir, env: {} });
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a labelled decision without a label, and a segment that ends before it starts', async () => {
    for (const action of ['accept', 'correct'] as const)
      await assert.rejects(
        recordFeedback(ws.db, decision({ action, label: null })),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT') && e.message.includes(`"${action}" needs a label`),
      );
    await assert.rejects(
      recordFeedback(ws.db, decision({ media: 'audio', segment: { start: 2, end: 1 } })),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /end after it starts/.test(e.message),
    );
    const id = await recordFeedback(ws.db, decision({ action: 'skip', label: 'Bag', model: 'other' }));
    const [skip] = await listFeedback(ws.db, { model: 'other' });
    assert.equal(skip!.id, id);
    assert.equal(skip!.label, null, 'a skip keeps no label');
  });

  it('pending: the latest decision per input (and segment) counts; a delete withdraws it; skips never count', async () => {
    const m = 'pending-model';
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const h = (c: string) => c.repeat(64);
    await recordFeedback(ws.db, decision({ model: m, at: at(1), inputHash: h('1'), label: 'Bag' }));
    await recordFeedback(ws.db, decision({ model: m, at: at(2), inputHash: h('1'), label: 'Coat' }));
    await recordFeedback(ws.db, decision({ model: m, at: at(3), inputHash: h('2'), action: 'accept' }));
    await recordFeedback(
      ws.db,
      decision({ model: m, at: at(4), inputHash: h('2'), action: 'delete', label: null }),
    );
    await recordFeedback(
      ws.db,
      decision({ model: m, at: at(5), inputHash: h('3'), action: 'skip', label: null }),
    );
    const seg = (start: number) => ({ media: 'audio' as const, segment: { start, end: start + 1 } });
    await recordFeedback(ws.db, decision({ model: m, inputHash: h('4'), label: 'click', ...seg(0) }));
    await recordFeedback(ws.db, decision({ model: m, inputHash: h('4'), label: 'hum', ...seg(1) }));
    await recordFeedback(ws.db, decision({ model: 'elsewhere', inputHash: h('5') }));
    const pending = await pendingFeedback(ws.db, { model: m });
    assert.deepEqual(
      pending.map((p) => [p.inputHash[0], p.label, p.segment?.start ?? null]),
      [
        ['1', 'Coat', null],
        ['4', 'click', 0],
        ['4', 'hum', 1],
      ],
    );
  });

  it('markConsumed takes decisions out of pending, in chunks past SQLite’s parameter limit', async () => {
    const m = 'many';
    const ids: number[] = [];
    for (let i = 0; i < 1200; i++)
      ids.push(
        await recordFeedback(ws.db, decision({ model: m, inputHash: i.toString(16).padStart(64, '0') })),
      );
    assert.equal((await pendingFeedback(ws.db, { model: m })).length, 1200);
    await markConsumed(ws.db, ids.slice(0, 1100), 'f'.repeat(64));
    const left = await pendingFeedback(ws.db, { model: m });
    assert.deepEqual(
      left.map((r) => r.id),
      ids.slice(1100),
    );
    const consumed = await listFeedback(ws.db, { model: m, limit: 1, beforeId: ids[1100] });
    assert.equal(consumed[0]!.datasetVersion, 'f'.repeat(64));
  });

  it('lists newest first, filtered by model, actor and input, a page before an id', async () => {
    const m = 'listed';
    const ids = [];
    for (const actor of ['a', 'b', 'a'])
      ids.push(await recordFeedback(ws.db, decision({ model: m, actor, inputHash: `${actor}`.repeat(64) })));
    assert.deepEqual(
      (await listFeedback(ws.db, { model: m })).map((r) => r.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      (await listFeedback(ws.db, { model: m, actor: 'a' })).map((r) => r.id),
      [ids[2], ids[0]],
    );
    assert.deepEqual(
      (await listFeedback(ws.db, { model: m, beforeId: ids[2], limit: 1 })).map((r) => r.id),
      [ids[1]],
    );
    assert.equal((await listFeedback(ws.db, { inputHash: 'b'.repeat(64) }))[0]!.id, ids[1]);
  });
});

describe('feedback into a dataset version', () => {
  let ws: Workspace;
  before(async () => {
    ({ ws } = await trainingWorkspace({ classes: 3, perClass: 20 }));
  });
  after(async () => ws.close());

  it('adds new inputs, relabels items already in the dataset, keeps their splits, and marks what it took', async () => {
    const [base] = await listVersions(ws.db, 'fm');
    const items = await readVersionItems(ws, base!);
    const classes = [...new Set(items.map((i) => i.label))].sort();
    // A train item and a test item whose label people correct, and one they confirm.
    const trainItem = items.find((i) => i.split === 'train')!;
    const testItem = items.find((i) => i.split === 'test')!;
    const confirmed = items.find((i) => i.split === 'val')!;
    const other = (label: string) => classes.find((c) => c !== label)!;
    const put = async (bytes: Uint8Array) => ws.blobs.put(bytes);
    const record = (o: Partial<FeedbackInput>) => recordFeedback(ws.db, decision({ model: 'fm', ...o }));
    await record({ inputHash: trainItem.blob, inputBlob: trainItem.blob, label: other(trainItem.label) });
    await record({ inputHash: testItem.blob, inputBlob: testItem.blob, label: other(testItem.label) });
    await record({ inputHash: confirmed.blob, action: 'accept', label: confirmed.label });
    // New photos of the first class, decided by the API (bytes stored by the prediction log).
    const fresh = await sampleImages(classes[0]!, 4);
    for (const bytes of fresh)
      await record({ channel: 'api', inputHash: await put(bytes), label: classes[0] });
    // Bytes that are no image, stored: validation refuses them.
    const junk = randomBytes(300);
    await record({ inputHash: await put(junk), label: classes[1] });
    // Never stored: pending, but cannot become an item.
    const missing = sha256(randomBytes(50));
    await record({ inputHash: missing, label: classes[1] });

    const pending = await pendingDecisions(ws, 'fm');
    assert.equal(pending.usable.length, 8);
    assert.deepEqual(
      pending.unusable.map((u) => [u.record.inputHash, u.reason]),
      [[missing, MISSING_BYTES]],
    );

    const added = await addFeedbackToDataset(ws, 'fm', pending.usable, { model: 'fm' });
    assert.ok(added.ingest?.created, 'a new version');
    assert.equal(added.ingest.parent, base!.id);
    assert.deepEqual(added.ingest.items.relabelled, 2);
    assert.equal(added.ingest.items.alreadyPresent, 1, 'the accepted item was there with that label');
    assert.equal(added.ingest.validation?.checks.notImage.found, 1, 'the junk was refused by validation');
    const after = new Map((await readVersionItems(ws, added.version)).map((i) => [i.id, i]));
    assert.equal(after.get(trainItem.id)?.label, other(trainItem.label));
    assert.equal(after.get(trainItem.id)?.split, 'train', 'a relabelled item keeps its split');
    assert.equal(after.get(testItem.id)?.label, other(testItem.label));
    assert.equal(after.get(testItem.id)?.split, 'test');
    assert.equal(after.get(confirmed.id)?.label, confirmed.label);
    const freshIds = fresh.map((b) => sha256(b));
    const kept = freshIds.filter((id) => after.has(id));
    assert.ok(
      kept.length >= 3,
      `new photos became items (${kept.length} of 4; a near duplicate may be dropped)`,
    );
    for (const id of kept) {
      assert.equal(after.get(id)!.label, classes[0]);
      assert.match(
        String(after.get(id)!.meta?.feedback),
        /^\d+$/,
        'the item names the decision it came from',
      );
      assert.ok(['train', 'val', 'test'].includes(after.get(id)!.split));
    }
    assert.ok(!after.has(sha256(junk)));
    assert.equal(after.size, items.length + kept.length);

    // Every offered decision now names the version; the one without bytes stays pending.
    const all = await listFeedback(ws.db, { model: 'fm' });
    for (const f of all)
      assert.equal(f.datasetVersion, f.inputHash === missing ? null : added.version.id, `decision ${f.id}`);
    assert.equal((await pendingDecisions(ws, 'fm')).usable.length, 0);
  });

  it('is idempotent: decisions re-offered after a crash give the same version, which is not created again', async () => {
    const [latest] = await listVersions(ws.db, 'fm');
    const [img] = await sampleImages('Ankle_boot', 1, 10);
    const hash = await ws.blobs.put(img!);
    const id = await recordFeedback(ws.db, decision({ model: 'fm', inputHash: hash, label: 'Ankle_boot' }));
    const decisions = (await pendingDecisions(ws, 'fm')).usable;
    const first = await addFeedbackToDataset(ws, 'fm', decisions, { model: 'fm' });
    assert.notEqual(first.version.id, latest!.id);
    // As if the process died between the ingest and markConsumed.
    await ws.db.updateTable('feedback').set({ dataset_version: null }).where('id', '=', id).execute();
    const again = await addFeedbackToDataset(ws, 'fm', (await pendingDecisions(ws, 'fm')).usable, {
      model: 'fm',
    });
    assert.equal(again.version.id, first.version.id);
    assert.equal(again.ingest?.created, false);
    assert.deepEqual(again.consumed, [id]);
    assert.equal((await listFeedback(ws.db, { inputHash: hash }))[0]!.datasetVersion, first.version.id);
  });

  it('with nothing pending, the dataset’s latest version is the answer and nothing is written', async () => {
    const before = await listVersions(ws.db, 'fm');
    const r = await addFeedbackToDataset(ws, 'fm', [], { model: 'fm' });
    assert.equal(r.version.id, before[0]!.id);
    assert.equal(r.ingest, undefined);
    assert.equal((await listVersions(ws.db, 'fm')).length, before.length);
  });

  it('an audio decision without a segment cannot become an item', async () => {
    const hash = await ws.blobs.put(randomBytes(64));
    await recordFeedback(ws.db, decision({ model: 'fm', media: 'audio', inputHash: hash, label: 'x' }));
    const p = await pendingDecisions(ws, 'fm');
    assert.deepEqual(
      p.unusable.filter((u) => u.record.inputHash === hash).map((u) => u.reason),
      ['audio decision without a segment'],
    );
    assert.ok(!p.usable.some((u) => u.inputHash === hash));
  });
});

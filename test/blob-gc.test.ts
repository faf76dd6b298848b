import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import sharp from 'sharp';
import { downloadAll } from '../src/data/download/download-all.js';
import { readVersionItems } from '../src/data/versions/version-store.js';
import { isLoupeError, LoupeError } from '../src/errors/loupe-error.js';
import { runDriftCheck } from '../src/monitor/drift/drift-check.js';
import { pendingDecisions } from '../src/monitor/feedback/feedback-source.js';
import { recordFeedback } from '../src/monitor/feedback/feedback-store.js';
import { readModelFile } from '../src/registry/model-files.js';
import { registerRun } from '../src/registry/register-model.js';
import { getVersion, moveAlias } from '../src/registry/registry-store.js';
import { sha256, type BlobStore, type FsBlobStore } from '../src/store/blob-store.js';
import { collectGarbage, type GcReport } from '../src/store/gc/collect-garbage.js';
import type { DatabaseSchema } from '../src/store/schema.js';
import { createUser } from '../src/web/accounts/user-store.js';
import { refreshCandidates } from '../src/web/review/review-candidates.js';
import { trainModel } from '../src/train/train-run.js';
import { webConfigSchema } from '../src/web/web-config.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { AUDIO_SAMPLES, burstsTrainConfig, ingestBursts } from './helpers/audio-model-fixture.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { sampleImages } from './helpers/retrain-fixture.js';
import { runLoupe } from './helpers/run-cli.js';
import { json, LocalSites, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';
import { WebClient } from './helpers/web-e2e.js';
import { zipEntries } from './helpers/zip-entries.js';

/**
 * `loupe gc` over a workspace holding every kind of blob reference, each made by the code path
 * that makes it in use: ingested images and recordings (manifests and their items), a trained and
 * registered model (its files), the URL download cache, predictions with stored inputs, API
 * feedback, an organiser upload, an annotator recording and its spectrogram, a drift reference
 * and review candidates. Every file in the store is then dated three days back, so nothing but a
 * reference keeps a blob: a reference kind gc forgot would lose its blob, and the checks after the
 * sweep (each reference used the way its feature uses it) would fail.
 */

const DAY = 86_400_000;
const OLD = new Date(Date.now() - 3 * DAY);
const PASSWORD = 'correct horse battery';
const ANNOTATOR = 'ann@example.org';
const GRACE = { graceMs: DAY };

/** Every file under the blob store: path relative to its root → size. */
async function storeFiles(root: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true }))
    if (e.isFile()) {
      const file = path.join(e.parentPath, e.name);
      files.set(path.relative(root, file), (await stat(file)).size);
    }
  return files;
}

async function backdate(root: string): Promise<void> {
  for (const file of (await storeFiles(root)).keys()) await utimes(path.join(root, file), OLD, OLD);
}

/** A blob nobody references, written `at` (old by default). */
async function orphan(ws: Workspace, bytes = randomBytes(1000), at = OLD): Promise<string> {
  const hash = await ws.blobs.put(bytes);
  await utimes(ws.blobs.pathOf(hash), at, at);
  return hash;
}

/**
 * Every 64-hex-digit string anywhere in the database's text columns (JSON included) that names a
 * blob present now: an oracle independent of gc's own list of reference columns.
 */
async function blobsNamedAnywhere(ws: Workspace): Promise<Set<string>> {
  const named = new Set<string>();
  for (const table of await ws.db.introspection.getTables())
    for (const c of table.columns.filter((c) => c.dataType === 'TEXT')) {
      const { rows } = await sql<{
        v: string | null;
      }>`select ${sql.ref(c.name)} as v from ${sql.table(table.name)}`.execute(ws.db);
      for (const { v } of rows)
        for (const [hash] of (v ?? '').matchAll(/[0-9a-f]{64}/g))
          if (await ws.blobs.has(hash)) named.add(hash);
    }
  return named;
}

const tally = (files: number, bytes: number) => ({ files, bytes });

/** Classifies an image with model fm through the REST API; returns the request's id. */
async function predictOn(url: string, image: Buffer): Promise<string> {
  const res = await fetch(`${url}/v1/models/fm/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(image),
  });
  await json(res);
  return res.headers.get('x-request-id')!;
}

async function rowCount(ws: Workspace, table: keyof DatabaseSchema): Promise<number> {
  const row = await ws.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('loupe gc', () => {
  let dir: string;
  let ws: Workspace;
  let root: string;
  let server: RunningServer;
  let sites: LocalSites;
  let annotator: WebClient;
  let organised: Buffer;
  let decided: Buffer;
  let predicted: Buffer[];
  /** An image no server stores and nothing else holds. */
  let unseen: Buffer;
  let classes: string[];
  let downloadUrl: string;
  let recordingId: number;
  /** The files the dry run planted that gc must remove, relative to the store's root. */
  const plantedOld: string[] = [];
  /** And those it must keep (recent, or not the store's). */
  const plantedKept: string[] = [];

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({ classes: 4, perClass: 20 }));
    root = (ws.blobs as FsBlobStore).root;
    const { versions } = await trainAndRegister(ws, [{ epochs: 1 }]);
    await moveAlias(ws.db, {
      model: 'fm',
      alias: 'champion',
      version: versions[0]!.version,
      reason: 'gc test',
    });
    // An audio model only needs to exist here: two epochs instead of the fixture's fifteen.
    await ingestBursts(ws);
    const audioRun = await trainModel(ws, { config: burstsTrainConfig({ data: 'bursts', epochs: 2 }) });
    await registerRun(ws, audioRun.runId, { name: 'bursts', reason: 'gc test' });
    classes = versions[0]!.classes;
    unseen = (await sampleImages(classes[2]!, 1, 0))[0]!;

    // The URL download cache: an image no dataset holds.
    sites = await LocalSites.start(['127.0.0.1']);
    const png = await sharp({ create: { width: 9, height: 7, channels: 3, background: '#123456' } })
      .png()
      .toBuffer();
    sites.file('/bird.png', png, 'image/png');
    downloadUrl = sites.url('127.0.0.1', '/bird.png');
    const fetched = await downloadAll([downloadUrl], { blobs: ws.blobs, db: ws.db, ratePerHost: Infinity });
    assert.equal(fetched.counts.ok, 1);

    // A server that keeps no inputs: an organiser upload, a recording, and API feedback that
    // sends the image the server did not keep.
    await createUser(ws.db, { email: ANNOTATOR, password: PASSWORD, role: 'annotator' });
    const web = webConfigSchema.parse({ organiser: { model: 'fm' } });
    let plain: RunningServer | undefined = await startServer(ws, {}, { web });
    try {
      annotator = await WebClient.start(plain.url, { email: ANNOTATOR, password: PASSWORD });
      organised = (await sampleImages(classes[0]!, 1, 0))[0]!;
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(organised)], { type: 'image/png' }), 'shirt.png');
      const up = await json<{ results: { image?: unknown }[] }>(
        await annotator.request('/api/organiser/images', { method: 'POST', body: form }),
      );
      assert.ok(up.results[0]!.image, JSON.stringify(up));

      const wav = await readFile(path.join(AUDIO_SAMPLES, 'rec-04.wav'));
      const rec = new FormData();
      rec.append('file', new Blob([new Uint8Array(wav)]), 'rec-04.wav');
      const r = await json<{ recording: { id: number } }>(
        await annotator.request('/api/recordings', { method: 'POST', body: rec }),
        201,
      );
      recordingId = r.recording.id;

      decided = (await sampleImages(classes[0]!, 1, 1))[0]!;
      const res = await fetch(`${plain.url}/v1/models/fm/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(decided),
      });
      const label = (await json<{ predictions: { label: string }[] }>(res)).predictions[0]!.label;
      await json(
        await fetch(`${plain.url}/v1/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            request_id: res.headers.get('x-request-id'),
            label,
            image_base64: decided.toString('base64'),
          }),
        }),
        201,
      );
      await plain.close();
      plain = undefined;
    } finally {
      await plain?.close();
    }

    // A server that stores its inputs, keeping the latest 12 predictions: pruning drops the first
    // server's, so the organiser's image and the decided one are referenced by their rows alone.
    server = await startServer(ws, { predictionLog: { storeInputs: true, maxRows: 12 } }, { web });
    annotator = await WebClient.start(server.url, { email: ANNOTATOR, password: PASSWORD });
    predicted = await sampleImages(classes[1]!, 12, 0);
    for (const image of predicted) await predictOn(server.url, image);
    await server.predictionLog.flush();
    const pruned = await server.predictionLog.prune();
    assert.equal(pruned.byCount, 2, 'the first server logged the organiser upload and the decided image');
    await runDriftCheck(ws, { model: 'fm', window: 10, config: ws.config.monitor.drift, source: 'cli' });
    await backdate(root);
  });

  after(async () => {
    await server?.close();
    await sites?.close();
    await ws?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('builds a workspace with every kind of reference, none of them to an orphan', async () => {
    const count = (table: keyof DatabaseSchema) => rowCount(ws, table);
    for (const table of [
      'downloads',
      'feedback',
      'organised_images',
      'recordings',
      'drift_references',
    ] as const)
      assert.ok((await count(table)) >= 1, `a ${table} row`);
    assert.equal(await count('predictions'), 12);
    assert.equal(await count('dataset_versions'), 2, 'fm and bursts');
    assert.equal(await count('model_versions'), 2);
    const r = await collectGarbage(ws, { ...GRACE, dryRun: true });
    assert.deepEqual(r.orphans, tally(0, 0), 'the real code paths leave no unreferenced blob');
    assert.equal(r.missing.count, 0);
  });

  it('dry run reports exactly the old orphans and stale temporary files, and deletes nothing', async () => {
    const before = await storeFiles(root);
    const oldOrphans = [await orphan(ws), await orphan(ws, randomBytes(2345))];
    const young = await orphan(ws, randomBytes(500), new Date());
    const incoming = path.join(root, '.incoming.4242.0badcafe');
    await writeFile(incoming, randomBytes(300));
    await utimes(incoming, OLD, OLD);
    const atomic = path.join(root, young.slice(0, 2), `.${young}.4242.deadbeef.tmp`);
    await writeFile(atomic, randomBytes(200));
    await utimes(atomic, OLD, OLD);
    const inProgress = path.join(root, '.incoming.4243.12345678');
    await writeFile(inProgress, randomBytes(100));
    const notes = path.join(root, 'NOTES.txt');
    await writeFile(notes, 'left by a person');
    plantedKept.push(ws.blobs.pathOf(young), inProgress, notes);

    for (const hash of oldOrphans) plantedOld.push(path.relative(root, ws.blobs.pathOf(hash)));
    plantedOld.push(path.relative(root, incoming), path.relative(root, atomic));
    const planted = await storeFiles(root);
    const r = await collectGarbage(ws, { ...GRACE, dryRun: true });
    assert.equal(r.dryRun, true);
    assert.deepEqual(r.orphans, tally(2, 1000 + 2345));
    assert.deepEqual(r.recent, tally(1, 500));
    assert.deepEqual(r.staleTemporary, tally(2, 300 + 200));
    assert.deepEqual(r.recentTemporary, tally(1, 100));
    assert.deepEqual(r.unknown, tally(1, 'left by a person'.length));
    assert.deepEqual(r.removed, tally(0, 0));
    assert.deepEqual(
      r.referenced,
      tally(
        before.size,
        [...before.values()].reduce((a, b) => a + b, 0),
      ),
    );
    assert.deepEqual(await storeFiles(root), planted, 'nothing deleted');
    for (const hash of oldOrphans) assert.ok(await ws.blobs.has(hash));
  });

  it('a blob stored again becomes young, so a writer in progress keeps it through the grace period', async () => {
    const bytes = randomBytes(700);
    const hash = await orphan(ws, bytes);
    assert.ok((await stat(ws.blobs.pathOf(hash))).mtimeMs < Date.now() - 86_400_000);
    assert.equal(await ws.blobs.put(bytes), hash);
    assert.ok((await stat(ws.blobs.pathOf(hash))).mtimeMs > Date.now() - 60_000, 'put refreshed its time');
    const r = await collectGarbage(ws, { ...GRACE, dryRun: true });
    assert.equal(r.recent.files, 2, 'the re-stored blob counts as recent, beside the planted young one');
    await utimes(ws.blobs.pathOf(hash), OLD, OLD);
    plantedOld.push(path.relative(root, ws.blobs.pathOf(hash)));
  });

  it('removes only old orphans; every reference still works afterwards', async () => {
    const named = await blobsNamedAnywhere(ws);
    const beforeGc = await storeFiles(root);
    const r = await collectGarbage(ws, GRACE);
    assert.deepEqual(r.removed, tally(5, 1000 + 2345 + 700 + 300 + 200));
    const afterGc = await storeFiles(root);
    const gone = [...beforeGc.keys()].filter((f) => !afterGc.has(f));
    assert.deepEqual(
      gone.sort(),
      [...plantedOld].sort(),
      'exactly the old orphans and stale temporary files',
    );
    for (const f of gone) assert.ok(!named.has(path.basename(f)), `${f} was named in the database`);
    for (const hash of named)
      assert.ok(await ws.blobs.has(hash), `${hash} is named in the database and kept`);

    // Datasets: every manifest reads and matches its id, every item's bytes are intact.
    for (const v of await ws.db.selectFrom('dataset_versions').selectAll().execute())
      for (const item of await readVersionItems(ws, v))
        assert.ok(await ws.blobs.verify(item.blob), `item ${item.source} of ${v.dataset}`);
    // Models: every file of every version loads and passes its checksum.
    for (const model of ['fm', 'bursts']) {
      const v = await getVersion(ws.db, { model });
      for (const name of Object.keys(v.files)) assert.ok((await readModelFile(ws.blobs, v, name)).length > 0);
    }
    // Predictions: the stored inputs are the images sent.
    const rows = await ws.db.selectFrom('predictions').select('input_blob').execute();
    assert.deepEqual(new Set(rows.map((p) => p.input_blob)), new Set(predicted.map((p) => sha256(p))));
    for (const p of predicted) assert.ok(Buffer.from(await ws.blobs.get(sha256(p))).equals(p));
    // Feedback: the decision whose prediction was pruned can still become a dataset item.
    const { usable } = await pendingDecisions(ws, 'fm');
    assert.deepEqual(
      usable.map((d) => d.inputBlob),
      [sha256(decided)],
    );
    // The organiser's zip holds the uploaded bytes.
    const zip = Buffer.from(await (await annotator.request('/api/organiser/download')).arrayBuffer());
    assert.ok(zipEntries(zip).some((e) => e.data.equals(organised)));
    // The annotator's recording and spectrogram are served.
    const rec = await ws.db
      .selectFrom('recordings')
      .selectAll()
      .where('id', '=', recordingId)
      .executeTakeFirstOrThrow();
    for (const [route, hash] of [
      ['audio', rec.blob],
      ['spectrogram.png', rec.spectrogram_blob],
    ] as const) {
      const res = await annotator.request(`/api/recordings/${recordingId}/${route}`);
      assert.equal(res.status, 200, route);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), hash, route);
    }
    // The drift reference is read from its blob.
    const ref = await ws.db.selectFrom('drift_references').select('blob').executeTakeFirstOrThrow();
    assert.equal(
      JSON.parse(new TextDecoder().decode(await ws.blobs.get(ref.blob))).format,
      'loupe-drift-reference/1',
    );
    // The download cache answers without a request.
    const hits = sites.hitsOn('/bird.png').length;
    const again = await downloadAll([downloadUrl], { blobs: ws.blobs, db: ws.db, ratePerHost: Infinity });
    assert.equal(again.counts.cached, 1);
    assert.equal(sites.hitsOn('/bird.png').length, hits);

    for (const file of plantedKept) assert.ok((await stat(file)).isFile(), `${file} kept`);
    await Promise.all(plantedKept.map((file) => rm(file)));
  });

  it('makes the inputs of pruned predictions collectable once nothing else names them', async () => {
    // The review queue names the stored inputs too, until it notices the pruning.
    await refreshCandidates(ws.db);
    assert.ok((await rowCount(ws, 'review_candidates')) >= 12);
    // Then storeInputs is turned off: the first image is predicted again, and one never stored.
    const later = await startServer(ws, { predictionLog: { storeInputs: false, maxRows: 4 } });
    let again: string;
    try {
      again = await predictOn(later.url, predicted[0]!);
      await predictOn(later.url, unseen);
      await later.predictionLog.flush();
      await later.predictionLog.prune();
    } finally {
      await later.close();
    }
    assert.equal(await rowCount(ws, 'predictions'), 4, 'the last two stored inputs and the two new rows');
    const prunedInputs = predicted.slice(1, 10);
    const bytes = prunedInputs.reduce((n, p) => n + p.length, 0);
    assert.deepEqual((await collectGarbage(ws, { ...GRACE, dryRun: true })).orphans, tally(0, 0));

    await refreshCandidates(ws.db);
    assert.deepEqual((await collectGarbage(ws, { ...GRACE, dryRun: true })).orphans, tally(9, bytes));
    const r = await collectGarbage(ws, GRACE);
    assert.deepEqual(r.removed, tally(9, bytes));
    assert.equal(r.missing.count, 0, 'an input the server did not keep is no loss');
    for (const p of prunedInputs) assert.equal(await ws.blobs.has(sha256(p)), false);
    for (const p of predicted.slice(10)) assert.ok(await ws.blobs.has(sha256(p)), 'a logged input stays');
    assert.ok(await ws.blobs.has(sha256(organised)), 'the organiser still names its image');
    assert.ok(await ws.blobs.has(sha256(decided)), 'the decision still names its input');
    // The repeated image's bytes stay while its new prediction names them, so a person can still
    // judge that prediction without sending the image.
    const feedback = await fetch(`${server.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: again, label: classes[1] }),
    });
    assert.equal(feedback.status, 201, await feedback.text());
  });

  it('keeps a referenced blob whose bytes are damaged, and reports one that is missing', async () => {
    const fm = await ws.db
      .selectFrom('dataset_versions')
      .selectAll()
      .where('dataset', '=', 'fm')
      .executeTakeFirstOrThrow();
    const item = (await readVersionItems(ws, fm))[0]!;
    const damaged = ws.blobs.pathOf(item.blob);
    const original = await readFile(damaged);
    await writeFile(damaged, randomBytes(original.length));
    await utimes(damaged, OLD, OLD);
    const lost = ws.blobs.pathOf(sha256(organised));
    await rm(lost);
    try {
      const r = await collectGarbage(ws, GRACE);
      assert.ok(await ws.blobs.has(item.blob), 'damaged, but referenced: kept');
      assert.equal(await ws.blobs.verify(item.blob), false);
      assert.deepEqual(r.removed, tally(0, 0));
      assert.deepEqual(r.missing, {
        count: 1,
        blobs: [{ hash: sha256(organised), referencedBy: 'organised_images.blob_hash' }],
      });
    } finally {
      await writeFile(damaged, original);
      await ws.blobs.put(organised);
    }
  });

  it('frees the input of a deletion or a skip, and keeps the input of a label', async () => {
    const [deleted, skipped, accepted] = [randomBytes(400), randomBytes(401), randomBytes(402)];
    for (const [bytes, action] of [
      [deleted, 'delete'],
      [skipped, 'skip'],
      [accepted, 'accept'],
    ] as const) {
      const hash = await orphan(ws, bytes);
      await recordFeedback(ws.db, {
        actor: ANNOTATOR,
        channel: 'organiser',
        action,
        inputHash: hash,
        inputBlob: hash,
        label: classes[0]!,
      });
    }
    const r = await collectGarbage(ws, GRACE);
    assert.deepEqual(r.removed, tally(2, 400 + 401));
    assert.equal(await ws.blobs.has(sha256(deleted)), false, 'a person deleted it: its bytes go');
    assert.equal(await ws.blobs.has(sha256(skipped)), false);
    assert.ok(await ws.blobs.has(sha256(accepted)), 'a decision that becomes a dataset item keeps its input');
  });

  describe('stops before deleting anything when a reference cannot be read', () => {
    let manifest: string;
    let files: Map<string, number>;
    let unreferenced: string;

    before(async () => {
      const fm = await ws.db
        .selectFrom('dataset_versions')
        .selectAll()
        .where('dataset', '=', 'fm')
        .executeTakeFirstOrThrow();
      manifest = ws.blobs.pathOf(fm.manifest_blob);
      unreferenced = await orphan(ws);
      files = await storeFiles(root);
    });
    after(async () => {
      await rm(ws.blobs.pathOf(unreferenced));
    });

    const refused = async (code: string, message: RegExp) => {
      await assert.rejects(collectGarbage(ws, GRACE), (e) => {
        assert.ok(isLoupeError(e), String(e));
        assert.equal(e.code, code);
        assert.match(e.message, message);
        return true;
      });
      assert.deepEqual(await storeFiles(root), files, 'nothing deleted');
    };

    it('a damaged manifest', async () => {
      const original = await readFile(manifest);
      await writeFile(manifest, Buffer.concat([original, Buffer.from('{"id":"x"}\n')]));
      try {
        files = await storeFiles(root);
        await refused(
          'CORRUPT_FILE',
          /^gc stopped before deleting anything: the manifest of dataset fm @ [0-9a-f]{12} cannot be read \(.*does not match its id.*\), so the items it names are unknown; restore .*\/blobs\/[0-9a-f]{2}\/[0-9a-f]{64} from a backup/,
        );
      } finally {
        await writeFile(manifest, original);
        files = await storeFiles(root);
      }
    });

    it('a missing manifest', async () => {
      const aside = `${manifest}.aside`;
      await writeFile(aside, await readFile(manifest));
      await rm(manifest);
      try {
        files = await storeFiles(root);
        await refused(
          'CORRUPT_FILE',
          /the manifest of dataset fm @ [0-9a-f]{12} cannot be read \(blob [0-9a-f]{64} is not in the store\)/,
        );
      } finally {
        await writeFile(manifest, await readFile(aside));
        await rm(aside);
        files = await storeFiles(root);
      }
    });

    it("a model version's file list that is not JSON", async () => {
      const row = await ws.db
        .selectFrom('model_versions')
        .select('files')
        .where('model', '=', 'fm')
        .executeTakeFirstOrThrow();
      await ws.db
        .updateTable('model_versions')
        .set({ files: '{"model.onnx": ' })
        .where('model', '=', 'fm')
        .execute();
      try {
        await refused('CORRUPT_FILE', /the file list of model fm@1 \(model_versions\.files\) cannot be read/);
      } finally {
        await ws.db
          .updateTable('model_versions')
          .set({ files: row.files })
          .where('model', '=', 'fm')
          .execute();
      }
    });

    it('a reference column holding something that is not a hash', async () => {
      const row = await ws.db.selectFrom('downloads').select(['url', 'blob_hash']).executeTakeFirstOrThrow();
      await ws.db
        .updateTable('downloads')
        .set({ blob_hash: 'bird.png' })
        .where('url', '=', row.url)
        .execute();
      try {
        await refused('CORRUPT_FILE', /downloads\.blob_hash holds "bird\.png", which is not a blob hash/);
      } finally {
        await ws.db
          .updateTable('downloads')
          .set({ blob_hash: row.blob_hash })
          .where('url', '=', row.url)
          .execute();
      }
    });

    it('a table or column gc does not know', async () => {
      await sql`create table thumbnails (id integer primary key, thumb text)`.execute(ws.db);
      try {
        await refused('INTERNAL', /does not know table thumbnails, which may name blobs/);
      } finally {
        await sql`drop table thumbnails`.execute(ws.db);
      }
      await sql`alter table recordings add column waveform_blob text`.execute(ws.db);
      try {
        await refused('INTERNAL', /does not know column recordings\.waveform_blob/);
      } finally {
        await sql`alter table recordings drop column waveform_blob`.execute(ws.db);
      }
    });
  });

  it('`loupe gc` prints a table, or JSON for scripts, and refuses a grace period it cannot read', async () => {
    const old = await orphan(ws, randomBytes(700));
    const young = await orphan(ws, randomBytes(300), new Date());
    const dry = await runLoupe(dir, ['gc', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const report = JSON.parse(dry.stdout) as GcReport;
    assert.equal(report.dryRun, true);
    assert.equal(report.graceMs, DAY);
    assert.deepEqual(
      [report.orphans, report.recent, report.removed],
      [tally(1, 700), tally(1, 300), tally(0, 0)],
    );

    const zero = await runLoupe(dir, ['gc', '--dry-run', '--grace', '0']);
    assert.equal(zero.code, 0, zero.stderr);
    assert.match(
      zero.stderr,
      /warning: a grace period of 0 can delete the blobs of an ingest or upload still running/,
    );
    assert.match(zero.stdout, /unreferenced, older +2 +1000 B +would be removed/);
    assert.match(zero.stdout, /dry run: 2 files \(1000 B\) reclaimable; nothing was removed/);

    const run = await runLoupe(dir, ['gc']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /referenced blobs +[\d,]+ +[\d.]+ (KiB|MiB) +kept/);
    assert.match(run.stdout, /unreferenced, written in the last 24h +1 +300 B +kept \(grace period\)/);
    assert.match(run.stdout, /^removed 1 file \(700 B\)$/m);
    assert.equal(await ws.blobs.has(old), false);
    assert.ok(await ws.blobs.has(young));
    await rm(ws.blobs.pathOf(young));

    for (const grace of ['soon', '-1h', '24', '1w']) {
      const bad = await runLoupe(dir, ['gc', '--grace', grace]);
      assert.equal(bad.code, 2, grace);
      assert.match(bad.stderr, /--grace takes 0 or a span such as 30m, 24h or 7d/);
    }
  });

  it('refuses a negative grace period, and a blob store that is not on the local disk', async () => {
    await assert.rejects(
      collectGarbage(ws, { graceMs: -1 }),
      /the grace period must be 0 or more, got -1 ms/,
    );
    const elsewhere = { ...ws.blobs } as BlobStore; // the same methods, but not an FsBlobStore
    await assert.rejects(
      collectGarbage({ db: ws.db, blobs: elsewhere }, GRACE),
      /gc knows only the blob store on the local disk/,
    );
  });

  it('stops cleanly when interrupted mid-sweep; running it again finishes', async () => {
    const named = await blobsNamedAnywhere(ws);
    const orphans: string[] = [];
    for (let i = 0; i < 1200; i++) orphans.push(await orphan(ws, randomBytes(16)));
    const stop = new AbortController();
    await assert.rejects(
      collectGarbage(ws, {
        ...GRACE,
        signal: stop.signal,
        onProgress: (stage, done) => {
          if (stage === 'sweep' && done >= 500)
            stop.abort(new LoupeError('INTERRUPTED', 'stopped by Ctrl-C'));
        },
      }),
      (e) => {
        assert.ok(isLoupeError(e, 'INTERRUPTED'), String(e));
        assert.match(
          e.message,
          /^stopped by Ctrl-C after removing \d+ files \(\d+ bytes\); nothing referenced was touched/,
        );
        return true;
      },
    );
    const left = (await Promise.all(orphans.map((h) => ws.blobs.has(h)))).filter(Boolean).length;
    assert.ok(left > 0 && left < orphans.length, `${left} of ${orphans.length} orphans left`);
    for (const hash of named) assert.ok(await ws.blobs.has(hash));
    const r = await collectGarbage(ws, GRACE);
    assert.deepEqual(r.removed, tally(left, left * 16));
    for (const hash of orphans) assert.equal(await ws.blobs.has(hash), false);
  });
});

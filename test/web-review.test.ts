import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { listFeedback, pendingFeedback } from '../src/monitor/feedback/feedback-store.js';
import type { LabelProbability } from '../src/inference/top-k.js';
import { getVersion } from '../src/registry/registry-store.js';
import type { DecisionView, ReviewQueueView } from '../src/web/review/review-view.js';
import { webConfigSchema } from '../src/web/web-config.js';
import { expectProblem, json, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { repoRoot } from './helpers/run-cli.js';
import { createUser, startWebApp, WebClient, type WebApp } from './helpers/web-e2e.js';

/**
 * The review queue over HTTP: predictions made through the real REST API with their inputs kept,
 * and organiser uploads, ordered by how unsure the model was (checked against margins and
 * entropies computed here from the stored top-k), decided by people, each decision a feedback row
 * with its provenance.
 */

const SAMPLES = path.join(repoRoot, 'samples/fashion-mnist/test');
const DARKNET = '/usr/share/darknet/data';

const PASSWORD = 'correct horse battery';
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const VIEWER = 'vic@example.org';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The uncertainty scores from a stored top-k, as the queue documents them. */
function scores(topK: LabelProbability[]): { margin: number; entropy: number } {
  const p = topK.map((t) => t.probability);
  const rest = 1 - p.reduce((a, b) => a + b, 0);
  let entropy = -p.reduce((h, x) => h + (x > 0 ? x * Math.log(x) : 0), 0);
  if (rest > 1e-9) entropy -= rest * Math.log(rest);
  return { margin: p[0]! - (p[1] ?? 0), entropy };
}

describe('the review queue API', () => {
  let app: WebApp;
  let unlogged: RunningServer;
  let alice: WebClient;
  let bob: WebClient;
  let viewer: WebClient;
  let classes: string[];
  /** Input hash → bytes of everything predicted. */
  const inputs = new Map<string, Buffer>();
  let organisedHash: string;
  let sampledOutHash: string;

  const queue = async (client: WebClient, query = '') =>
    json<ReviewQueueView>(await client.request(`/api/review/queue?limit=200${query}`));
  const decide = async (client: WebClient, body: Record<string, unknown>, status = 201) =>
    (
      await json<{ decision: DecisionView }>(
        await client.request('/api/review/decisions', { method: 'POST', json: body }),
        status,
      )
    ).decision;
  const storedTopK = async (predictionId: number) =>
    JSON.parse(
      (
        await app.ws.db
          .selectFrom('predictions')
          .select('top_k')
          .where('id', '=', predictionId)
          .executeTakeFirstOrThrow()
      ).top_k,
    ) as LabelProbability[];

  before(async () => {
    app = await startWebApp({ serve: { predictionLog: { storeInputs: true } } });
    classes = (await getVersion(app.ws.db, { model: 'fm' })).classes;
    const images: Buffer[] = [];
    for (const c of (await readdir(SAMPLES)).sort())
      for (const f of (await readdir(path.join(SAMPLES, c))).sort().slice(0, 2))
        images.push(await readFile(path.join(SAMPLES, c, f)));
    for (const f of ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'scream.jpg'])
      images.push(await sharp(path.join(DARKNET, f)).resize(96).jpeg().toBuffer());
    // Through the REST API, as any client: some asking for every class, some for the top two only
    // (so the stored top-k leaves probability over), one image twice.
    for (const [k, bytes] of images.entries()) {
      inputs.set(sha(bytes), bytes);
      const res = await fetch(`${app.url}/v1/models/fm/predict${k % 3 === 0 ? '?top_k=2' : ''}`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: bytes,
      });
      assert.equal(res.status, 200, await res.text());
    }
    await fetch(`${app.url}/v1/models/fm/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: images[1],
    });
    await createUser(app.ws, { email: ALICE, password: PASSWORD, role: 'annotator' });
    await createUser(app.ws, { email: BOB, password: PASSWORD, role: 'annotator' });
    await createUser(app.ws, { email: VIEWER, password: PASSWORD, role: 'viewer' });
    [alice, bob, viewer] = await Promise.all([
      WebClient.start(app.url, { email: ALICE, password: PASSWORD }),
      WebClient.start(app.url, { email: BOB, password: PASSWORD }),
      WebClient.start(app.url, { email: VIEWER, password: PASSWORD }),
    ]);
    // The organiser's uploads count too: one through this server (logged), one through a server
    // that logs nothing, so only the organiser knows its classification.
    const organise = async (client: WebClient, photo: string, width: number) => {
      const bytes = await sharp(path.join(DARKNET, photo)).resize(width).png().toBuffer();
      const body = new FormData();
      body.append('file', new Blob([bytes]), photo);
      await json(await client.request('/api/organiser/images', { method: 'POST', body }));
      inputs.set(sha(bytes), bytes);
      return sha(bytes);
    };
    organisedHash = await organise(alice, 'kite.jpg', 80);
    unlogged = await startServer(
      app.ws,
      { predictionLog: { sample: 0 } },
      { web: webConfigSchema.parse({}) },
    );
    sampledOutHash = await organise(
      await WebClient.start(unlogged.url, { email: ALICE, password: PASSWORD }),
      'giraffe.jpg',
      64,
    );
    await app.server.predictionLog.flush();
  });
  after(async () => {
    await unlogged?.close();
    await app?.close();
  });

  it('holds every kept input once, least sure first by margin, scored from the stored top-k', async () => {
    const q = await queue(viewer);
    assert.equal(q.order, 'margin');
    assert.equal(q.total, inputs.size);
    assert.deepEqual(new Set(q.items.map((i) => i.input_hash)), new Set(inputs.keys()));
    assert.deepEqual(q.labels, { fm: classes });
    for (const item of q.items) {
      const topK = item.prediction_id === null ? item.top_k : await storedTopK(item.prediction_id);
      const want = scores(topK);
      assert.ok(Math.abs(item.margin - want.margin) < 1e-9, `margin ${item.margin} vs ${want.margin}`);
      assert.ok(Math.abs(item.entropy - want.entropy) < 1e-9, `entropy ${item.entropy} vs ${want.entropy}`);
    }
    for (let k = 1; k < q.items.length; k++) assert.ok(q.items[k - 1]!.margin <= q.items[k]!.margin);
    // Some stored top-ks leave probability over; the entropy counts it.
    assert.ok(q.items.some((i) => i.top_k.length === 2));
    // The image predicted twice is judged by its latest prediction.
    const twice = q.items.find((i) => i.input_hash === [...inputs.keys()][1]);
    const latest = await app.ws.db
      .selectFrom('predictions')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('input_hash', '=', twice!.input_hash)
      .executeTakeFirstOrThrow();
    assert.equal(twice!.prediction_id, latest.id);
    // The organiser's upload that the log never saw is judged by the organiser's classification.
    const quiet = q.items.find((i) => i.input_hash === sampledOutHash)!;
    assert.equal(quiet.prediction_id, null);
    assert.ok(quiet.organised_id);
    // The one it logged is judged by the logged prediction (every class), though the organiser's
    // row may have been read first.
    const kite = q.items.find((i) => i.input_hash === organisedHash)!;
    assert.ok(kite.organised_id);
    assert.ok(kite.prediction_id);
    assert.equal(kite.top_k.length, classes.length);
  });

  it('orders by entropy when asked, most uncertain first', async () => {
    const q = await queue(viewer, '&order=entropy');
    assert.equal(q.order, 'entropy');
    assert.equal(q.total, inputs.size);
    for (let k = 1; k < q.items.length; k++) assert.ok(q.items[k - 1]!.entropy >= q.items[k]!.entropy);
    await expectProblem(await viewer.request('/api/review/queue?order=random'), 400, /order/);
  });

  it('filters by model and predicted class, and pages', async () => {
    const all = (await queue(viewer)).items;
    const label = all[0]!.predicted;
    const some = await queue(viewer, `&predicted=${encodeURIComponent(label)}`);
    assert.deepEqual(
      some.items.map((i) => i.input_hash),
      all.filter((i) => i.predicted === label).map((i) => i.input_hash),
    );
    assert.equal((await queue(viewer, '&model=fm')).total, all.length);
    assert.equal((await queue(viewer, '&model=other')).total, 0);
    const first = await json<ReviewQueueView>(await viewer.request('/api/review/queue?limit=3'));
    const second = await json<ReviewQueueView>(await viewer.request('/api/review/queue?limit=3&offset=3'));
    assert.equal(first.total, all.length);
    assert.deepEqual(
      [...first.items, ...second.items].map((i) => i.input_hash),
      all.slice(0, 6).map((i) => i.input_hash),
    );
  });

  it('shows an item large; never a blob that is not a reviewable input', async () => {
    const [item] = (await queue(viewer)).items;
    const res = await viewer.request(item!.image);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/webp');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    const original = await sharp(inputs.get(item!.input_hash)!).metadata();
    assert.equal(meta.width, Math.min(640, original.width!));
    const model = await getVersion(app.ws.db, { model: 'fm' });
    const modelBlob = Object.values(model.files)[0]!.sha256;
    await expectProblem(await viewer.request(`/api/review/items/${modelBlob}/image`), 404, /no stored input/);
    await expectProblem(await viewer.request('/api/review/items/..%2F..%2Fetc/image'), 400, /SHA-256/);
  });

  it('accept records the prediction as the label, with provenance, and the item leaves the queue', async () => {
    const before = await queue(alice);
    const item = before.items[0]!;
    const started = Date.now();
    const d = await decide(alice, { input_hash: item.input_hash, action: 'accept' });
    assert.equal(d.action, 'accept');
    assert.equal(d.label, item.predicted);
    assert.equal(d.actor, ALICE);
    assert.ok(Date.parse(d.at) >= started - 1000);
    const [f] = await listFeedback(app.ws.db, { inputHash: item.input_hash });
    assert.ok(f);
    assert.equal(f.id, d.id);
    assert.equal(f.channel, 'review');
    assert.equal(f.actor, ALICE);
    assert.equal(f.model, 'fm');
    assert.equal(f.version, item.version);
    assert.equal(f.predictionId, item.prediction_id);
    assert.equal(f.requestId, item.request_id);
    assert.equal(f.predicted, item.predicted);
    assert.equal(f.confidence, item.confidence);
    assert.equal(f.label, item.predicted);
    assert.equal(f.inputBlob, item.input_hash);
    assert.deepEqual(Buffer.from(await app.ws.blobs.get(f.inputBlob!)), inputs.get(item.input_hash));
    const logged = await app.ws.db
      .selectFrom('predictions')
      .selectAll()
      .where('id', '=', item.prediction_id!)
      .executeTakeFirstOrThrow();
    assert.equal(logged.request_id, f.requestId);
    assert.equal(logged.input_hash, f.inputHash);
    const after = await queue(alice);
    assert.equal(after.total, before.total - 1);
    assert.ok(!after.items.some((i) => i.input_hash === item.input_hash));
    assert.ok(
      (await pendingFeedback(app.ws.db)).some((p) => p.id === d.id),
      'it goes into the next dataset version',
    );
    await expectProblem(
      await bob.request('/api/review/decisions', {
        method: 'POST',
        json: { input_hash: item.input_hash, action: 'accept' },
      }),
      409,
      /alice@example\.org decided this input already \(accept/,
    );
  });

  it('correct takes a class of the model and refuses any other', async () => {
    const item = (await queue(alice)).items[0]!;
    const label = classes.find((c) => c !== item.predicted)!;
    await expectProblem(
      await alice.request('/api/review/decisions', {
        method: 'POST',
        json: { input_hash: item.input_hash, action: 'correct', label: 'Zebra' },
      }),
      400,
      /"Zebra" is not a class of model fm; its classes are/,
    );
    await expectProblem(
      await alice.request('/api/review/decisions', {
        method: 'POST',
        json: { input_hash: item.input_hash, action: 'correct' },
      }),
      400,
      /invalid decision: label/,
    );
    await expectProblem(
      await alice.request('/api/review/decisions', {
        method: 'POST',
        json: { input_hash: 'f'.repeat(64), action: 'accept' },
      }),
      404,
      /no stored input/,
    );
    assert.equal((await listFeedback(app.ws.db, { inputHash: item.input_hash })).length, 0);
    const d = await decide(alice, { input_hash: item.input_hash, action: 'correct', label });
    assert.equal(d.action, 'correct');
    assert.equal(d.label, label);
    assert.equal(d.predicted, item.predicted);
    assert.equal(d.confidence, item.confidence);
    assert.ok(!(await queue(alice)).items.some((i) => i.input_hash === item.input_hash));
    const pending = (await pendingFeedback(app.ws.db)).find((p) => p.id === d.id);
    assert.equal(pending?.label, label);
    assert.equal(pending?.inputBlob, item.input_hash);
  });

  it('skip is recorded and sends the item to the back of that user’s queue only', async () => {
    const before = await queue(alice);
    const item = before.items[0]!;
    const d = await decide(alice, { input_hash: item.input_hash, action: 'skip' });
    assert.equal(d.action, 'skip');
    assert.equal(d.label, null);
    const [f] = await listFeedback(app.ws.db, { inputHash: item.input_hash });
    assert.equal(f?.action, 'skip');
    assert.equal(f?.actor, ALICE);
    const mine = await queue(alice);
    assert.equal(mine.total, before.total, 'a skip decides nothing');
    assert.equal(mine.items.at(-1)!.input_hash, item.input_hash);
    assert.ok(mine.items.at(-1)!.skipped_at);
    const theirs = await queue(bob);
    assert.equal(theirs.items[0]!.input_hash, item.input_hash);
    assert.equal(theirs.items[0]!.skipped_at, null);
    assert.ok(!(await pendingFeedback(app.ws.db)).some((p) => p.id === d.id));
  });

  it('undo takes back one’s own decision and the item comes back', async () => {
    const item = (await queue(bob)).items[0]!;
    const d = await decide(bob, { input_hash: item.input_hash, action: 'accept' });
    assert.ok(!(await queue(bob)).items.some((i) => i.input_hash === item.input_hash));
    await expectProblem(
      await alice.request(`/api/review/decisions/${d.id}`, { method: 'DELETE' }),
      404,
      /of yours/,
    );
    const res = await bob.request(`/api/review/decisions/${d.id}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.ok((await queue(bob)).items.some((i) => i.input_hash === item.input_hash));
    assert.ok(!(await listFeedback(app.ws.db, { inputHash: item.input_hash })).some((f) => f.id === d.id));
    await expectProblem(
      await bob.request(`/api/review/decisions/${d.id}`, { method: 'DELETE' }),
      404,
      /of yours/,
    );
  });

  it('a decision about an organised image moves it to its class folder, and undo moves it back', async () => {
    const row = () =>
      app.ws.db
        .selectFrom('organised_images')
        .selectAll()
        .where('blob_hash', '=', organisedHash)
        .executeTakeFirstOrThrow();
    const was = await row();
    const dir = path.join(app.dir, 'organised');
    const label = classes.find((c) => c !== was.predicted)!;
    const d = await decide(bob, { input_hash: organisedHash, action: 'correct', label });
    const now = await row();
    assert.equal(now.label, label);
    assert.equal(now.corrected, 1);
    assert.equal(existsSync(path.join(dir, was.class_folder, was.stored_name)), false);
    assert.deepEqual(
      await readFile(path.join(dir, now.class_folder, now.stored_name)),
      inputs.get(organisedHash),
    );
    const [f] = await listFeedback(app.ws.db, { inputHash: organisedHash });
    assert.equal(f?.channel, 'review');
    assert.equal(f?.label, label);
    await bob.request(`/api/review/decisions/${d.id}`, { method: 'DELETE' });
    const back = await row();
    assert.equal(back.label, was.predicted);
    assert.equal(back.corrected, 0);
    assert.deepEqual(
      await readFile(path.join(dir, back.class_folder, back.stored_name)),
      inputs.get(organisedHash),
    );
    assert.ok((await queue(bob)).items.some((i) => i.input_hash === organisedHash));
  });

  it('forgets predictions the retention of the log deleted, but not organised images', async () => {
    const before = await queue(viewer);
    const removed = await app.server.predictionLog.prune({ now: new Date(Date.now() + 31 * 86_400_000) });
    assert.ok(removed.byAge > 0);
    const after = await queue(viewer);
    // Only the organised images are left, judged by the organiser's own classification now.
    assert.deepEqual(
      new Set(after.items.map((i) => i.input_hash)),
      new Set(before.items.filter((i) => i.organised_id !== null).map((i) => i.input_hash)),
    );
    for (const item of after.items) {
      assert.equal(item.prediction_id, null);
      assert.equal(item.top_k.length, 3);
      const want = scores(item.top_k);
      assert.ok(Math.abs(item.margin - want.margin) < 1e-9 && Math.abs(item.entropy - want.entropy) < 1e-9);
    }
  });

  it('lets viewers look but not decide; nobody without a session', async () => {
    const item = (await queue(viewer)).items[0]!;
    await expectProblem(
      await viewer.request('/api/review/decisions', {
        method: 'POST',
        json: { input_hash: item.input_hash, action: 'accept' },
      }),
      403,
      /needs the annotator role/,
    );
    await expectProblem(
      await viewer.request('/api/review/decisions/1', { method: 'DELETE' }),
      403,
      /annotator/,
    );
    await expectProblem(await fetch(`${app.url}/api/review/queue`), 401, /sign in/);
    await expectProblem(await fetch(`${app.url}${item.image}`), 401, /sign in/);
    // An admin decides like an annotator.
    await createUser(app.ws, { email: 'boss@example.org', password: PASSWORD, role: 'admin' });
    const admin = await WebClient.start(app.url, { email: 'boss@example.org', password: PASSWORD });
    assert.equal(
      (await decide(admin, { input_hash: item.input_hash, action: 'accept' })).actor,
      'boss@example.org',
    );
  });
});

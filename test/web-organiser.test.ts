import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { listFeedback, pendingFeedback } from '../src/monitor/feedback/feedback-store.js';
import { readModelFile } from '../src/registry/model-files.js';
import { registerOnnx } from '../src/registry/register-model.js';
import { getVersion } from '../src/registry/registry-store.js';
import { classFolder } from '../src/web/organiser/safe-names.js';
import type { OrganisedImageView, UploadResult } from '../src/web/organiser/organiser-view.js';
import { webConfigSchema } from '../src/web/web-config.js';
import { expectProblem, json, startServer } from './helpers/serve-fixture.js';
import { createUser, startWebApp, WebClient, type WebApp } from './helpers/web-e2e.js';
import { zipEntries } from './helpers/zip-entries.js';
import { repoRoot } from './helpers/run-cli.js';

/**
 * The photo organiser over HTTP: a real server with a real model, real images and a real SQLite
 * file; the class folders checked on disk, the downloads unpacked and compared byte for byte.
 * The organiser's model is the fixture's trained CNN imported again under class names chosen to
 * be hostile as folder and file names.
 */

const SAMPLES = path.join(repoRoot, 'samples/fashion-mnist/test');
const DARKNET = '/usr/share/darknet/data';
const HOSTILE = ['../../etc', 'a/b', 'Ünï\u0007cödé\u202e'];
// The point of this pattern is to find control characters.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const PASSWORD = 'correct horse battery';
const ANNOTATOR = 'ann@example.org';
const VIEWER = 'vic@example.org';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function form(files: { name: string; bytes: Uint8Array; type?: string }[]): FormData {
  const f = new FormData();
  for (const file of files)
    f.append('file', new Blob([file.bytes], { type: file.type ?? 'application/octet-stream' }), file.name);
  return f;
}

describe('the photo organiser API', () => {
  let app: WebApp;
  let annotator: WebClient;
  let viewer: WebClient;
  let labels: string[];
  let dir: string;
  const uploaded = new Map<string, Buffer>();
  let images: OrganisedImageView[] = [];

  const upload = async (client: WebClient, files: Parameters<typeof form>[0]) =>
    json<{ results: UploadResult[] }>(
      await client.request('/api/organiser/images', { method: 'POST', body: form(files) }),
    );
  const fileOf = (i: Pick<OrganisedImageView, 'folder' | 'file'>) => path.join(dir, i.folder, i.file);
  const list = async (label?: string) =>
    (
      await json<{ total: number; items: OrganisedImageView[] }>(
        await viewer.request(
          `/api/organiser/images?limit=500${label === undefined ? '' : `&label=${encodeURIComponent(label)}`}`,
        ),
      )
    ).items;

  before(async () => {
    app = await startWebApp({ web: { organiser: { model: 'odd' } } });
    dir = path.join(app.dir, 'organised');
    const fm = await getVersion(app.ws.db, { model: 'fm' });
    labels = [fm.classes[0]!, ...HOSTILE];
    assert.equal(fm.classes.length, labels.length);
    const scratch = await mkdtemp(path.join(tmpdir(), 'loupe-odd-'));
    try {
      const file = path.join(scratch, 'model.onnx');
      await writeFile(file, await readModelFile(app.ws.blobs, fm));
      const preprocessing =
        fm.inputs.kind === 'image' ? fm.inputs.preprocessing : assert.fail('an image model');
      await registerOnnx(app.ws, file, { name: 'odd', labels, output: 'logits', preprocessing });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    await createUser(app.ws, { email: ANNOTATOR, password: PASSWORD, role: 'annotator' });
    await createUser(app.ws, { email: VIEWER, password: PASSWORD, role: 'viewer' });
    [annotator, viewer] = await Promise.all([
      WebClient.start(app.url, { email: ANNOTATOR, password: PASSWORD }),
      WebClient.start(app.url, { email: VIEWER, password: PASSWORD }),
    ]);
  });
  after(async () => {
    await app?.close();
  });

  it('classifies many files in one upload; bad ones are reported per file and not kept', async () => {
    const classes = (await readdir(SAMPLES)).sort().slice(0, 4);
    const good: { name: string; bytes: Buffer }[] = [];
    for (const c of classes) {
      const f = (await readdir(path.join(SAMPLES, c))).sort()[0]!;
      good.push({ name: `${c}-${f}`, bytes: await readFile(path.join(SAMPLES, c, f)) });
    }
    const dog = await readFile(path.join(DARKNET, 'dog.jpg'));
    good.push(
      { name: 'dog.jpg', bytes: dog },
      { name: 'eagle.jpg', bytes: await readFile(path.join(DARKNET, 'eagle.jpg')) },
    );
    // Two different images with one name, and names no filesystem or zip should take as they are.
    good.push(
      { name: 'same.jpg', bytes: await readFile(path.join(DARKNET, 'horses.jpg')) },
      { name: 'same.jpg', bytes: await readFile(path.join(DARKNET, 'person.jpg')) },
      { name: '..\\..\\x\u0001y\u202egnp.exe.png', bytes: await sharp(dog).resize(40, 30).png().toBuffer() },
    );
    const bad = [
      { name: 'broken.jpg', bytes: dog.subarray(0, dog.length >> 1), type: 'image/jpeg' },
      { name: 'notes.jpg', bytes: Buffer.from('name,label\na.jpg,cat\n'), type: 'image/jpeg' },
      { name: 'empty.png', bytes: Buffer.alloc(0), type: 'image/png' },
    ];
    const { results } = await upload(annotator, [...good.slice(0, 3), ...bad, ...good.slice(3)]);
    assert.equal(results.length, good.length + bad.length);
    const errors = results.filter((r) => 'error' in r);
    assert.deepEqual(
      errors.map((r) => [r.name, r.error.status]),
      [
        ['broken.jpg', 400],
        ['notes.jpg', 415],
        ['empty.png', 400],
      ],
    );
    assert.match(errors[0]!.error.detail, /the image\/jpeg image cannot be (decoded|read)/);
    assert.match(errors[1]!.error.detail, /the upload is text; send a JPEG, PNG/);
    assert.match(errors[2]!.error.detail, /empty \(0 bytes\)/);

    const ok = results.filter((r) => 'image' in r);
    assert.equal(ok.length, good.length);
    for (const r of ok) {
      const sent = good.find((g) => sha(g.bytes) === r.image.input_hash);
      assert.ok(sent, `${r.name} is one of the files sent`);
      // Folders in a file name are dropped on the way in (by the multipart parser).
      assert.ok(sent.name.endsWith(r.name), `${JSON.stringify(r.name)} from ${JSON.stringify(sent.name)}`);
      uploaded.set(r.image.input_hash, sent.bytes);
      assert.equal(r.duplicate, false);
      assert.equal(r.image.model, 'odd@1');
      assert.ok(labels.includes(r.image.label));
      assert.equal(r.image.label, r.image.predicted);
      assert.equal(r.image.top_k.length, 3);
      assert.equal(r.image.top_k[0]!.label, r.image.predicted);
      assert.equal(r.image.top_k[0]!.probability, r.image.probability);
      assert.equal(r.image.corrected, false);
      // In its class folder, byte for byte, under a name that is one safe segment.
      assert.deepEqual(await readFile(fileOf(r.image)), sent.bytes, r.name);
      for (const segment of [r.image.folder, r.image.file]) {
        assert.doesNotMatch(segment, /[/\\]|^\.\.?$/);
        assert.doesNotMatch(segment, CONTROL);
      }
    }
    images = ok.map((r) => r.image);
    // Nothing else was written: the refused files left no trace.
    const onDisk = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    assert.equal(onDisk.length, good.length);
    // The png named like an exe keeps the format of its bytes.
    assert.match(images.find((i) => i.name.includes('gnp'))!.file, /-[0-9a-f]{12}\.png$/);

    // The classification is the server's own: logged with every class, under the upload's request.
    await app.server.predictionLog.flush();
    const logged = await app.ws.db
      .selectFrom('predictions')
      .selectAll()
      .where('input_hash', '=', images[0]!.input_hash)
      .executeTakeFirstOrThrow();
    assert.equal(logged.model, 'odd');
    assert.equal(JSON.parse(logged.top_k).length, labels.length);
  });

  it('finds an image already organised when the same bytes come again', async () => {
    const first = images[0]!;
    const { results } = await upload(annotator, [
      { name: 'again.png', bytes: uploaded.get(first.input_hash)! },
    ]);
    assert.equal(results.length, 1);
    const r = results[0]!;
    assert.ok('image' in r && r.duplicate, JSON.stringify(r));
    assert.equal(r.image.id, first.id);
    assert.equal((await list()).length, images.length);
  });

  it('refuses uploads that are not multipart or hold no file', async () => {
    await expectProblem(
      await annotator.request('/api/organiser/images', { method: 'POST', json: { url: 'x' } }),
      415,
      /multipart/,
    );
    await expectProblem(
      await annotator.request('/api/organiser/images', { method: 'POST', body: new FormData() }),
      400,
      /no files/,
    );
  });

  it('counts images per class, with every label the model knows', async () => {
    const r = await json<{
      model: string;
      labels: string[];
      total: number;
      classes: { label: string; folder: string; count: number }[];
    }>(await viewer.request('/api/organiser/classes'));
    assert.equal(r.model, 'odd');
    assert.deepEqual(r.labels, labels);
    assert.equal(r.total, images.length);
    const expected = new Map<string, number>();
    for (const i of images) expected.set(i.label, (expected.get(i.label) ?? 0) + 1);
    assert.deepEqual(new Map(r.classes.map((c) => [c.label, c.count])), expected);
    for (const c of r.classes) assert.equal((await list(c.label)).length, c.count);
  });

  it('serves thumbnails as small WebP images that caches keep', async () => {
    const i = images.find((x) => x.name === 'dog.jpg')!;
    const res = await viewer.request(i.thumbnail);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/webp');
    assert.match(res.headers.get('cache-control') ?? '', /private.*immutable/);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(Math.max(meta.width!, meta.height!), 320);
    const small = await viewer.request(`${i.thumbnail}?size=160`);
    const smallMeta = await sharp(Buffer.from(await small.arrayBuffer())).metadata();
    assert.equal(Math.max(smallMeta.width!, smallMeta.height!), 160);
    const cached = await viewer.request(i.thumbnail, {
      headers: { 'if-none-match': res.headers.get('etag')! },
    });
    assert.equal(cached.status, 304, 'revalidation by ETag renders nothing');
    await expectProblem(await viewer.request(`${i.thumbnail}?size=99`), 400, /size: one of 160, 320, 640/);
    await expectProblem(
      await viewer.request('/api/organiser/images/99999/thumbnail'),
      404,
      /no organised image 99999/,
    );
  });

  it('a correction moves the file and records feedback with its provenance', async () => {
    const before = images.find((i) => i.name === 'dog.jpg')!;
    const label = labels.find((l) => l !== before.label)!;
    const started = Date.now();
    const { image } = await annotator
      .request(`/api/organiser/images/${before.id}`, {
        method: 'PATCH',
        json: { label },
      })
      .then((r) => json<{ image: OrganisedImageView }>(r));
    assert.equal(image.label, label);
    assert.equal(image.corrected, true);
    assert.equal(image.predicted, before.predicted);
    assert.notEqual(image.folder, before.folder);
    assert.equal(image.file, before.file, 'the name stays; the folder changes');
    assert.equal(existsSync(fileOf(before)), false, 'gone from the old folder');
    assert.deepEqual(await readFile(fileOf(image)), uploaded.get(before.input_hash));
    assert.equal(
      (await list(label)).some((i) => i.id === before.id),
      true,
    );

    const [feedback] = await listFeedback(app.ws.db, { inputHash: before.input_hash });
    assert.ok(feedback);
    assert.equal(feedback.actor, ANNOTATOR);
    assert.equal(feedback.channel, 'organiser');
    assert.equal(feedback.action, 'correct');
    assert.equal(feedback.label, label);
    assert.equal(feedback.model, 'odd');
    assert.equal(feedback.version, 1);
    assert.equal(feedback.predicted, before.predicted);
    assert.equal(feedback.confidence, before.probability);
    assert.equal(feedback.inputBlob, before.input_hash);
    assert.deepEqual(
      Buffer.from(await app.ws.blobs.get(feedback.inputBlob!)),
      uploaded.get(before.input_hash),
    );
    assert.ok(Date.parse(feedback.at) >= started - 1000 && Date.parse(feedback.at) <= Date.now());
    // The logged prediction it judged: the same request, input, model and answer.
    assert.ok(feedback.predictionId, 'the prediction was logged before the correction');
    const logged = await app.ws.db
      .selectFrom('predictions')
      .selectAll()
      .where('id', '=', feedback.predictionId)
      .executeTakeFirstOrThrow();
    assert.equal(logged.request_id, feedback.requestId);
    assert.equal(logged.input_hash, before.input_hash);
    assert.equal(logged.predicted, before.predicted);
    assert.equal(logged.confidence, before.probability);
    // Pending for the next dataset version.
    assert.ok((await pendingFeedback(app.ws.db)).some((f) => f.id === feedback.id));

    // Choosing the same label again changes nothing and records nothing.
    await annotator.request(`/api/organiser/images/${before.id}`, { method: 'PATCH', json: { label } });
    assert.equal((await listFeedback(app.ws.db, { inputHash: before.input_hash })).length, 1);
  });

  it('refuses a label the model does not have, and unknown images', async () => {
    const i = images[0]!;
    await expectProblem(
      await annotator.request(`/api/organiser/images/${i.id}`, { method: 'PATCH', json: { label: 'Zebra' } }),
      400,
      /"Zebra" is not a class of model odd; its classes are/,
    );
    await expectProblem(
      await annotator.request(`/api/organiser/images/${i.id}`, { method: 'PATCH', json: {} }),
      400,
      /invalid correction: label/,
    );
    await expectProblem(
      await annotator.request('/api/organiser/images/424242', {
        method: 'PATCH',
        json: { label: labels[0] },
      }),
      404,
      /no organised image 424242/,
    );
    await expectProblem(
      await annotator.request('/api/organiser/relabel', {
        method: 'POST',
        json: { ids: [i.id, 424242], label: labels[0] },
      }),
      404,
      /no organised image 424242/,
    );
    assert.equal((await list()).find((x) => x.id === i.id)!.label, i.label, 'nothing changed');
  });

  it('relabels several images at once, each a decision of its own', async () => {
    const two = images.filter((i) => i.name === 'same.jpg');
    assert.equal(two.length, 2);
    const label = HOSTILE[0]!;
    const r = await json<{ images: OrganisedImageView[] }>(
      await annotator.request('/api/organiser/relabel', {
        method: 'POST',
        json: { ids: two.map((i) => i.id), label },
      }),
    );
    assert.deepEqual(
      r.images.map((i) => i.label),
      [label, label],
    );
    for (const [k, after] of r.images.entries()) {
      assert.equal(existsSync(fileOf(two[k]!)), two[k]!.folder === after.folder);
      assert.deepEqual(await readFile(fileOf(after)), uploaded.get(after.input_hash));
      const [f] = await listFeedback(app.ws.db, { inputHash: after.input_hash });
      assert.equal(f?.label, label);
      assert.equal(f?.action, two[k]!.predicted === label ? 'accept' : 'correct');
    }
    // A class folder for "../../etc" is one safe segment inside the organiser's folder.
    const folder = r.images[0]!.folder;
    assert.equal(path.dirname(path.join(dir, folder)), dir);
    assert.doesNotMatch(folder, /[/\\]/);
  });

  it('downloads everything as one zip, by class, under safe and distinct names', async () => {
    // Every hostile class gets an image, so every folder name is tried.
    const current = await list();
    for (const [k, label] of HOSTILE.entries())
      if (!current.some((i) => i.label === label))
        await annotator.request(`/api/organiser/images/${current[k]!.id}`, {
          method: 'PATCH',
          json: { label },
        });
    const all = await list();
    const res = await viewer.request('/api/organiser/download');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    assert.equal(
      res.headers.get('content-disposition'),
      `attachment; filename="organised.zip"; filename*=UTF-8''organised.zip`,
    );
    const entries = zipEntries(Buffer.from(await res.arrayBuffer()));
    assert.equal(entries.length, all.length);
    const names = entries.map((e) => e.name);
    assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length, 'distinct without case');
    for (const e of entries) {
      const segments = e.name.split('/');
      assert.equal(segments.length, 2, e.name);
      for (const s of segments) {
        assert.ok(s.length > 0 && s !== '.' && s !== '..', JSON.stringify(e.name));
        assert.doesNotMatch(s, /[\\:*?"<>|]/, JSON.stringify(e.name));
        assert.doesNotMatch(s, CONTROL, JSON.stringify(e.name));
      }
      assert.ok(e.utf8 || /^[\x20-\x7e]+$/.test(e.name), 'non-ASCII names are flagged UTF-8');
    }
    // Each image once, in its class's folder, with its bytes.
    for (const i of all) {
      const e = entries.find((x) => sha(x.data) === i.input_hash);
      assert.ok(e, `${i.name} is in the zip`);
      assert.equal(e.name.split('/')[0], i.folder);
    }
    const same = names.filter((n) => /\/same( \(2\))?\.jpg$/.test(n));
    assert.equal(same.length, 2, names.join(', '));
    assert.ok(
      names.some((n) => n.endsWith('/x_y_gnp.exe.png')),
      names.join(', '),
    );

    // One class: only its images; the file name says which.
    const label = HOSTILE[2]!;
    const one = await viewer.request(`/api/organiser/download?label=${encodeURIComponent(label)}`);
    assert.equal(one.status, 200);
    const disposition = one.headers.get('content-disposition') ?? '';
    assert.match(
      disposition,
      /^attachment; filename="organised-[\x20-\x7e]+\.zip"; filename\*=UTF-8''organised-/,
    );
    assert.doesNotMatch(disposition.split(';')[1]!, /[^\x20-\x7e]/);
    const oneEntries = zipEntries(Buffer.from(await one.arrayBuffer()));
    assert.equal(oneEntries.length, all.filter((i) => i.label === label).length);
    await expectProblem(
      await viewer.request('/api/organiser/download?label=Zebra'),
      404,
      /no organised image is labelled "Zebra"/,
    );
  });

  it('lets viewers look and download but not change anything; nobody without a session', async () => {
    const i = images[1]!;
    await expectProblem(
      await viewer.request('/api/organiser/images', {
        method: 'POST',
        body: form([{ name: 'a.png', bytes: uploaded.get(i.input_hash)! }]),
      }),
      403,
      /needs the annotator role/,
    );
    await expectProblem(
      await viewer.request(`/api/organiser/images/${i.id}`, { method: 'PATCH', json: { label: labels[0] } }),
      403,
      /annotator/,
    );
    await expectProblem(
      await viewer.request('/api/organiser/relabel', {
        method: 'POST',
        json: { ids: [i.id], label: labels[0] },
      }),
      403,
      /annotator/,
    );
    await expectProblem(
      await viewer.request(`/api/organiser/images/${i.id}`, { method: 'DELETE' }),
      403,
      /annotator/,
    );
    await expectProblem(
      await viewer.request('/api/organiser/delete', { method: 'POST', json: { ids: [i.id] } }),
      403,
      /annotator/,
    );
    for (const url of [
      '/api/organiser/classes',
      '/api/organiser/images',
      i.thumbnail,
      '/api/organiser/download',
    ])
      await expectProblem(await fetch(`${app.url}${url}`), 401, /sign in/);
    assert.ok(
      (await list()).some((x) => x.id === i.id),
      'still there',
    );
    // An admin may do what an annotator may.
    await createUser(app.ws, { email: 'boss@example.org', password: PASSWORD, role: 'admin' });
    const admin = await WebClient.start(app.url, { email: 'boss@example.org', password: PASSWORD });
    const r = await json<{ image: OrganisedImageView }>(
      await admin.request(`/api/organiser/images/${i.id}`, { method: 'PATCH', json: { label: i.label } }),
    );
    assert.equal(r.image.corrected, true);
  });

  it('deletes: file and record go, the bytes and the history stay, the decision is withdrawn', async () => {
    const all = await list();
    const corrected = all.find((i) => i.name === 'dog.jpg')!;
    const other = all.find((i) => i.name === 'eagle.jpg')!;
    const res = await annotator.request(`/api/organiser/images/${corrected.id}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(existsSync(fileOf(corrected)), false);
    assert.equal(
      (await list()).some((i) => i.id === corrected.id),
      false,
    );
    await expectProblem(await viewer.request(corrected.thumbnail), 404, /no organised image/);
    const history = await listFeedback(app.ws.db, { inputHash: corrected.input_hash });
    assert.deepEqual(
      history.map((f) => f.action),
      ['delete', 'correct'],
    );
    assert.equal(history[0]!.actor, ANNOTATOR);
    assert.equal(history[0]!.channel, 'organiser');
    assert.ok(await app.ws.blobs.has(corrected.input_hash), 'the blob may be shared, so it stays');
    assert.equal(
      (await pendingFeedback(app.ws.db)).some((f) => f.inputHash === corrected.input_hash),
      false,
    );

    const bulk = await json<{ deleted: number }>(
      await annotator.request('/api/organiser/delete', {
        method: 'POST',
        json: { ids: [other.id, other.id] },
      }),
    );
    assert.equal(bulk.deleted, 1);
    assert.equal(existsSync(fileOf(other)), false);
    await expectProblem(
      await annotator.request(`/api/organiser/images/${other.id}`, { method: 'DELETE' }),
      404,
      /no organised image/,
    );
    const zip = zipEntries(
      Buffer.from(await (await viewer.request('/api/organiser/download')).arrayBuffer()),
    );
    assert.equal(zip.length, all.length - 2);
  });

  it('puts the folders right at start-up after a crash mid-move or mid-upload', async () => {
    const all = await list();
    const [moving, missing] = all;
    assert.ok(moving && missing);
    // A crash after the database took a correction but before the rename: the row names its new
    // folder and the one it is leaving, and the file is still in the old one.
    const target = labels.find((l) => l !== moving.label)!;
    await app.ws.db
      .updateTable('organised_images')
      .set({ label: target, class_folder: classFolder(target), moved_from: moving.folder, corrected: 1 })
      .where('id', '=', moving.id)
      .execute();
    // A crash after an upload's row was written but before its file was.
    await rm(fileOf(missing));
    const second = await startServer(
      app.ws,
      {},
      { web: webConfigSchema.parse({ organiser: { model: 'odd' } }) },
    );
    try {
      const fixed = await app.ws.db
        .selectFrom('organised_images')
        .selectAll()
        .where('id', '=', moving.id)
        .executeTakeFirstOrThrow();
      assert.equal(fixed.moved_from, null);
      assert.equal(existsSync(fileOf(moving)), false);
      assert.deepEqual(
        await readFile(path.join(dir, fixed.class_folder, fixed.stored_name)),
        uploaded.get(moving.input_hash),
      );
      assert.deepEqual(await readFile(fileOf(missing)), uploaded.get(missing.input_hash));
    } finally {
      await second.close();
    }
  });
});

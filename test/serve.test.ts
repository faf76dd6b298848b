import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { Classifier } from '../src/inference/classifier.js';
import { readModelFile } from '../src/registry/model-files.js';
import { registerOnnx, registerRun } from '../src/registry/register-model.js';
import { moveAlias, type ModelVersion } from '../src/registry/registry-store.js';
import { createKey, revokeKey } from '../src/serve/api-keys.js';
import { recent } from '../src/serve/prediction-log.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { PROMETHEUS, PROMTOOL, promtool, startPrometheus } from './helpers/prometheus.js';
import { loupeBin } from './helpers/run-cli.js';
import {
  claimedPng,
  expectProblem,
  json,
  LocalSites,
  metricsOf,
  metricValue,
  startServer,
  waitFor,
  type BatchPrediction,
  type LabelProbability,
  type RunningServer,
  type SinglePrediction,
} from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

/**
 * `loupe serve` end to end: real servers on 127.0.0.1, real HTTP from fetch, real models (two
 * tiny scratch CNNs trained here) in the server's inference workers, a real local web server as
 * the upstream of URL inputs, and the real promtool, Prometheus and CLI.
 */

const DOG = '/usr/share/darknet/data/dog.jpg';
const KiB = 1024;
const BODY_LIMIT = 128 * KiB;
const BATCH_ITEMS = 4;
const PROBABILITY_TOLERANCE = 1e-5;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const body = (bytes: Uint8Array) => new Uint8Array(bytes);
const blob = (bytes: Uint8Array, type: string) => new Blob([body(bytes)], { type });

function form(files: { bytes: Uint8Array; name?: string; type?: string }[]): FormData {
  const f = new FormData();
  for (const [i, file] of files.entries())
    f.append('file', blob(file.bytes, file.type ?? 'image/png'), file.name ?? `image${i}.png`);
  return f;
}

const postRaw = (base: string, route: string, bytes: Uint8Array, type = 'image/png', headers = {}) =>
  fetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body: body(bytes),
  });
const postJson = (base: string, route: string, value: unknown, headers = {}) =>
  fetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
const postForm = (base: string, route: string, f: FormData, headers = {}) =>
  fetch(`${base}${route}`, { method: 'POST', body: f, headers });

/** Every class's probability, by label. */
const byLabel = (predictions: LabelProbability[]) =>
  Object.fromEntries(predictions.map((p) => [p.label, p.probability]));

function assertSensible(predictions: LabelProbability[], classes: readonly string[]) {
  assert.equal(predictions.length, classes.length);
  assert.deepEqual(predictions.map((p) => p.label).sort(), [...classes].sort());
  for (let i = 1; i < predictions.length; i++)
    assert.ok(predictions[i - 1]!.probability >= predictions[i]!.probability, 'most probable first');
  const sum = predictions.reduce((a, p) => a + p.probability, 0);
  assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
  for (const p of predictions) assert.ok(p.probability >= 0 && p.probability <= 1, `${p.probability}`);
}

function assertClose(got: Record<string, number>, want: Record<string, number>, tolerance: number) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const [label, p] of Object.entries(want))
    assert.ok(
      Math.abs(got[label]! - p) <= tolerance,
      `${label}: served ${got[label]}, expected ${p} (±${tolerance})`,
    );
}

describe('loupe serve', () => {
  let dir: string;
  let ws: Workspace;
  let runIds: string[];
  let v: ModelVersion[];
  let classes: string[];
  let sites: LocalSites;
  /** Allows URLs on 127.0.0.1, batches for 20 ms, reloads every 200 ms, small body and batch limits. */
  let main: RunningServer;
  /** Keys required, a queue of 2, URLs only on 127.0.0.2 (so 127.0.0.1 is a forbidden target). */
  let guarded: RunningServer;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });
  /** A Fashion-MNIST test image (PNG, 28×28 grey) and a photo to derive other encodings from. */
  let shirt: Buffer;
  let photo: Buffer;
  /** v1's probabilities for `shirt` and `photo`, by Classifier outside the server. */
  let expectedShirt: Record<string, number>;
  let expectedPhoto: Record<string, number>;
  const closers: (() => Promise<unknown>)[] = [];

  async function localProbabilities(version: ModelVersion, images: Uint8Array[]) {
    const classifier = await Classifier.open(await readModelFile(ws.blobs, version));
    try {
      assert.equal(classifier.inputs.kind, 'image');
      if (classifier.inputs.kind !== 'image') throw new Error('unreachable');
      const { x } = await preprocessImages(images, classifier.inputs.preprocessing);
      const { probs } = await classifier.run(x, images.length);
      const k = classifier.classes.length;
      return images.map((_, row) =>
        Object.fromEntries(classifier.classes.map((c, i) => [c, probs[row * k + i]!])),
      );
    } finally {
      await classifier.dispose();
    }
  }

  /** A good request right after a bad one: the server still answers. */
  async function stillServes(server = main, headers = {}) {
    const r = await json<SinglePrediction>(
      await postRaw(server.url, '/v1/models/fm/predict', shirt, 'image/png', headers),
    );
    assert.equal(r.predictions.length, 3);
  }

  before(async () => {
    const started = performance.now();
    ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 12 }));
    ({ runIds, versions: v } = await trainAndRegister(ws, [
      { epochs: 1, seed: 0 },
      { epochs: 1, seed: 1 },
    ]));
    classes = v[0]!.classes;
    await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 1, reason: 'first' });
    const shirtDir = path.join(dir, 'data', classes[0]!);
    shirt = await readFile(path.join(shirtDir, (await readdir(shirtDir)).sort()[0]!));
    photo = await sharp(DOG).resize(64, 48).png().toBuffer();
    [expectedShirt, expectedPhoto] = (await localProbabilities(v[0]!, [shirt, photo])) as [
      Record<string, number>,
      Record<string, number>,
    ];

    sites = await LocalSites.start(['127.0.0.1', '127.0.0.2'], ['::1']);
    closers.push(() => sites.close());
    sites
      .file('/shirt.png', shirt, 'image/png')
      .file('/slow.png', shirt, 'image/png', 150)
      .file('/secret', Buffer.from('the crown jewels'), 'text/plain')
      .redirect('/redirect', sites.url('127.0.0.1', '/secret'));

    token = (await createKey(ws.db, { name: 'tests', ratePerMinute: null, actor: 'test' })).token;
    [main, guarded] = await Promise.all([
      startServer(ws, {
        url: { allow: ['127.0.0.1/32'] },
        limits: { bodyBytes: BODY_LIMIT, batchItems: BATCH_ITEMS },
        batching: { maxWaitMs: 20 },
        reload: { intervalMs: 200 },
      }),
      startServer(ws, {
        auth: { required: true },
        batching: { queueLimit: 2 },
        url: { allow: ['127.0.0.2/32'], timeoutMs: 3000 },
      }),
    ]);
    closers.push(
      () => main.close(),
      () => guarded.close(),
    );
    console.log(`setup: ${Math.round(performance.now() - started)} ms`);
  });

  after(async () => {
    for (const close of closers.reverse()) await close().catch((e: unknown) => console.error(e));
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('endpoints and input forms', () => {
    it('multipart: one file gets predictions, several get results; they match the model', async () => {
      const one = await json<SinglePrediction>(
        await postForm(main.url, '/v1/models/fm/predict', form([{ bytes: shirt }])),
      );
      assert.equal(one.model, 'fm@1');
      assertSensible(one.predictions, classes);
      assertClose(byLabel(one.predictions), expectedShirt, PROBABILITY_TOLERANCE);
      assert.equal(typeof one.latency_ms, 'number');

      const many = await json<BatchPrediction>(
        await postForm(
          main.url,
          '/v1/models/fm/predict',
          form([{ bytes: shirt }, { bytes: photo }, { bytes: shirt, name: 'again.png' }]),
        ),
      );
      assert.equal(many.model, 'fm@1');
      assert.equal(many.results.length, 3);
      const [a, b, c] = many.results.map((r) => {
        assert.ok('predictions' in r, JSON.stringify(r));
        assertSensible(r.predictions, classes);
        return byLabel(r.predictions);
      });
      assertClose(a!, expectedShirt, PROBABILITY_TOLERANCE);
      assertClose(b!, expectedPhoto, PROBABILITY_TOLERANCE);
      assertClose(c!, expectedShirt, PROBABILITY_TOLERANCE);
    });

    it('raw bytes, image_base64 (plain and as a data: URL), and a URL on an allowed host', async () => {
      const raw = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/fm/predict', photo));
      assertClose(byLabel(raw.predictions), expectedPhoto, PROBABILITY_TOLERANCE);
      const octets = await json<SinglePrediction>(
        await postRaw(main.url, '/v1/models/fm/predict', photo, 'application/octet-stream'),
      );
      assertClose(byLabel(octets.predictions), expectedPhoto, PROBABILITY_TOLERANCE);

      const b64 = shirt.toString('base64');
      for (const image_base64 of [b64, `data:image/png;base64,${b64}`]) {
        const r = await json<SinglePrediction>(
          await postJson(main.url, '/v1/models/fm/predict', { image_base64 }),
        );
        assertClose(byLabel(r.predictions), expectedShirt, PROBABILITY_TOLERANCE);
      }

      const before = sites.hitsOn('/shirt.png').length;
      const url = sites.url('127.0.0.1', '/shirt.png');
      const fetched = await json<SinglePrediction>(
        await postJson(main.url, '/v1/models/fm/predict', { url }),
      );
      assertClose(byLabel(fetched.predictions), expectedShirt, PROBABILITY_TOLERANCE);
      assert.equal(sites.hitsOn('/shirt.png').length, before + 1);

      // Without the allow-list entry, the same URL is a loopback address: refused, never fetched.
      const refused = await expectProblem(
        await postJson(guarded.url, '/v1/models/fm/predict', { url }, auth()),
        400,
        /refusing to fetch http:\/\/127\.0\.0\.1:\d+\/shirt\.png: 127\.0\.0\.1 is a loopback address \(allow it with serve\.url\.allow\)/,
      );
      assert.equal(refused.code, 'INVALID_ARGUMENT');
      assert.equal(sites.hitsOn('/shirt.png').length, before + 1);
    });

    it('a JSON batch answers the good instances and gives each bad one its own problem', async () => {
      const r = await json<BatchPrediction>(
        await postJson(main.url, '/v1/models/fm/predict', {
          instances: [
            { image_base64: shirt.toString('base64') },
            { image_base64: 'this is *not* base64!' },
            { url: sites.url('127.0.0.1', '/missing.png') },
            { image_base64: Buffer.from('just some text, no image').toString('base64') },
          ],
        }),
      );
      assert.equal(r.results.length, 4);
      const [good, notBase64, missing, text] = r.results;
      assert.ok(good && 'predictions' in good);
      assertClose(byLabel(good.predictions), expectedShirt, PROBABILITY_TOLERANCE);
      const problem = (x: (typeof r.results)[number] | undefined) => {
        assert.ok(x && 'error' in x, JSON.stringify(x));
        return x.error;
      };
      assert.deepEqual(
        [problem(notBase64), problem(missing), problem(text)].map((e) => [e.status, e.code]),
        [
          [400, 'INVALID_ARGUMENT'],
          [400, 'INVALID_ARGUMENT'],
          [415, 'UNSUPPORTED_MEDIA'],
        ],
      );
      assert.match(problem(notBase64).detail, /not valid base64/);
      assert.match(problem(missing).detail, /HTTP 404/);
      assert.match(problem(text).detail, /the upload is text/);
      for (const e of [problem(notBase64), problem(missing), problem(text)]) {
        assert.equal(e.instance, '/v1/models/fm/predict');
        assert.ok(e.type.startsWith('https://') && e.title && e.request_id);
      }
    });

    it('models by name@version, name:alias (encoded or not), and unknown ones (404)', async () => {
      const pinned = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/fm@2/predict', shirt));
      assert.equal(pinned.model, 'fm@2');
      const [expected2] = await localProbabilities(v[1]!, [shirt]);
      assertClose(byLabel(pinned.predictions), expected2!, PROBABILITY_TOLERANCE);
      for (const route of ['/v1/models/fm%3Achampion/predict', '/v1/models/fm:champion/predict']) {
        const aliased = await json<SinglePrediction>(await postRaw(main.url, route, shirt));
        assert.equal(aliased.model, 'fm@1');
      }
      assert.equal(
        (
          await json<SinglePrediction>(
            await postRaw(main.url, `/v1/models/${encodeURIComponent('fm@1')}/predict`, shirt),
          )
        ).model,
        'fm@1',
      );
      await expectProblem(await postRaw(main.url, '/v1/models/nope/predict', shirt), 404, /nope/);
      await expectProblem(await postRaw(main.url, '/v1/models/fm@9/predict', shirt), 404, /9/);
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm:staging/predict', shirt),
        404,
        /no alias "staging"/,
      );
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm@x/predict', shirt),
        400,
        /a version is a number/,
      );
      await expectProblem(await fetch(`${main.url}/v2/nothing`), 404, /no route GET \/v2\/nothing/);
    });

    it('?top_k', async () => {
      const two = await json<SinglePrediction>(
        await postRaw(main.url, '/v1/models/fm/predict?top_k=2', shirt),
      );
      assert.equal(two.predictions.length, 2);
      const one = await json<SinglePrediction>(
        await postRaw(main.url, '/v1/models/fm/predict?top_k=1', shirt),
      );
      assert.deepEqual(one.predictions[0], two.predictions[0]);
      const best = Object.entries(expectedShirt).sort((a, b) => b[1] - a[1])[0]!;
      assert.equal(one.predictions[0]!.label, best[0]);
      await expectProblem(await postRaw(main.url, '/v1/models/fm/predict?top_k=0', shirt), 400, /top_k/);
      await expectProblem(await postRaw(main.url, '/v1/models/fm/predict?top_k=many', shirt), 400, /top_k/);
    });

    it('POST /predict: a file, ?url=, JSON; one image only', async () => {
      const best = Object.entries(expectedShirt).sort((a, b) => b[1] - a[1])[0]!;
      type Plain = SinglePrediction & { label: string; probability: number };
      const answers: Plain[] = [
        await json<Plain>(await postForm(main.url, '/predict', form([{ bytes: shirt }]))),
        await json<Plain>(
          await fetch(`${main.url}/predict?url=${encodeURIComponent(sites.url('127.0.0.1', '/shirt.png'))}`, {
            method: 'POST',
          }),
        ),
        await json<Plain>(await postJson(main.url, '/predict', { image_base64: shirt.toString('base64') })),
        await json<Plain>(
          await postJson(main.url, '/predict', { url: sites.url('127.0.0.1', '/shirt.png') }),
        ),
        await json<Plain>(await postRaw(main.url, '/predict?top_k=1', shirt)),
      ];
      for (const a of answers) {
        assert.equal(a.model, 'fm@1');
        assert.equal(a.label, best[0]);
        assert.ok(Math.abs(a.probability - best[1]) <= PROBABILITY_TOLERANCE);
      }
      assert.equal(answers[0]!.predictions.length, 3);
      assert.equal(answers[4]!.predictions.length, 1);
      await expectProblem(
        await postForm(main.url, '/predict', form([{ bytes: shirt }, { bytes: shirt }])),
        400,
        /\/predict takes one image/,
      );
      await expectProblem(
        await fetch(`${main.url}/predict`, { method: 'POST' }),
        400,
        /no image in the request/,
      );
      await expectProblem(
        await postJson(main.url, '/predict', { picture: 'x' }),
        400,
        /invalid request body: send JSON \{"url": …\}, \{"image_base64": …\} or \{"instances": \[ … \]\}/,
      );
      await expectProblem(
        await postRaw(main.url, '/predict', Buffer.from('{"url": '), 'application/json'),
        400,
        /JSON/i,
      );
    });

    it('GET /health, /healthz, /readyz, /metrics, /openapi.json, /docs', async () => {
      assert.deepEqual(await json(await fetch(`${main.url}/healthz`)), { status: 'ok' });
      const health = await json<{ status: string; models: string[] }>(await fetch(`${main.url}/health`));
      assert.equal(health.status, 'ok');
      assert.ok(health.models.includes('fm@1'), JSON.stringify(health));
      const ready = await json<{
        ready: boolean;
        database: string;
        models: { selector: string; version: string }[];
      }>(await fetch(`${main.url}/readyz`));
      assert.equal(ready.ready, true);
      assert.equal(ready.database, 'ok');
      assert.ok(
        ready.models.some((m) => m.selector === 'fm:champion' && m.version === 'fm@1'),
        JSON.stringify(ready),
      );

      const metrics = await metricsOf(main.url);
      assert.ok((metricValue(metrics, 'loupe_predictions_total', { model: 'fm', version: '1' }) ?? 0) > 0);
      assert.ok(
        (metricValue(metrics, 'loupe_http_requests_total', {
          route: '/v1/models/:model/predict',
          status: '200',
        }) ?? 0) > 0,
      );
      assert.equal(
        metricValue(metrics, 'loupe_model_info', { model: 'fm', version: '1', selector: 'fm:champion' }),
        1,
      );

      const openapi = await json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
        await fetch(`${main.url}/openapi.json`),
      );
      assert.match(openapi.openapi, /^3\.\d+\.\d+$/);
      assert.ok(openapi.paths['/v1/models/{model}/predict']?.post, Object.keys(openapi.paths).join(', '));
      assert.ok(openapi.paths['/predict']?.post);
      for (const p of ['/healthz', '/readyz', '/health', '/metrics']) assert.ok(openapi.paths[p]?.get, p);

      const docs = await fetch(`${main.url}/docs`);
      assert.equal(docs.status, 200);
      assert.match(docs.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await docs.text(), /swagger/i);
    });
  });

  describe('bad inputs are 4xx problems, and the server keeps serving', () => {
    let dog: Buffer;
    before(async () => {
      dog = await readFile(DOG);
    });

    it('a truncated JPEG', async () => {
      const half = dog.subarray(0, dog.length >> 1);
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', half, 'image/jpeg'),
        400,
        /the image\/jpeg image cannot be (decoded|read)/,
      );
      await stillServes();
    });

    it('zero bytes, raw and as a file', async () => {
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', Buffer.alloc(0)),
        400,
        /empty \(0 bytes\)|no image/,
      );
      await expectProblem(
        await postForm(main.url, '/v1/models/fm/predict', form([{ bytes: Buffer.alloc(0) }])),
        400,
        /empty \(0 bytes\)/,
      );
      await stillServes();
    });

    it('a text file named x.jpg', async () => {
      await expectProblem(
        await postForm(
          main.url,
          '/v1/models/fm/predict',
          form([{ bytes: Buffer.from('name,label\na.jpg,cat\n'), name: 'x.jpg', type: 'image/jpeg' }]),
        ),
        415,
        /the upload is text; send a JPEG, PNG/,
      );
      await stillServes();
    });

    it('a 50000×50000 PNG is refused from its header, quickly (413)', async () => {
      const bomb = claimedPng(50_000, 50_000);
      assert.ok(bomb.length < 200);
      const meta = await sharp(bomb, { limitInputPixels: false }).metadata();
      assert.deepEqual([meta.width, meta.height], [50_000, 50_000], 'sharp reads the crafted header');
      const t = performance.now();
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', bomb),
        413,
        /the image is 50000×50000 \(2500\.0 megapixels\); the limit is 40\.0 megapixels/,
      );
      const ms = performance.now() - t;
      assert.ok(ms < 2000, `refused in ${ms} ms`);
      await stillServes();
    });

    it('an SVG referencing a URL: refused (415), the URL never fetched', async () => {
      const secret = sites.url('127.0.0.1', '/secret');
      const svg = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image href="${secret}" width="64" height="64"/></svg>`,
      );
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', svg, 'image/svg+xml'),
        415,
        /an SVG drawing/,
      );
      await expectProblem(
        await postForm(
          main.url,
          '/v1/models/fm/predict',
          form([{ bytes: svg, name: 'a.png', type: 'image/png' }]),
        ),
        415,
        /an SVG drawing/,
      );
      const xml = Buffer.concat([Buffer.from('<?xml version="1.0"?>\n'), svg]);
      await expectProblem(
        await postJson(main.url, '/v1/models/fm/predict', { image_base64: xml.toString('base64') }),
        415,
        /an SVG drawing/,
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(sites.hitsOn('/secret'), []);
      await stillServes();
    });

    it('a text/plain body (415)', async () => {
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', Buffer.from('hello'), 'text/plain'),
        415,
        /send multipart\/form-data with an image file/,
      );
      await stillServes();
    });

    it('a body over limits.bodyBytes (413), raw, as JSON and as a file', async () => {
      const big = Buffer.concat([photo, Buffer.alloc(200 * KiB - photo.length)]);
      await expectProblem(
        await postRaw(main.url, '/v1/models/fm/predict', big),
        413,
        /larger than the server accepts/,
      );
      await stillServes();
      await expectProblem(
        await postJson(main.url, '/v1/models/fm/predict', { image_base64: big.toString('base64') }),
        413,
        /larger than the server accepts/,
      );
      await stillServes();
      await expectProblem(
        await postForm(main.url, '/v1/models/fm/predict', form([{ bytes: big }])),
        413,
        /larger than the server accepts/,
      );
      await stillServes();
      // Files each under the limit that together exceed it.
      const part = Buffer.concat([photo, Buffer.alloc(50 * KiB - photo.length)]);
      assert.ok(3 * part.length > BODY_LIMIT && part.length < BODY_LIMIT);
      await expectProblem(
        await postForm(
          main.url,
          '/v1/models/fm/predict',
          form([{ bytes: part }, { bytes: part }, { bytes: part }]),
        ),
        413,
        /larger than the server accepts/,
      );
      await stillServes();
      const two = await json<BatchPrediction>(
        await postForm(main.url, '/v1/models/fm/predict', form([{ bytes: part }, { bytes: part }])),
      );
      for (const r of two.results) {
        assert.ok('predictions' in r, JSON.stringify(r));
        assertClose(byLabel(r.predictions), expectedPhoto, PROBABILITY_TOLERANCE);
      }
    });

    it('more images than limits.batchItems (413)', async () => {
      const files = Array.from({ length: BATCH_ITEMS + 1 }, () => ({ bytes: shirt }));
      await expectProblem(
        await postForm(main.url, '/v1/models/fm/predict', form(files)),
        413,
        /too many files|at most 4 images/,
      );
      await stillServes();
      const instances = files.map(() => ({ image_base64: shirt.toString('base64') }));
      await expectProblem(
        await postJson(main.url, '/v1/models/fm/predict', { instances }),
        413,
        /at most 4 images per request/,
      );
      await stillServes();
      // Exactly the limit is fine.
      const ok = await json<BatchPrediction>(
        await postForm(main.url, '/v1/models/fm/predict', form(files.slice(0, BATCH_ITEMS))),
      );
      assert.equal(ok.results.length, BATCH_ITEMS);
    });
  });

  describe('unusual but valid images are answered like the offline path answers them', () => {
    const variants: Record<string, [type: string, make: () => Promise<Buffer>]> = {
      'an animated GIF (its first frame)': [
        'image/gif',
        async () => {
          const frames = [photo, await sharp(photo).negate().png().toBuffer(), photo];
          return sharp(frames, { join: { animated: true } })
            .gif()
            .toBuffer();
        },
      ],
      'a CMYK JPEG': [
        'image/jpeg',
        () => sharp(photo).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
      ],
      'a 16-bit PNG': ['image/png', () => sharp(photo).toColourspace('rgb16').png().toBuffer()],
      'a PNG with alpha': ['image/png', () => sharp(photo).ensureAlpha(0.5).png().toBuffer()],
      'an EXIF-rotated JPEG': [
        'image/jpeg',
        // Stored turned a quarter anticlockwise; orientation 6 tells the viewer to turn it back.
        () => sharp(photo).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer(),
      ],
    };

    for (const [what, [type, make]] of Object.entries(variants))
      it(what, async () => {
        const bytes = await make();
        const meta = await sharp(bytes).metadata();
        if (what.includes('GIF')) assert.equal(meta.pages, 3);
        if (what.includes('CMYK')) assert.equal(meta.space, 'cmyk');
        if (what.includes('16-bit')) assert.equal(meta.depth, 'ushort');
        if (what.includes('alpha')) assert.equal(meta.hasAlpha, true);
        if (what.includes('EXIF')) assert.deepEqual([meta.orientation, meta.width, meta.height], [6, 48, 64]);
        const r = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/fm/predict', bytes, type));
        assertSensible(r.predictions, classes);
        const [expected] = await localProbabilities(v[0]!, [bytes]);
        assertClose(byLabel(r.predictions), expected!, PROBABILITY_TOLERANCE);
        if (!what.includes('CMYK') && !what.includes('alpha'))
          // The same picture as the plain PNG, give or take lossy encoding: about the same answer.
          assertClose(byLabel(r.predictions), expectedPhoto, 0.03);
      });
  });

  describe('URL inputs cannot reach what the server can reach (SSRF)', () => {
    const forbidden = (): [string, RegExp][] => [
      [sites.url('127.0.0.1', '/secret'), /127\.0\.0\.1 is a loopback address/],
      [`http://localhost:${sites.port('127.0.0.1')}/secret`, /localhost resolves to a loopback address/],
      // Refused before connecting, so the target need not exist (on hosts without IPv6).
      [
        sites.has('::1') ? sites.url('::1', '/secret') : `http://[::1]:${sites.port('127.0.0.1')}/secret`,
        /::1 is a loopback address/,
      ],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata address/],
      ['http://10.0.0.1/image.png', /10\.0\.0\.1 is a private-network address/],
      [`http://0x7f.1:${sites.port('127.0.0.1')}/secret`, /127\.0\.0\.1 is a loopback address/],
      ['file:///etc/passwd', /unsupported scheme file: \(only http and https\)/],
      [
        sites.url('127.0.0.2', '/redirect'),
        /redirected to http:\/\/127\.0\.0\.1:\d+\/secret\): 127\.0\.0\.1 is a loopback address/,
      ],
    ];

    it('refuses each with 400 and says why; the forbidden target sees no request', async () => {
      const cases = forbidden();
      for (const [url, why] of cases) {
        const p = await expectProblem(
          await postJson(guarded.url, '/v1/models/fm/predict', { url }, auth()),
          400,
          why,
        );
        assert.equal(p.code, 'INVALID_ARGUMENT');
      }
      // The same through /predict?url= and in a batch.
      await expectProblem(
        await fetch(`${guarded.url}/predict?url=${encodeURIComponent(cases[0]![0])}`, {
          method: 'POST',
          headers: auth(),
        }),
        400,
        cases[0]![1],
      );
      const batch = await json<BatchPrediction>(
        await postJson(
          guarded.url,
          '/v1/models/fm/predict',
          { instances: cases.slice(0, 4).map(([url]) => ({ url })) },
          auth(),
        ),
      );
      batch.results.forEach((r, i) => {
        assert.ok('error' in r);
        assert.match(r.error.detail, cases[i]![1]);
      });
      assert.deepEqual(sites.hitsOn('/secret'), [], 'the forbidden target was never asked');
      assert.deepEqual(
        sites.hitsOn('/redirect').map((h) => h.local),
        ['127.0.0.2'],
        'the allowed host was asked, once',
      );
      await stillServes(guarded, auth());
    });
  });

  describe('micro-batching and the queue bound', () => {
    it('concurrent single-image requests share batches', async () => {
      const before = await metricsOf(main.url);
      const sum0 = metricValue(before, 'loupe_batch_size_sum', { model: 'fm' }) ?? 0;
      const count0 = metricValue(before, 'loupe_batch_size_count', { model: 'fm' }) ?? 0;
      const answers = await Promise.all(
        Array.from({ length: 16 }, () =>
          postRaw(main.url, '/v1/models/fm/predict', shirt).then((r) => json<SinglePrediction>(r)),
        ),
      );
      for (const a of answers) assertClose(byLabel(a.predictions), expectedShirt, PROBABILITY_TOLERANCE);
      const after = await metricsOf(main.url);
      const images = (metricValue(after, 'loupe_batch_size_sum', { model: 'fm' }) ?? 0) - sum0;
      const batches = (metricValue(after, 'loupe_batch_size_count', { model: 'fm' }) ?? 0) - count0;
      assert.equal(images, 16);
      assert.ok(images / batches > 1, `${images} images in ${batches} batches`);
    });

    it('beyond queueLimit, requests are refused with 503 and Retry-After; none is lost', async () => {
      const n = 64;
      const responses = await Promise.all(
        Array.from({ length: n }, () =>
          postRaw(guarded.url, '/v1/models/fm/predict', shirt, 'image/png', auth()),
        ),
      );
      const statuses = responses.map((r) => r.status);
      assert.equal(statuses.length, n);
      assert.ok(
        statuses.every((s) => s === 200 || s === 503),
        statuses.join(' '),
      );
      const refused = responses.filter((r) => r.status === 503);
      assert.ok(refused.length > 0, 'some requests were refused');
      assert.ok(refused.length < n, 'some requests were answered');
      for (const r of responses) {
        if (r.status === 200) assert.equal((await json<SinglePrediction>(r)).predictions.length, 3);
        else {
          assert.equal(r.headers.get('retry-after'), '1');
          const p = await expectProblem(r, 503, /at capacity \(2 requests waiting\); retry shortly/);
          assert.equal(p.code, 'OVERLOADED');
        }
      }
      await stillServes(guarded, auth());
    });
  });

  describe('API keys', () => {
    it('401 without a key or with a bad or revoked one, 403 without the scope, 200 with a good one', async () => {
      const url = '/v1/models/fm/predict';
      await expectProblem(await postRaw(guarded.url, url, shirt), 401, /an API key is required/);
      await expectProblem(await postRaw(guarded.url, '/predict', shirt), 401, /an API key is required/);
      await expectProblem(
        await postRaw(guarded.url, url, shirt, 'image/png', {
          authorization: 'Bearer loupe_0123456789abcdef_nope',
        }),
        401,
        /not valid/,
      );
      await expectProblem(
        await postRaw(guarded.url, url, shirt, 'image/png', { authorization: `Bearer ${token}x` }),
        401,
        /not valid/,
      );
      const revoked = await createKey(ws.db, { name: 'revoked', actor: 'test' });
      await revokeKey(ws.db, revoked.key.id);
      await expectProblem(
        await postRaw(guarded.url, url, shirt, 'image/png', { authorization: `Bearer ${revoked.token}` }),
        401,
        /not valid/,
      );
      const feedback = await createKey(ws.db, { name: 'feedback-only', scopes: ['feedback'], actor: 'test' });
      await expectProblem(
        await postRaw(guarded.url, url, shirt, 'image/png', { 'x-api-key': feedback.token }),
        403,
        /the API key "feedback-only" lacks the "predict" scope/,
      );
      // Both headers, and a JSON body: authentication does not depend on the body's form.
      await json(await postRaw(guarded.url, url, shirt, 'image/png', { authorization: `Bearer ${token}` }));
      await json(await postRaw(guarded.url, url, shirt, 'image/png', { 'x-api-key': token }));
      await json(
        await postJson(guarded.url, url, { image_base64: shirt.toString('base64') }, { 'x-api-key': token }),
      );
      await json(await postForm(guarded.url, url, form([{ bytes: shirt }]), { 'x-api-key': token }));
      // Health and metrics stay open for probes and scrapers.
      await json(await fetch(`${guarded.url}/readyz`));
      // (Bodies are always read: an unread response keeps its connection busy, and app.close() waits for it.)
      assert.match(await metricsOf(guarded.url), /loupe_http_requests_total/);
    });

    it('a key over its rate per minute gets 429 with Retry-After', async () => {
      const limited = await createKey(ws.db, { name: 'slow', ratePerMinute: 3, actor: 'test' });
      const headers = { authorization: `Bearer ${limited.token}` };
      // One budget across routes: two requests here and one on /predict use it up.
      for (let i = 0; i < 2; i++)
        await json(await postRaw(guarded.url, '/v1/models/fm/predict', shirt, 'image/png', headers));
      await json(await postRaw(guarded.url, '/predict', shirt, 'image/png', headers));
      await expectProblem(
        await postRaw(guarded.url, '/predict', shirt, 'image/png', headers),
        429,
        /rate limit/i,
      );
      const r = await postRaw(guarded.url, '/v1/models/fm/predict', shirt, 'image/png', headers);
      const retryAfter = Number(r.headers.get('retry-after'));
      const p = await expectProblem(r, 429, /rate limit/i);
      assert.equal(p.code, 'RATE_LIMITED');
      // The limiter's own Retry-After (seconds until its minute ends), not a generic "1".
      assert.ok(retryAfter > 1 && retryAfter <= 60, `Retry-After ${r.headers.get('retry-after')}`);
      // Other keys are not affected.
      await stillServes(guarded, auth());
    });
  });

  describe('prediction log', () => {
    it('records model, version, input hash, top-k, embedding and caller', async () => {
      const { key, token: logged } = await createKey(ws.db, { name: 'logged', actor: 'test' });
      const ids = { keyed: `log-keyed-${Date.now()}`, anonymous: `log-anon-${Date.now()}` };
      await json(
        await postRaw(main.url, '/v1/models/fm/predict', shirt, 'image/png', {
          authorization: `Bearer ${logged}`,
          'x-request-id': ids.keyed,
        }),
      );
      await json(
        await postRaw(main.url, '/v1/models/fm/predict', photo, 'image/png', {
          'x-request-id': ids.anonymous,
        }),
      );
      await main.predictionLog.flush();
      const rows = await ws.db
        .selectFrom('predictions')
        .selectAll()
        .where('request_id', 'in', [ids.keyed, ids.anonymous])
        .orderBy('id')
        .execute();
      assert.equal(rows.length, 2);
      const [keyed, anonymous] = rows as [(typeof rows)[number], (typeof rows)[number]];
      assert.equal(keyed.model, 'fm');
      assert.equal(keyed.version, 1);
      assert.equal(keyed.source, 'upload');
      assert.equal(keyed.input_hash, sha256(shirt));
      assert.equal(anonymous.input_hash, sha256(photo));
      assert.equal(keyed.caller, key.id);
      assert.equal(anonymous.caller, 'anonymous');
      const topK = JSON.parse(keyed.top_k) as LabelProbability[];
      assert.equal(topK.length, 3);
      assertClose(byLabel(topK), expectedShirt, PROBABILITY_TOLERANCE);
      assert.equal(keyed.predicted, topK[0]!.label);
      assert.ok(
        keyed.embedding && keyed.embedding.length > 0 && keyed.embedding.length % 4 === 0,
        'an embedding',
      );
      assert.equal(keyed.embedding.length, anonymous.embedding?.length);
      const latest = await recent(ws.db, { model: 'fm', limit: 500 });
      assert.ok(latest.some((r) => r.requestId === ids.keyed && r.caller === key.id));
      // The metric counts what the log wrote, under its own outcome.
      const metrics = await metricsOf(main.url);
      assert.equal(
        metricValue(metrics, 'loupe_prediction_log_total', { outcome: 'recorded' }),
        main.predictionLog.stats.recorded,
      );
      assert.equal(metricValue(metrics, 'loupe_prediction_log_total', { outcome: 'dropped' }) ?? 0, 0);
    });
  });

  describe('Prometheus', () => {
    it(
      'promtool check metrics passes',
      { skip: existsSync(PROMTOOL) ? false : `no ${PROMTOOL}` },
      async () => {
        const result = await promtool(['check', 'metrics'], await metricsOf(main.url));
        assert.equal(result.code, 0, result.out);
      },
    );

    it(
      'a real Prometheus scrapes the server',
      { skip: existsSync(PROMETHEUS) ? false : `no ${PROMETHEUS}` },
      async () => {
        const target = new URL(main.url).host;
        const prometheus = await startPrometheus(
          `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loupe\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['${target}']\n`,
        );
        try {
          const up = await waitFor(
            'Prometheus to scrape the server',
            async () => {
              const result = await prometheus.query('up{job="loupe"}');
              return result.length && result[0]!.value[1] === '1' ? result : undefined;
            },
            { timeoutMs: 20_000, everyMs: 250 },
          ).catch((e: Error) => assert.fail(`${e.message}\n${prometheus.log()}`));
          assert.equal(up[0]!.metric.instance, target);
          const requests = await prometheus.query('loupe_http_requests_total');
          assert.ok(requests.length > 0, 'loupe_http_requests_total has series');
          assert.ok(
            requests.some((s) => s.metric.route === '/v1/models/:model/predict' && Number(s.value[1]) > 0),
          );
        } finally {
          await prometheus.stop();
        }
      },
    );
  });

  describe('hot reload', () => {
    it('promoting a version under load loses no request; both versions answer, then the new one', async () => {
      const loadedBefore =
        metricValue(await metricsOf(main.url), 'loupe_model_reloads_total', { result: 'loaded' }) ?? 0;
      const versions = new Map<string, number>();
      const failures: string[] = [];
      let done = 0;
      let promoted: Promise<unknown> | undefined;
      const slowUrl = sites.url('127.0.0.1', '/slow.png');
      const oneRequest = async (i: number) => {
        // A quarter fetch a URL that answers slowly: some are mid-fetch when the version swaps.
        const r =
          i % 4 === 0
            ? await postJson(main.url, '/v1/models/fm/predict', { url: slowUrl })
            : await postRaw(main.url, '/v1/models/fm/predict', shirt);
        const text = await r.text();
        if (r.status !== 200) failures.push(`${r.status} ${text}`);
        else {
          const model = (JSON.parse(text) as SinglePrediction).model;
          versions.set(model, (versions.get(model) ?? 0) + 1);
        }
        if (++done === 40)
          promoted = moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 2, reason: 'under load' });
      };
      // At least 300 requests, and on until the new version has answered a few dozen.
      let issued = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (
            (issued < 300 || (versions.get('fm@2') ?? 0) < 32) &&
            issued < 3000 &&
            performance.now() - started < 30_000
          )
            await oneRequest(issued++);
        }),
      );
      await promoted;
      assert.deepEqual(failures, [], 'every request answered 200');
      assert.ok(done >= 300, `${done} requests`);
      assert.ok(
        (versions.get('fm@1') ?? 0) > 0 && (versions.get('fm@2') ?? 0) > 0,
        JSON.stringify([...versions]),
      );
      assert.deepEqual([...versions.keys()].sort(), ['fm@1', 'fm@2']);
      console.log(`hot reload: ${done} requests in ${Math.round(performance.now() - started)} ms`, [
        ...versions,
      ]);

      const now = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/fm/predict', shirt));
      assert.equal(now.model, 'fm@2');
      const metrics = await metricsOf(main.url);
      assert.ok(
        (metricValue(metrics, 'loupe_model_reloads_total', { model: 'fm', result: 'loaded' }) ?? 0) >
          loadedBefore,
      );
      assert.equal(
        metricValue(metrics, 'loupe_model_info', { model: 'fm', selector: 'fm:champion', version: '2' }),
        1,
      );
      assert.equal(
        metricValue(metrics, 'loupe_model_info', { model: 'fm', selector: 'fm:champion', version: '1' }),
        undefined,
      );
    });

    it('a version that fails its self-test is refused; the old one keeps answering', async () => {
      // An ONNX classifier from elsewhere whose preprocessing is wrong for it: std 0 turns every
      // pixel into ±Infinity, so it loads (and registers: the import probe feeds zeros) but
      // answers NaN for any real image.
      const elsewhere = await mkdtemp(path.join(tmpdir(), 'loupe-elsewhere-'));
      closers.push(() => rm(elsewhere, { recursive: true, force: true }));
      const file = path.join(elsewhere, 'model.onnx');
      await writeFile(file, await readModelFile(ws.blobs, v[1]!));
      const pre = v[1]!.inputs.kind === 'image' ? v[1]!.inputs.preprocessing : assert.fail('an image model');
      // A wrong size cannot even be registered: the import probe runs the model at that size.
      await assert.rejects(
        registerOnnx(ws, file, {
          name: 'fm',
          labels: classes,
          output: 'logits',
          preprocessing: { ...pre, width: 32, height: 32 },
        }),
        /does not fit the model's input/,
      );
      const broken = await registerOnnx(ws, file, {
        name: 'fm',
        labels: classes,
        output: 'logits',
        preprocessing: { ...pre, std: [0, 0, 0] },
      });
      const bad = broken.version.version;
      assert.equal(bad, 3);
      await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: bad, reason: 'a broken import' });
      try {
        const readiness = await waitFor(
          'the refusal in /readyz',
          async () => {
            const r = await json<{ refused: { version: string; reason: string }[] }>(
              await fetch(`${main.url}/readyz`),
            );
            return r.refused.length ? r : undefined;
          },
          { timeoutMs: 15_000, everyMs: 100 },
        );
        assert.deepEqual(
          readiness.refused.map((r) => r.version),
          ['fm@3'],
        );
        assert.match(readiness.refused[0]!.reason, /self-test failed: 3 probabilities summing to NaN/);
        // A few more reload intervals: the refusal is not retried, fm@2 keeps answering.
        await new Promise((r) => setTimeout(r, 600));
        for (let i = 0; i < 3; i++) {
          const r = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/fm/predict', shirt));
          assert.equal(r.model, 'fm@2');
        }
        const ready = await json<{
          ready: boolean;
          refused: unknown[];
          models: { selector: string; version: string }[];
        }>(await fetch(`${main.url}/readyz`));
        assert.equal(ready.ready, true);
        assert.equal(ready.refused.length, 1);
        assert.ok(ready.models.some((m) => m.selector === 'fm:champion' && m.version === 'fm@2'));
        const metrics = await metricsOf(main.url);
        assert.equal(
          metricValue(metrics, 'loupe_model_reloads_total', { model: 'fm', result: 'refused' }),
          1,
        );
        // Asked for by number, it is refused too, with the reason.
        await expectProblem(
          await postRaw(main.url, '/v1/models/fm@3/predict', shirt),
          400,
          /self-test failed/,
        );
      } finally {
        await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 2, reason: 'back' });
      }
    });
  });

  describe('the CLI', () => {
    it('loupe serve --port 0 starts, answers /healthz, and stops cleanly on SIGTERM', async () => {
      assert.ok(
        existsSync(new URL('../dist/cli/main.js', import.meta.url)),
        'build first: npx tsc -p tsconfig.json',
      );
      const child = spawn(process.execPath, [loupeBin, 'serve', '--port', '0', '--threads', '1'], {
        cwd: dir,
        env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          child.stderr.on('data', (d: Buffer) => {
            stderr += d.toString();
            const m = / at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
            if (m) resolve(m[1]!);
          });
          void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
        });
        assert.match(stderr, /serving fm@2 at http:\/\/127\.0\.0\.1:\d+ — web app/);
        assert.deepEqual(await json(await fetch(`${url}/healthz`)), { status: 'ok' });
        const r = await json<SinglePrediction>(await postRaw(url, '/predict', shirt));
        assert.equal(r.model, 'fm@2');
        child.kill('SIGTERM');
        const code = await exited;
        assert.equal(code, 0, `exit code ${code}\n${stderr}\n${stdout.slice(-2000)}`);
        assert.match(stderr, /SIGTERM: finishing requests in flight, then stopping/);
        // Logs are JSON lines, one per request, with the request id.
        const lines = stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.ok(lines.some((l) => l.msg === 'request' && l.url === '/healthz' && l.request_id));
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });

  describe('several models, and none', () => {
    it('POST /predict needs a default when several models are registered', async () => {
      await registerRun(ws, runIds[0]!, { name: 'other', reason: 'a second model' });
      await expectProblem(
        await postRaw(main.url, '/predict', shirt),
        400,
        /several models are registered \(fm, other\); use \/v1\/models\/\{name\}\/predict or start loupe serve --model NAME/,
      );
      const r = await json<SinglePrediction>(await postRaw(main.url, '/v1/models/other/predict', shirt));
      assert.equal(r.model, 'other@1');
      await stillServes();
    });

    it('a workspace without a model is alive but not ready (503)', async () => {
      const emptyDir = await mkdtemp(path.join(tmpdir(), 'loupe-serve-empty-'));
      await initWorkspace(emptyDir);
      const empty = await openWorkspace({ workspace: emptyDir, env: {} });
      const server = await startServer(empty, {});
      try {
        assert.deepEqual(await json(await fetch(`${server.url}/healthz`)), { status: 'ok' });
        const ready = await json<{ ready: boolean; models: unknown[] }>(
          await fetch(`${server.url}/readyz`),
          503,
        );
        assert.deepEqual([ready.ready, ready.models], [false, []]);
        const health = await json<{ status: string }>(await fetch(`${server.url}/health`), 503);
        assert.equal(health.status, 'unavailable');
        await expectProblem(await postRaw(server.url, '/predict', shirt), 404, /no model is registered yet/);
        await expectProblem(await postRaw(server.url, '/v1/models/fm/predict', shirt), 404, /fm/);
      } finally {
        await server.close();
        await empty.close();
        await rm(emptyDir, { recursive: true, force: true });
      }
    });
  });
});

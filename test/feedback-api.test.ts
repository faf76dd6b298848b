import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { listFeedback } from '../src/monitor/feedback/feedback-store.js';
import { moveAlias } from '../src/registry/registry-store.js';
import { createKey } from '../src/serve/api-keys.js';
import { sha256 } from '../src/store/blob-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { sampleImages } from './helpers/retrain-fixture.js';
import { expectProblem, json, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// One engine thread, as the CLI tests run: on a shared, busy machine libtorch's threads contend
// (a 150-epoch tiny run took 169 s with two of them against 15 s with one).
process.env.LOUPE_THREADS = '1';

/**
 * POST /v1/feedback against real servers over a real model: one that keeps no inputs (clients
 * send the image), one that keeps them and requires API keys.
 */

interface Recorded {
  feedback_id: number;
  model: string;
  prediction_id: number;
  request_id: string;
  action: 'accept' | 'correct';
  label: string;
  predicted: string;
  confidence: number;
}

const postJson = (base: string, route: string, value: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });

describe('POST /v1/feedback', () => {
  let dir: string;
  let ws: Workspace;
  let plain: RunningServer;
  let keyed: RunningServer;
  let classes: string[];
  let images: Buffer[];
  let predictToken: string;
  let feedbackToken: string;

  /** Classifies one image; returns the request id the server answered with and the top label. */
  async function predict(server: RunningServer, image: Uint8Array, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.url}/v1/models/fm/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png', ...headers },
      body: new Uint8Array(image),
    });
    const requestId = res.headers.get('x-request-id');
    const body = await json<{ predictions: { label: string }[] }>(res);
    assert.ok(requestId, 'the answer names its request');
    return { requestId, predicted: body.predictions[0]!.label };
  }
  const other = (label: string) => classes.find((c) => c !== label)!;

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 20 }));
    const { versions } = await trainAndRegister(ws, [{}]);
    classes = versions[0]!.classes;
    await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 1, reason: 'test' });
    images = await sampleImages(classes[0]!, 6);
    predictToken = (await createKey(ws.db, { name: 'app', scopes: ['predict'], actor: 'test' })).token;
    feedbackToken = (
      await createKey(ws.db, { name: 'labeller', scopes: ['predict', 'feedback'], actor: 'test' })
    ).token;
    plain = await startServer(ws, {});
    keyed = await startServer(ws, { auth: { required: true }, predictionLog: { storeInputs: true } });
  });
  after(async () => {
    await plain?.close();
    await keyed?.close();
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records a verdict with the prediction’s provenance when the client sends the image the server did not keep', async () => {
    const image = images[0]!;
    const { requestId, predicted } = await predict(plain, image);
    // Without the bytes the decision could never become a dataset item.
    await expectProblem(
      await postJson(plain.url, '/v1/feedback', { request_id: requestId, label: predicted }),
      400,
      /did not keep the input.*send the image/,
    );
    await expectProblem(
      await postJson(plain.url, '/v1/feedback', {
        request_id: requestId,
        label: predicted,
        image_base64: images[1]!.toString('base64'),
      }),
      400,
      /not the one fm@1 classified/,
    );
    const r = await json<Recorded>(
      await postJson(plain.url, '/v1/feedback', {
        request_id: requestId,
        label: predicted,
        image_base64: `data:image/png;base64,${image.toString('base64')}`,
        note: 'looks right',
      }),
      201,
    );
    assert.equal(r.action, 'accept', 'the label the model gave: an accept');
    assert.equal(r.model, 'fm@1');
    assert.equal(r.request_id, requestId);
    const [row] = await listFeedback(ws.db, { inputHash: sha256(image) });
    assert.equal(row!.id, r.feedback_id);
    assert.equal(row!.channel, 'api');
    assert.equal(row!.actor, 'anonymous');
    assert.equal(row!.predictionId, r.prediction_id);
    assert.equal(row!.predicted, predicted);
    assert.equal(row!.confidence, r.confidence);
    assert.equal(row!.note, 'looks right');
    assert.equal(row!.inputBlob, sha256(image));
    assert.ok(
      Buffer.from(await ws.blobs.get(row!.inputBlob!)).equals(image),
      'the image is in the blob store',
    );
  });

  it('takes the image as a multipart file beside the fields, and a correction names another class', async () => {
    const image = images[2]!;
    const { requestId, predicted } = await predict(plain, image, { 'x-request-id': 'client-chose-this-1' });
    assert.equal(requestId, 'client-chose-this-1');
    const form = new FormData();
    form.append('request_id', requestId);
    form.append('label', other(predicted));
    form.append('file', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'shot.png');
    const r = await json<Recorded>(
      await fetch(`${plain.url}/v1/feedback`, { method: 'POST', body: form }),
      201,
    );
    assert.equal(r.action, 'correct');
    assert.equal(r.label, other(predicted));
    assert.equal(r.predicted, predicted);
  });

  it('refuses what cannot be recorded, each with a problem saying why', async () => {
    const image = images[3]!;
    const { requestId, predicted } = await predict(plain, image);
    const send = (body: unknown) => postJson(plain.url, '/v1/feedback', body);
    const b64 = image.toString('base64');
    await expectProblem(
      await send({ request_id: 'never-made', label: predicted }),
      404,
      /no request "never-made"/,
    );
    await expectProblem(
      await send({ prediction_id: 999_999, label: predicted }),
      404,
      /no prediction 999999/,
    );
    await expectProblem(
      await send({ request_id: requestId, label: 'Giraffe', image_base64: b64 }),
      400,
      new RegExp(`"Giraffe" is not a class of fm@1; its classes: ${classes.join(', ')}`),
    );
    await expectProblem(
      await send({ request_id: requestId, label: other(predicted), action: 'accept', image_base64: b64 }),
      400,
      /accept says the prediction was right/,
    );
    await expectProblem(
      await send({ request_id: requestId, label: predicted, action: 'correct', image_base64: b64 }),
      400,
      /already was/,
    );
    await expectProblem(await send({ label: predicted }), 400, /request_id or prediction_id/);
    await expectProblem(await send({ request_id: requestId }), 400, /invalid feedback \(label: /);
    await expectProblem(
      await send({ request_id: requestId, label: predicted, colour: 'red' }),
      400,
      /invalid feedback/,
    );
    await expectProblem(
      await send({ request_id: requestId, label: predicted, action: 'maybe' }),
      400,
      /invalid feedback \(action: /,
    );
    await expectProblem(
      await send({ request_id: requestId, label: predicted, image_base64: '***' }),
      400,
      /not valid base64/,
    );
    await expectProblem(
      await fetch(`${plain.url}/v1/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      }),
      400,
      /send the verdict as JSON/,
    );
    const form = new FormData();
    form.append('request_id', requestId);
    form.append('label', predicted);
    for (const i of [0, 1])
      form.append('file', new Blob([new Uint8Array(image)], { type: 'image/png' }), `${i}.png`);
    await expectProblem(
      await fetch(`${plain.url}/v1/feedback`, { method: 'POST', body: form }),
      400,
      /one image/,
    );
    assert.equal((await listFeedback(ws.db, { inputHash: sha256(image) })).length, 0, 'nothing was recorded');
  });

  it('a batch request’s prediction is named by prediction_id or told apart by its image', async () => {
    const [a, b] = [images[4]!, images[5]!];
    const res = await postJson(plain.url, '/v1/models/fm/predict', {
      instances: [{ image_base64: a.toString('base64') }, { image_base64: b.toString('base64') }],
    });
    const requestId = res.headers.get('x-request-id')!;
    await json(res);
    await plain.predictionLog.flush();
    const logged = await ws.db
      .selectFrom('predictions')
      .select(['id', 'input_hash', 'predicted'])
      .where('request_id', '=', requestId)
      .orderBy('id')
      .execute();
    assert.equal(logged.length, 2);
    const problem = await expectProblem(
      await postJson(plain.url, '/v1/feedback', { request_id: requestId, label: classes[0] }),
      400,
      /classified 2 images; say which with prediction_id/,
    );
    for (const row of logged) assert.match(problem.detail, new RegExp(`\\b${row.id}\\b`));
    const ofB = logged.find((r) => r.input_hash === sha256(b))!;
    const byImage = await json<Recorded>(
      await postJson(plain.url, '/v1/feedback', {
        request_id: requestId,
        label: ofB.predicted,
        image_base64: b.toString('base64'),
      }),
      201,
    );
    assert.equal(byImage.prediction_id, ofB.id);
    const ofA = logged.find((r) => r.input_hash === sha256(a))!;
    const byId = await json<Recorded>(
      await postJson(plain.url, '/v1/feedback', {
        prediction_id: ofA.id,
        label: ofA.predicted,
        image_base64: a.toString('base64'),
      }),
      201,
    );
    assert.equal(byId.prediction_id, ofA.id);
  });

  it('with keys required: the feedback scope is needed, the key is the actor, and kept inputs need no image', async () => {
    const image = images[1]!;
    const { requestId, predicted } = await predict(keyed, image, { authorization: `Bearer ${predictToken}` });
    const body = { request_id: requestId, label: other(predicted) };
    await expectProblem(await postJson(keyed.url, '/v1/feedback', body), 401, /API key is required/);
    await expectProblem(
      await postJson(keyed.url, '/v1/feedback', body, { authorization: `Bearer ${predictToken}` }),
      403,
      /lacks the "feedback" scope/,
    );
    // Straight after the prediction: the log may still hold it in memory; the route writes it first.
    const r = await json<Recorded>(
      await postJson(keyed.url, '/v1/feedback', body, { authorization: `Bearer ${feedbackToken}` }),
      201,
    );
    const [row] = await listFeedback(ws.db, { inputHash: sha256(image), limit: 1 });
    assert.equal(row!.id, r.feedback_id);
    assert.equal(row!.actor, feedbackToken.split('_')[1], 'the key’s id');
    assert.equal(row!.inputBlob, sha256(image), 'the bytes the server kept');
    assert.equal(r.action, 'correct');
  });
});

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { aliasTarget, auditLog, moveAlias } from '../src/registry/registry-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { LENIENT_GATE, recordDriftVerdict, sampleImages } from './helpers/retrain-fixture.js';
import { json, startServer, waitFor, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// One engine thread here and in the retrain the server starts (it inherits the environment).
process.env.LOUPE_THREADS = '1';
process.env.LOUPE_PROFILE = '';

/**
 * The retrain schedule inside `loupe serve`: corrections sent through POST /v1/feedback make
 * the server start `loupe retrain` (a real child process of the built CLI), whose new champion
 * the server then serves; a new drift alarm starts one more, and only one.
 */
describe('retrain schedule in loupe serve', () => {
  let dir: string;
  let ws: Workspace;
  let server: RunningServer;
  let images: Buffer[];

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({
      classes: 3,
      perClass: 24,
      yaml: `${LENIENT_GATE}monitor:
  retrain: { minFeedback: 2, onDrift: true, intervalMs: 250 }
`,
    }));
    await trainAndRegister(ws, [{}]);
    await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 1, reason: 'test' });
    images = await sampleImages('Bag', 2);
    server = await startServer(ws, { predictionLog: { storeInputs: true }, reload: { intervalMs: 200 } });
  });
  after(async () => {
    await server?.close();
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is off unless a trigger is set', async () => {
    const { ws: other } = await trainingWorkspace({ classes: 2, perClass: 5 });
    try {
      const s = await startServer(other, {});
      assert.equal(s.retrainSchedule.enabled, false);
      await s.close();
    } finally {
      await other.close();
    }
  });

  it('starts a retrain when enough corrections arrive, and the server then serves the new champion', async () => {
    assert.equal(server.retrainSchedule.enabled, true);
    for (const image of images) {
      const res = await fetch(`${server.url}/v1/models/fm/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      });
      const requestId = res.headers.get('x-request-id')!;
      const { predictions } = await json<{ predictions: { label: string }[] }>(res);
      const label = predictions[0]!.label === 'Bag' ? 'Coat' : 'Bag';
      await json(
        await fetch(`${server.url}/v1/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ request_id: requestId, label }),
        }),
        201,
      );
      // One correction is not enough: nothing starts.
      if (image === images[0]) {
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(server.retrainSchedule.history.length, 0);
      }
    }
    await waitFor(
      'the scheduled retrain to end',
      async () => server.retrainSchedule.history[0]?.exitCode !== undefined,
      {
        timeoutMs: 90_000,
        everyMs: 200,
      },
    );
    const [first] = server.retrainSchedule.history;
    assert.deepEqual(first!.args, ['--min-feedback', '2', '--if-drift']);
    assert.equal(first!.exitCode, 0);
    assert.equal(first!.outcome, 'promoted');
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 2);
    assert.match((await auditLog(ws.db, 'fm')).at(-1)!.reason, /^retrain \w+ \(schedule\): 2 decisions/);
    // Hot reload: the server answers with the new champion without a restart.
    await waitFor('the server to serve fm@2', async () => {
      const res = await fetch(`${server.url}/v1/models/fm/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(images[0]!),
      });
      return (await json<{ model: string }>(res)).model === 'fm@2';
    });
  });

  it('a new drift alarm starts one retrain, not one per look', async () => {
    await recordDriftVerdict(ws.db, 'drift', 2);
    await waitFor(
      'the drift retrain to end',
      async () => server.retrainSchedule.history[1]?.exitCode !== undefined,
      {
        timeoutMs: 60_000,
        everyMs: 200,
      },
    );
    // Nothing new to train on: every step is reused and the champion stays.
    assert.equal(server.retrainSchedule.history[1]!.outcome, 'unchanged');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(server.retrainSchedule.history.length, 2, 'the same alarm is not acted on twice');
  });
});

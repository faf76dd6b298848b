import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { candidatesFromFolder } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { readVersionItems, resolveVersion } from '../src/data/versions/version-store.js';
import type { EvalReport } from '../src/eval/evaluation.js';
import { trainConfigSchema } from '../src/train/config/train-config.js';
import { crossValidate } from '../src/train/cross-validate.js';
import { readOutOfFold } from '../src/train/out-of-fold.js';
import { trainModel } from '../src/train/train-run.js';
import { getRun } from '../src/track/run-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// Runs the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

const scratch = trainConfigSchema.parse({
  mode: 'scratch',
  epochs: 3,
  batchSize: 16,
  trainMetricsSample: 64,
  scratch: { filters: [8, 16], convsPerBlock: 1, classifier: [32] },
});

const readJson = async <T>(file: string) => JSON.parse(await readFile(file, 'utf8')) as T;

describe('loupe eval', () => {
  let ws: Workspace;
  let dir: string;
  let runId: string;
  before(async () => {
    ({ ws, dir } = await trainingWorkspace({ classes: 4, perClass: 30 }));
    runId = (await trainModel(ws, { config: scratch })).runId;
  });
  after(async () => ws.close());

  it('evaluates a run on its test split: metrics.json, eval_report.json, the plots and report.html', async () => {
    const out = path.join(dir, 'eval-run');
    const r = await runLoupe(dir, ['eval', runId, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`run ${runId} on [0-9a-f]{12} test \\(\\d+ items\\)`));
    assert.match(r.stdout, /accuracy [\d.]+ +top-3 [\d.]+ +macro-F1/);
    assert.match(
      r.stdout,
      /calibration: temperature [\d.]+ \(fitted on \d+ val items\); ECE [\d.]+ → [\d.]+/,
    );
    assert.match(r.stdout, /latency per image .*p50 [\d.]+ ms, p95 [\d.]+ ms/);
    for (const c of ['Ankle_boot', 'Bag', 'Coat', 'Dress']) assert.match(r.stdout, new RegExp(`^${c} `, 'm'));

    const metrics = await readJson<Record<string, unknown>>(path.join(out, 'metrics.json'));
    const report = await readJson<EvalReport>(path.join(out, 'eval_report.json'));
    const items = await readVersionItems(ws, await resolveVersion(ws.db, 'fm'));
    assert.equal(report.metrics.n, items.filter((i) => i.split === 'test').length);
    assert.equal(metrics.accuracy, report.metrics.accuracy);
    // The packaged ONNX model agrees with the run's own libtorch test figure.
    const summary = (await getRun(ws.db, runId)).summary!;
    assert.ok(Math.abs(report.metrics.accuracy - summary['test.accuracy']!) < 1e-9);
    assert.ok(report.calibration && report.calibration.temperature > 0);
    assert.ok(report.latency && report.latency.p95 >= report.latency.p50);
    for (const png of [
      'confusion_matrix',
      'confusion_matrix_normalized',
      'pr_curves',
      'roc_curves',
      'reliability',
    ]) {
      const meta = await sharp(path.join(out, `${png}.png`)).metadata();
      assert.ok(meta.width! > 300 && meta.height! > 200, `${png}.png is ${meta.width}×${meta.height}`);
    }
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    assert.ok((html.match(/<svg/g) ?? []).length >= 5);
    // Mistakes carry the image itself, so the report stands alone.
    assert.ok(
      report.hardestMistakes.length > 0 &&
        report.hardestMistakes.every((m) => m.thumbnail?.startsWith('data:image/png;base64,')),
    );
    assert.match(report.labelIssues.source, /out-of-sample predictions on the test split/);
  });

  it('evaluates on another split and says clearly when a split or dataset does not exist', async () => {
    const val = await runLoupe(dir, ['eval', runId, '--split', 'val', '--out', path.join(dir, 'eval-val')]);
    assert.equal(val.code, 0, val.stderr);
    assert.match(val.stdout, / val \(\d+ items\)/);
    const noSplit = await runLoupe(dir, ['eval', runId, '--split', 'holdout']);
    assert.equal(noSplit.code, 2);
    assert.match(noSplit.stderr, /no items in split "holdout"/);
    const noData = await runLoupe(dir, ['eval', runId, '--data', 'nope']);
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /nope/);
    const noModel = await runLoupe(dir, ['eval', 'no-such-thing']);
    assert.equal(noModel.code, 2);
    assert.match(noModel.stderr, /neither a registered model .* nor a run/);
  });

  it('refuses data whose labels the model does not know, naming them', async () => {
    // Five classes where the model learnt four: the fifth (Pullover) has no column to score it.
    const other = await trainingWorkspace({ classes: 5, perClass: 12 });
    try {
      await ingest(ws, await candidatesFromFolder(path.join(other.dir, 'data'), ws.blobs), {
        dataset: 'five',
        source: 'folder five',
      });
    } finally {
      await other.ws.close();
    }
    const r = await runLoupe(dir, ['eval', runId, '--data', 'five']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the data has labels the model does not know: Pullover/);
  });

  it('after a cross-validation, finds likely label errors from out-of-fold probabilities over the dataset', async () => {
    const cv = await crossValidate(ws, {
      config: { ...scratch, epochs: 2, data: 'fm' },
      scheme: { type: 'kfold', k: 3 },
    });
    const oof = await readOutOfFold(ws.db, ws.root, cv.runId);
    assert.ok(oof);
    const items = await readVersionItems(ws, await resolveVersion(ws.db, 'fm'));
    const folded = items.filter((i) => i.split === 'train' || i.split === 'val');
    // Every train/val item is held out by exactly one fold.
    assert.equal(oof.ids.length, folded.length);
    assert.equal(new Set(oof.ids).size, folded.length);
    assert.equal(oof.probs.length, folded.length * oof.classes.length);
    for (let i = 0; i < oof.ids.length; i++) {
      const row = oof.probs.slice(i * oof.classes.length, (i + 1) * oof.classes.length);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    }

    const out = path.join(dir, 'eval-oof');
    const r = await runLoupe(dir, ['eval', runId, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const report = await readJson<EvalReport>(path.join(out, 'eval_report.json'));
    assert.match(
      report.labelIssues.source,
      new RegExp(`out-of-fold probabilities of cross-validation ${cv.runId}`),
    );
    const trainIds = new Set(folded.map((i) => i.id));
    assert.ok(report.labelIssues.items.every((i) => trainIds.has(i.id) && i.given !== i.predicted));

    const notCv = await runLoupe(dir, ['eval', runId, '--oof', runId]);
    assert.equal(notCv.code, 2);
    assert.match(notCv.stderr, /not a finished cross-validation/);
  });

  it('writes nothing when interrupted before the report', async () => {
    // A report folder appears only once the evaluation is complete.
    const out = path.join(dir, 'eval-missing-data');
    const r = await runLoupe(dir, ['eval', runId, '--data', 'nope', '--out', out]);
    assert.equal(r.code, 2);
    assert.equal(existsSync(out), false);
  });
});

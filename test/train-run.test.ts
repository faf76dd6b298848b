import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { trainingItems } from '../src/train/data/training-items.js';
import { assignFolds } from '../src/data/splits/assign-folds.js';
import { readVersionItems, listVersions } from '../src/data/versions/version-store.js';
import { trainConfigSchema, type TrainConfigInput } from '../src/train/config/train-config.js';
import { crossValidate } from '../src/train/cross-validate.js';
import { trainModel } from '../src/train/train-run.js';
import { getRun, listRuns, runArtifacts, runMetrics } from '../src/track/run-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { loupeBin, runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

const scratch = (over: TrainConfigInput = {}) =>
  trainConfigSchema.parse({
    mode: 'scratch',
    epochs: 4,
    batchSize: 16,
    trainMetricsSample: 64,
    scratch: { filters: [8, 16], convsPerBlock: 1, classifier: [32] },
    ...over,
  });

describe('training runs', () => {
  let ws: Workspace;
  let dir: string;
  before(async () => {
    ({ ws, dir } = await trainingWorkspace({ classes: 4, perClass: 30 }));
  });
  after(async () => ws.close());

  it('trains a CNN from scratch that learns, and records everything about the run', async () => {
    const outcome = await trainModel(ws, {
      config: scratch({ augment: { image: { flip: true, translate: 2 } } }),
    });
    assert.equal(outcome.status, 'finished');
    const [first, last] = [outcome.history[0]!, outcome.history.at(-1)!];
    assert.ok(last.trainLoss < first.trainLoss, `loss fell: ${first.trainLoss} → ${last.trainLoss}`);
    assert.ok(
      outcome.summary['test.accuracy']! > 0.5,
      `test accuracy ${outcome.summary['test.accuracy']} beats chance (0.25)`,
    );

    const run = await getRun(ws.db, outcome.runId);
    assert.equal(run.status, 'finished');
    assert.equal(run.mode, 'scratch');
    assert.equal(run.seed, 0);
    assert.equal(run.dataset_version, (await listVersions(ws.db, 'fm'))[0]!.id);
    assert.match(run.git_commit ?? '', /^[0-9a-f]{40}$/);
    assert.equal(typeof run.git_dirty, 'boolean');
    assert.equal(run.versions.libtorch, '1.13.0');
    assert.ok(run.duration_s! > 0 && run.peak_rss_mib! > 50 && run.images_per_s! > 0);
    assert.equal((run.config as { epochs: number }).epochs, 4);
    assert.deepEqual(
      (run.config as { augment: { image: { translate: number } } }).augment.image.translate,
      2,
    );

    const names = new Set((await runMetrics(ws.db, run.id)).map((m) => m.name));
    for (const n of [
      'train.loss',
      'train.accuracy',
      'train.macro_f1',
      'val.loss',
      'val.accuracy',
      'val.macro_f1',
      'lr',
      'images_per_s',
    ])
      assert.ok(names.has(n), `metric ${n} recorded`);
    const steps = new Set((await runMetrics(ws.db, run.id)).map((m) => m.step));
    assert.deepEqual([...steps].sort(), [1, 2, 3, 4]);

    const artifacts = new Map((await runArtifacts(ws.db, run.id)).map((a) => [a.name, a]));
    for (const name of ['model.safetensors', 'model.onnx', 'curves.png', 'metadata.json'])
      assert.ok(
        artifacts.has(name) && existsSync(path.join(dir, artifacts.get(name)!.path)),
        `${name} written`,
      );
    const png = await sharp(path.join(dir, artifacts.get('curves.png')!.path)).metadata();
    assert.ok(png.width! > 400 && png.height! > 200);
    const metadata = JSON.parse(await readFile(path.join(dir, artifacts.get('metadata.json')!.path), 'utf8'));
    assert.equal(metadata.run.id, run.id);
    assert.deepEqual(metadata.classes, ['Ankle_boot', 'Bag', 'Coat', 'Dress']);
    assert.equal(metadata.inputs.kind, 'image');
    assert.equal(metadata.inputs.preprocessing.width, 28);
    assert.equal(metadata.inputs.preprocessing.channelOrder, 'gray');
  });

  it('probes a frozen backbone: embeds each image and augmented view once, then trains heads in seconds', async () => {
    const config = trainConfigSchema.parse({
      mode: 'probe',
      epochs: 20,
      probe: { views: 1 },
      augment: { image: { flip: true } },
    });
    const firstEvents: { stage: string; done: number; total: number }[] = [];
    const first = await trainModel(ws, {
      config,
      onEvent: (e) => {
        if (e.type === 'prepare') firstEvents.push(e);
      },
    });
    assert.ok(first.summary['test.accuracy']! > 0.5, `probe test accuracy ${first.summary['test.accuracy']}`);
    const rows = await ws.db
      .selectFrom('embeddings')
      .select(['variant', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('variant')
      .execute();
    const counts = new Map(rows.map((r) => [r.variant, Number(r.n)]));
    assert.equal(counts.get(''), 120, 'every item embedded plainly');
    assert.equal([...counts.keys()].filter((v) => v).length, 1, 'one augmented view');
    const version = (await listVersions(ws.db, 'fm'))[0]!;
    const trainCount = trainingItems(await readVersionItems(ws, version)).train.length;
    assert.equal([...counts.entries()].find(([v]) => v)![1], trainCount, 'the view covers the train items');

    const again: { stage: string; done: number; total: number }[] = [];
    const started = performance.now();
    const second = await trainModel(ws, {
      config,
      onEvent: (e) => {
        if (e.type === 'prepare') again.push(e);
      },
    });
    assert.ok(
      again.every((e) => e.done === e.total),
      'the second run embeds nothing',
    );
    assert.ok((performance.now() - started) / 1000 < 10, 'a cached probe run takes seconds');
    assert.deepEqual(second.summary, first.summary);
    const run = await getRun(ws.db, second.runId);
    assert.match(run.backbone ?? '', /mobilenet_v2/);
  });

  it('gives the same metrics for the same seed and config', async () => {
    const a = await trainModel(ws, { config: scratch({ epochs: 2 }) });
    const b = await trainModel(ws, { config: scratch({ epochs: 2 }) });
    assert.deepEqual(
      a.history.map((h) => [h.trainLoss, h.val?.accuracy]),
      b.history.map((h) => [h.trainLoss, h.val?.accuracy]),
    );
    assert.deepEqual(a.summary, b.summary);
  });

  it('records a failed run with its error', async () => {
    await assert.rejects(trainModel(ws, { config: scratch({ mode: 'audio' }) }), /audio/);
    const [failed] = await listRuns(ws.db, { status: 'failed' });
    assert.equal(failed!.mode, 'audio');
    assert.equal(failed!.error?.code, 'INVALID_ARGUMENT');
    assert.ok(failed!.ended_at);
  });

  it('stops early when validation macro-F1 stops improving, keeping the best epoch', async () => {
    const outcome = await trainModel(ws, {
      config: scratch({ epochs: 30, optimizer: { lr: 0.05 }, earlyStopping: { patience: 2 } }),
    });
    assert.ok(outcome.history.length < 30, `stopped after ${outcome.history.length} epochs`);
    const best = Math.max(...outcome.history.map((h) => h.val!.macroF1));
    assert.equal(outcome.summary['val.macro_f1'], best);
  });

  it('cross-validates with folds that never share items, under one parent run', async () => {
    const cv = await crossValidate(ws, {
      config: scratch({ epochs: 1 }),
      scheme: { type: 'kfold', k: 3 },
    });
    assert.equal(cv.folds.length, 3);
    assert.ok(cv.mean['test.accuracy']! > 0 && cv.std['test.accuracy']! >= 0);
    const parent = await getRun(ws.db, cv.runId);
    assert.equal(parent.kind, 'cv');
    assert.equal(parent.summary?.folds, 3);
    const children = (await listRuns(ws.db)).filter((r) => r.parent_id === cv.runId);
    assert.equal(children.length, 3);
    assert.ok(children.every((c) => c.kind === 'cv-fold' && c.status === 'finished'));

    const items = await readVersionItems(ws, (await listVersions(ws.db, 'fm'))[0]!);
    const folded = assignFolds(items, { type: 'kfold', k: 3 }, 0);
    const vals = [0, 1, 2].map((f) => new Set(trainingItems(folded, { fold: f }).val.map((i) => i.id)));
    for (const [f, val] of vals.entries()) {
      const train = trainingItems(folded, { fold: f }).train;
      assert.ok(
        train.every((i) => !val.has(i.id)),
        'a fold never trains on what it validates',
      );
      for (const other of vals.slice(f + 1))
        assert.ok(
          [...val].every((id) => !other.has(id)),
          'folds are disjoint',
        );
    }
    assert.equal(
      vals.reduce((a, v) => a + v.size, 0),
      items.filter((i) => i.split !== 'test').length,
    );
  });

  it('keeps groups whole across leave-one-group-out folds', () => {
    const items = Array.from({ length: 40 }, (_, i) => ({
      id: i.toString(16).padStart(64, '0'),
      kind: 'image' as const,
      blob: i.toString(16).padStart(64, '0'),
      label: `c${i % 2}`,
      split: (i % 10 === 0 ? 'test' : 'train') as 'test' | 'train',
      source: `s${i}`,
      group: `g${i % 5}`,
    }));
    const folded = assignFolds(items, { type: 'group' }, 0);
    for (const fold of new Set(folded.map((i) => i.fold).filter((f) => f !== undefined))) {
      const { train, val } = trainingItems(folded, { fold });
      const valGroups = new Set(val.map((i) => i.group));
      assert.equal(valGroups.size, 1);
      assert.ok(train.every((i) => !valGroups.has(i.group)));
    }
  });
});

describe('loupe train in a terminal', () => {
  let ws: Workspace;
  let dir: string;
  before(async () => {
    ({ ws, dir } = await trainingWorkspace({
      classes: 3,
      perClass: 20,
      yaml: 'train:\n  mode: scratch\n  epochs: 40\n  batchSize: 8\n  earlyStopping: { patience: 0 }\n  scratch: { filters: [8], convsPerBlock: 1, classifier: [16] }',
    }));
  });
  after(async () => ws.close());

  /** Starts `loupe train` and resolves once its first checkpoint is on disk. */
  async function trainUntilCheckpoint() {
    const earlier = new Set((await listRuns(ws.db)).map((r) => r.id));
    const child = spawn(process.execPath, [loupeBin, 'train'], {
      cwd: dir,
      env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const run = (await listRuns(ws.db)).find((r) => !earlier.has(r.id));
      if (run && existsSync(path.join(dir, '.loupe/runs', run.id, 'checkpoints/latest')))
        return { child, run, exited, stderr: () => stderr };
      if (child.exitCode !== null) throw new Error(`loupe train ended early: ${stderr}`);
    }
  }

  it('leaves a resumable run on Ctrl-C, and --resume finishes it', async () => {
    const { child, run, exited, stderr } = await trainUntilCheckpoint();
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.match(stderr(), new RegExp(`loupe train --resume ${run.id}`));
    assert.equal((await getRun(ws.db, run.id)).status, 'killed');
    const resumed = await runLoupe(dir, ['train', '--resume', run.id]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming after epoch \d+/);
    const done = await getRun(ws.db, run.id);
    assert.equal(done.status, 'finished');
    assert.equal(done.summary?.epochs, 40);
    const steps = new Set(
      (await runMetrics(ws.db, run.id)).filter((m) => m.name === 'train.loss').map((m) => m.step),
    );
    assert.equal(steps.size, 40, 'every epoch recorded once');
  });

  it('marks a run whose process was killed -9 as killed, and resumes it', async () => {
    const { child, run, exited } = await trainUntilCheckpoint();
    child.kill('SIGKILL');
    await exited;
    const listed = await runLoupe(dir, ['runs', 'ls']);
    assert.match(listed.stdout, new RegExp(`${run.id}.*killed`));
    const resumed = await runLoupe(dir, ['train', '--resume', run.id.slice(0, 8)]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await getRun(ws.db, run.id)).status, 'finished');
  });
});

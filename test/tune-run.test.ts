import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getStudy } from '../src/track/study-store.js';
import { listRuns } from '../src/track/run-store.js';
import { trainConfigSchema } from '../src/train/config/train-config.js';
import { tuneConfigSchema } from '../src/train/tune/tune-config.js';
import { trialConfig, tuneModel } from '../src/train/tune-run.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

const base = trainConfigSchema.parse({
  mode: 'scratch',
  // Seed 1 draws a mix of workable and hopeless learning rates from the space below.
  seed: 1,
  epochs: 6,
  batchSize: 16,
  trainMetricsSample: 0,
  earlyStopping: { patience: 0 },
  scratch: { filters: [8], convsPerBlock: 1, classifier: [16] },
});

describe('loupe tune', () => {
  let ws: Workspace;
  before(async () => {
    ({ ws } = await trainingWorkspace({ classes: 3, perClass: 20 }));
  });
  after(async () => ws.close());

  it('maps sampled values onto train settings and refuses ones they cannot take', () => {
    const c = trialConfig(base, { 'optimizer.lr': 0.01, 'scratch.width': 2, 'augment.strength': 0.5 });
    assert.equal(c.optimizer.lr, 0.01);
    assert.equal(c.scratch.width, 2);
    assert.equal(c.augment.strength, 0.5);
    assert.throws(() => trialConfig(base, { 'scratch.dropout': 3 }), /train\.scratch\.dropout/);
  });

  it('runs its trial budget two at a time as tracked runs, prunes the hopeless and records the best', async () => {
    const seen: string[] = [];
    const outcome = await tuneModel(ws, {
      config: base,
      tune: tuneConfigSchema.parse({
        trials: 6,
        parallel: 2,
        sampler: 'random',
        pruner: { type: 'asha', minEpochs: 1, reductionFactor: 2 },
        space: { 'optimizer.lr': { low: 1e-7, high: 1e-2, log: true } },
      }),
      onTrial: (t) => seen.push(t.state),
    });
    const trials = outcome.result.trials;
    assert.equal(trials.length, 6);
    assert.equal(seen.length, 6);
    assert.ok(
      trials.some((t) => t.state === 'pruned'),
      `some trials pruned: ${seen.join(', ')}`,
    );
    assert.ok(
      trials.every((t) => t.state !== 'failed'),
      trials.map((t) => t.error).join('; '),
    );

    const runs = (await listRuns(ws.db, { studyId: outcome.studyId })).sort((a, b) =>
      a.started_at.localeCompare(b.started_at),
    );
    assert.equal(runs.length, 6);
    assert.ok(runs.every((r) => r.kind === 'trial' && (r.status === 'finished' || r.status === 'pruned')));
    const pruned = runs.filter((r) => r.status === 'pruned');
    assert.ok(
      pruned.every((r) => (r.summary?.epochs ?? 99) < 6),
      'pruned trials stopped early',
    );
    // Two trials ran side by side: some run started before another had ended.
    const overlap = runs.some((a, i) => runs.slice(i + 1).some((b) => b.started_at < a.ended_at!));
    assert.ok(overlap, 'trials ran in parallel');

    const study = await getStudy(ws.db, outcome.studyId);
    assert.equal(study.status, 'finished');
    assert.equal(study.best_run_id, outcome.bestRunId);
    const best = runs.find((r) => r.id === outcome.bestRunId)!;
    assert.ok((best.config as { optimizer: { lr: number } }).optimizer.lr > 1e-3);
  });

  it('stops at its time budget', async () => {
    const started = performance.now();
    const outcome = await tuneModel(ws, {
      config: { ...base, epochs: 200 },
      tune: tuneConfigSchema.parse({ trials: 50, seconds: 6, parallel: 1, pruner: { type: 'none' } }),
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(outcome.result.stoppedBy, 'time');
    assert.ok(seconds < 6 + 8, `ended ${seconds.toFixed(1)} s after starting (budget 6 s + shutdown)`);
    const runs = await listRuns(ws.db, { studyId: outcome.studyId });
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(
      (await listRuns(ws.db, { studyId: outcome.studyId })).every((r) => r.status !== 'running'),
      `no trial left running: ${runs.map((r) => r.status).join(', ')}`,
    );
  });
});

import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { listFeedback, recordFeedback } from '../src/monitor/feedback/feedback-store.js';
import { acquireRetrainLock, retrainLockHolder } from '../src/monitor/retrain/retrain-lock.js';
import type { RetrainReport, StepReport } from '../src/monitor/retrain/retrain-report.js';
import { retrain, type RetrainOptions } from '../src/monitor/retrain/retrain.js';
import { promote } from '../src/registry/promote.js';
import { aliasTarget, auditLog, listVersions as listModelVersions } from '../src/registry/registry-store.js';
import { listRuns } from '../src/track/run-store.js';
import { tuneConfigSchema } from '../src/train/tune/tune-config.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { gatePolicy, trainAndRegister } from './helpers/registry-fixture.js';
import { LENIENT_GATE, recordDecision, recordDriftVerdict, sampleImages } from './helpers/retrain-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// One engine thread, as the CLI tests run: on a shared, busy machine libtorch's threads contend
// (a 150-epoch tiny run took 169 s with two of them against 15 s with one).
process.env.LOUPE_THREADS = '1';

/**
 * `retrain` in process on a real workspace: a tiny model on a few Fashion-MNIST classes, real
 * decisions with their images in the blob store, real training, registration, gate and promotion.
 * The tests run in order, each starting from where the last left the workspace.
 */

/** A gate no retrain of it passes: half a point of macro-F1 better than the champion. */
const STRICT = gatePolicy({
  rules: [
    { metric: 'macro_f1', min: 0.3 },
    { champion: 'macro_f1', betterBy: 0.5 },
  ],
});

const statuses = (r: RetrainReport) => r.steps.map((s) => `${s.step}:${s.status}`);
const step = <S extends StepReport['step']>(r: RetrainReport, name: S) =>
  r.steps.find((s) => s.step === name) as Extract<StepReport, { step: S }>;

describe('retrain', () => {
  let dir: string;
  let ws: Workspace;
  let classes: string[];
  /** Test-split images of the sample (never in the workspace's dataset), by class. */
  let fresh: Map<string, Buffer[]>;
  let used = 0;

  const state = async () => ({
    runs: (await listRuns(ws.db)).length,
    versions: (await listVersions(ws.db, 'fm')).map((v) => v.id),
    models: (await listModelVersions(ws.db, 'fm')).map((v) => v.version),
    champion: await aliasTarget(ws.db, 'fm', 'champion'),
    audit: (await auditLog(ws.db, 'fm')).length,
  });
  /** Records `n` decisions on new images: corrections of the class the model is said to have predicted. */
  async function decide(n: number, action: 'accept' | 'correct' = 'correct'): Promise<void> {
    for (let i = 0; i < n; i++, used++) {
      const label = classes[used % classes.length]!;
      await recordDecision(ws, fresh.get(label)![Math.floor(used / classes.length)]!, {
        action,
        version: 1,
        predicted: action === 'accept' ? label : classes.find((c) => c !== label)!,
        confidence: 0.6,
        label,
      });
    }
  }
  const run = (o: Partial<RetrainOptions> = {}, over: Partial<Workspace> = {}) =>
    retrain({ ...ws, ...over }, { model: 'fm', ...o });

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 24, yaml: LENIENT_GATE }));
    const { versions } = await trainAndRegister(ws, [{}]);
    classes = versions[0]!.classes;
    await promote(ws, { model: 'fm', version: 1 }, { policy: ws.config.gate, reason: 'first' });
    fresh = new Map();
    for (const c of classes) fresh.set(c, await sampleImages(c, 12));
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('with too little feedback it is skipped and changes nothing', async () => {
    await decide(2);
    const before = await state();
    const r = await run({ minFeedback: 5 });
    assert.equal(r.outcome, 'skipped');
    assert.equal(r.retrainId, null);
    assert.deepEqual(r.steps, []);
    assert.match(
      r.trigger.reasons.join(),
      /2 decisions pending \(2 corrections, 0 accepts\): fewer than --min-feedback 5/,
    );
    assert.deepEqual(await state(), before);
    assert.equal((await listFeedback(ws.db, { model: 'fm' })).filter((f) => f.datasetVersion).length, 0);
  });

  it('a dry run says what it would do and changes nothing', async () => {
    const before = await state();
    const r = await run({ dryRun: true });
    assert.equal(r.outcome, 'planned');
    assert.equal(r.plan?.dataset.decisions, 2);
    assert.equal(r.plan?.dataset.base, before.versions[0]);
    assert.equal(r.plan?.gate.against, 'fm@1');
    assert.match(r.plan!.train.configFrom, /^run \w+ \(fm@1's\)$/);
    assert.deepEqual(await state(), before);
  });

  it('with enough feedback: a new dataset version with the decisions, a new version that passes its gate, promoted', async () => {
    await decide(4);
    await decide(1, 'accept');
    // A person also corrects an item already in the dataset.
    const [base] = await listVersions(ws.db, 'fm');
    const baseItems = await readVersionItems(ws, base!);
    const relabelled = baseItems.find((i) => i.split === 'train')!;
    const newLabel = classes.find((c) => c !== relabelled.label)!;
    await recordFeedback(ws.db, {
      actor: 'ana@example.org',
      channel: 'review',
      action: 'correct',
      model: 'fm',
      inputHash: relabelled.blob,
      inputBlob: relabelled.blob,
      label: newLabel,
    });
    const before = await state();
    const events: string[] = [];
    const r = await run({ minFeedback: 5, onEvent: (e) => events.push(e.type) });

    assert.equal(r.outcome, 'promoted', JSON.stringify(r.steps, null, 1));
    assert.deepEqual(statuses(r), [
      'dataset:done',
      'train:done',
      'register:done',
      'gate:done',
      'promote:done',
    ]);
    assert.match(
      r.trigger.reasons.join(),
      /8 decisions pending \(7 corrections, 1 accepts\): at least --min-feedback 5/,
    );
    const dataset = step(r, 'dataset');
    assert.equal(dataset.base, base!.id);
    assert.equal(dataset.feedback.used, 8);
    assert.equal(dataset.items?.relabelled, 1);
    const items = new Map(
      (await readVersionItems(ws, (await listVersions(ws.db, 'fm'))[0]!)).map((i) => [i.id, i]),
    );
    assert.equal(items.get(relabelled.id)?.label, newLabel, 'the correction relabelled the item');
    const decided = (await listFeedback(ws.db, { model: 'fm' })).filter((f) => f.action !== 'skip');
    for (const f of decided) {
      assert.equal(f.datasetVersion, dataset.version, `decision ${f.id} names the version it went into`);
      if (items.has(f.inputHash)) assert.equal(items.get(f.inputHash)!.label, f.label);
    }
    assert.ok(
      decided.filter((f) => items.has(f.inputHash)).length >= 7,
      'the decisions are items of the version',
    );

    assert.equal(r.before, 'fm@1');
    assert.equal(r.after, 'fm@2');
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 2);
    const promotion = (await auditLog(ws.db, 'fm')).at(-1)!;
    assert.equal(promotion.action, 'promote');
    assert.equal(promotion.toVersion, 2);
    assert.match(promotion.reason, new RegExp(`^retrain ${r.retrainId} \\(hand\\): 8 decisions`));
    assert.ok(promotion.gate, 'the gate result is in the audit entry');

    // Every step is a run under the retrain's run; the training run is a child too.
    const runs = await listRuns(ws.db);
    const retrainRun = runs.find((x) => x.id === r.retrainId)!;
    assert.equal(retrainRun.kind, 'retrain');
    assert.equal(retrainRun.status, 'finished');
    assert.equal(retrainRun.summary?.promoted, 1);
    const children = runs.filter((x) => x.parent_id === r.retrainId).sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(
      children.map((x) => `${x.kind}:${x.name}`),
      [
        'retrain-step:dataset',
        'retrain-step:train',
        'train:retrain fm',
        'retrain-step:register',
        'retrain-step:gate',
        'retrain-step:promote',
      ],
    );
    assert.ok(children.every((x) => x.status === 'finished'));
    assert.deepEqual(
      r.steps.map((s) => s.runId),
      children.filter((x) => x.kind === 'retrain-step').map((x) => x.id),
    );
    assert.equal(step(r, 'train').trainRunId, children.find((x) => x.kind === 'train')!.id);
    assert.equal(runs.length, before.runs + 7);
    const saved = JSON.parse(await readFile(r.reportFile!, 'utf8')) as RetrainReport;
    assert.equal(saved.outcome, 'promoted');
    assert.ok(events.includes('train') && events.includes('progress') && events.includes('step'));
    assert.equal(await retrainLockHolder(ws.db), undefined, 'the lock is released');
  });

  it('a rerun with nothing new reuses every step and says so', async () => {
    const before = await state();
    const r = await run();
    assert.equal(r.outcome, 'unchanged');
    assert.deepEqual(statuses(r), [
      'dataset:reused',
      'train:reused',
      'register:reused',
      'gate:skipped',
      'promote:skipped',
    ]);
    assert.match(step(r, 'train').detail, /already trained these items with these settings/);
    assert.match(step(r, 'gate').detail, /fm@2 is champion already/);
    const after = await state();
    assert.deepEqual({ ...after, runs: 0 }, { ...before, runs: 0 });
    const trainRuns = (await listRuns(ws.db)).filter((x) => x.kind === 'train');
    assert.equal(trainRuns.length, 2, 'nothing was trained');
  });

  it('a gate that fails keeps the champion, and the report names the failing rules with their values', async () => {
    await decide(3);
    const strict = { config: { ...ws.config, gate: STRICT } };
    const before = await state();
    const r = await run({}, strict);
    assert.equal(r.outcome, 'kept');
    assert.deepEqual(statuses(r), [
      'dataset:done',
      'train:done',
      'register:done',
      'gate:done',
      'promote:skipped',
    ]);
    assert.equal(r.after, 'fm@2');
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 2);
    assert.equal(r.failedRules?.length, 1);
    const failed = r.failedRules![0]!;
    assert.equal(failed.rule, 'macro_f1 better than champion by at least 0.5');
    assert.equal(failed.threshold, 0.5);
    assert.ok(typeof failed.value === 'number' && failed.value < 0.5);
    assert.match(failed.detail, /for fm@2/);
    assert.match(step(r, 'promote').detail, /the gate failed; champion stays fm@2/);
    const after = await state();
    assert.deepEqual(
      after.models,
      [...before.models, 3].sort((a, b) => b - a),
      'the candidate is registered',
    );
    assert.equal(after.audit, before.audit + 1, 'only its registration is audited');

    // The same candidate against the same champion under the same policy: the verdict is reused.
    const again = await run({}, strict);
    assert.equal(again.outcome, 'kept');
    assert.deepEqual(statuses(again), [
      'dataset:reused',
      'train:reused',
      'register:reused',
      'gate:reused',
      'promote:skipped',
    ]);
    assert.equal(step(again, 'gate').reusedFrom, step(r, 'gate').runId);
  });

  it('--tune searches around the champion’s settings; the study is reused when nothing changed', async () => {
    await decide(2);
    // One quick trial, in its own process as every trial is: enough to show the path end to end.
    const tune = tuneConfigSchema.parse({
      trials: 1,
      parallel: 1,
      pruner: { type: 'none' },
      space: { 'optimizer.lr': { low: 0.001, high: 0.01, log: true } },
    });
    const tuned = { config: { ...ws.config, tune } };
    const r = await run({ tune: true }, tuned);
    assert.equal(r.outcome, 'promoted', JSON.stringify(r.steps, null, 1));
    const train = step(r, 'train');
    assert.ok(train.studyId, 'a study ran');
    const trial = (await listRuns(ws.db)).find((x) => x.id === train.trainRunId)!;
    assert.equal(trial.kind, 'trial');
    assert.equal(trial.study_id, train.studyId);
    assert.match(step(r, 'register').version, /^fm@\d+$/);
    const again = await run({ tune: true }, tuned);
    assert.equal(again.outcome, 'unchanged');
    assert.equal(step(again, 'train').status, 'reused');
    assert.equal(step(again, 'train').trainRunId, train.trainRunId);
  });

  it('--if-drift runs only when the latest drift check found drift', async () => {
    const check = (status: 'ok' | 'drift') => recordDriftVerdict(ws.db, status, 2);
    let r = await run({ ifDrift: true, dryRun: true });
    assert.equal(r.outcome, 'skipped');
    assert.match(r.trigger.reasons.join(), /no drift check of fm yet/);
    await check('ok');
    r = await run({ ifDrift: true, dryRun: true });
    assert.equal(r.outcome, 'skipped');
    assert.match(r.trigger.reasons.join(), /found no drift/);
    const id = await check('drift');
    r = await run({ ifDrift: true, dryRun: true });
    assert.equal(r.outcome, 'planned');
    assert.equal(r.trigger.drift?.id, id);
    assert.match(r.trigger.reasons.join(), /found drift/);
    // Either trigger is enough.
    await check('ok');
    r = await run({ ifDrift: true, minFeedback: 0, dryRun: true });
    assert.equal(r.outcome, 'planned');
  });

  it('one retrain at a time: a live holder is refused with CONFLICT, a dead one is taken over', async () => {
    const held = await acquireRetrainLock(ws.db, { model: 'other' });
    try {
      await assert.rejects(
        run(),
        (e) =>
          isLoupeError(e, 'CONFLICT') &&
          new RegExp(`a retrain of other is already running: pid ${process.pid} on ${os.hostname()}`).test(
            e.message,
          ),
      );
    } finally {
      await held.release();
    }
    // A holder on another host that stopped beating an hour ago.
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await ws.db
      .insertInto('retrain_lock')
      .values({
        scope: 'workspace',
        token: 'gone',
        retrain_id: null,
        model: 'fm',
        host: 'elsewhere.example',
        pid: 1,
        started_at: hourAgo,
        heartbeat_at: hourAgo,
      })
      .execute();
    const r = await run();
    assert.deepEqual(r.tookOverLockFrom, { pid: 1, host: 'elsewhere.example', retrainId: null });
    assert.equal(await retrainLockHolder(ws.db), undefined);
  });

  it('a holder whose lock was taken over learns it at its next heartbeat', async () => {
    const lock = await acquireRetrainLock(ws.db, { model: 'fm', heartbeatMs: 20 });
    await ws.db.updateTable('retrain_lock').set({ token: 'someone-else' }).execute();
    // The heartbeat timer does not hold the process open; this one does, until the loss is seen.
    const alive = setInterval(() => undefined, 10);
    await new Promise((resolve) => lock.lost.addEventListener('abort', resolve, { once: true }));
    clearInterval(alive);
    assert.ok(isLoupeError(lock.lost.reason, 'CONFLICT'));
    await lock.release();
    assert.ok(await retrainLockHolder(ws.db), 'releasing a lost lock leaves the new holder’s row');
    await ws.db.deleteFrom('retrain_lock').execute();
  });

  it('an unknown model is refused before anything starts', async () => {
    const before = await state();
    await assert.rejects(
      retrain(ws, { model: 'nope' }),
      (e) => isLoupeError(e, 'NOT_FOUND') && /no model named "nope"/.test(e.message),
    );
    assert.deepEqual(await state(), before);
  });
});

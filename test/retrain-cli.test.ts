import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { main } from '../src/cli/main.js';
import { retrainLockHolder } from '../src/monitor/retrain/retrain-lock.js';
import type { RetrainReport, TrainStep } from '../src/monitor/retrain/retrain-report.js';
import { promote } from '../src/registry/promote.js';
import { aliasTarget, auditLog, listVersions } from '../src/registry/registry-store.js';
import { getRun } from '../src/track/run-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { LENIENT_GATE, recordDecision, sampleImages } from './helpers/retrain-fixture.js';
import { loupeBin, runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// One engine thread, as the CLI tests run: on a shared, busy machine libtorch's threads contend
// (a 150-epoch tiny run took 169 s with two of them against 15 s with one).
process.env.LOUPE_THREADS = '1';

/**
 * `loupe retrain` as a user runs it (bin/loupe.js, built): stopped with Ctrl-C, killed with
 * SIGKILL in the middle of training, refused while another retrain holds the lock, then run to
 * the end by the next one, which takes the dead holder's lock over and continues its training.
 */

/**
 * A `loupe retrain` child, resolved once it prints an epoch: training is under way. With
 * `pause`, it is stopped (SIGSTOP) right there, so it is alive but cannot finish meanwhile.
 */
async function retrainUntilTraining(
  dir: string,
  o: { pause?: boolean } = {},
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [loupeBin, 'retrain', 'fm'], {
    cwd: dir,
    env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '' },
  });
  let out = '';
  let training = false;
  child.stderr!.on('data', (d) => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (!training && /epoch +\d+\//.test(out)) {
        training = true;
        if (o.pause) child.kill('SIGSTOP');
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`retrain ended (${code}) before training:\n${out}`)));
  });
  return { child, out: () => out };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve({ code: child.exitCode, signal: child.signalCode })
      : child.once('exit', (code, signal) => resolve({ code, signal })),
  );

describe('loupe retrain (CLI)', () => {
  let dir: string;
  let ws: Workspace;
  let images: Buffer[];
  let used = 0;

  const registry = async () => ({
    versions: (await listVersions(ws.db, 'fm')).map((v) => v.version),
    champion: await aliasTarget(ws.db, 'fm', 'champion'),
    audit: (await auditLog(ws.db, 'fm')).length,
  });
  async function decide(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await recordDecision(ws, images[used++]!, { label: 'Bag' });
  }

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 24, yaml: LENIENT_GATE }));
    // Enough epochs that a retrain with this recipe is still training when the test stops it.
    await trainAndRegister(ws, [{ epochs: 25 }]);
    await promote(ws, { model: 'fm', version: 1 }, { policy: ws.config.gate, reason: 'first' });
    images = await sampleImages('Bag', 8);
    await decide(4);
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('Ctrl-C stops it at a safe point: exit 130, the lock released, the registry as it was', async () => {
    const before = await registry();
    const a = await retrainUntilTraining(dir, { pause: true });
    // Meanwhile a second retrain is refused: one at a time per workspace.
    const b = await runLoupe(dir, ['retrain', 'fm']);
    assert.equal(b.code, 2, b.stderr);
    assert.match(
      b.stderr,
      new RegExp(`a retrain of fm is already running \\(run \\w+\\): pid ${a.child.pid} .*\\[CONFLICT\\]`),
    );
    a.child.kill('SIGINT');
    a.child.kill('SIGCONT');
    const { code } = await exited(a.child);
    assert.equal(code, 130, a.out());
    assert.match(a.out(), /train +failed: stopped by Ctrl-C \[INTERRUPTED\]/);
    assert.equal(await retrainLockHolder(ws.db), undefined, 'released');
    assert.deepEqual(await registry(), before);
    const retrainId = /\(run (\w+)\)/.exec(b.stderr)![1]!;
    assert.equal((await getRun(ws.db, retrainId)).status, 'killed');
  });

  it('killed mid-training (SIGKILL): the registry is unchanged, and the next retrain takes the lock over and continues the training', async () => {
    const before = await registry();
    const a = await retrainUntilTraining(dir);
    const pid = a.child.pid!;
    a.child.kill('SIGKILL');
    assert.equal((await exited(a.child)).signal, 'SIGKILL');
    assert.deepEqual(await registry(), before, 'nothing registered, the champion where it was');
    assert.equal((await retrainLockHolder(ws.db))?.pid, pid, 'the dead holder’s row is still there');
    const killedRun = /run (\w+): scratch/.exec(a.out())![1]!;

    const next = await runLoupe(dir, ['retrain', 'fm', '--json']);
    assert.equal(next.code, 0, next.stderr);
    const r = JSON.parse(next.stdout) as RetrainReport;
    assert.equal(r.outcome, 'promoted', next.stderr);
    assert.equal(r.tookOverLockFrom?.pid, pid);
    assert.deepEqual(
      r.steps.map((s) => `${s.step}:${s.status}`),
      ['dataset:reused', 'train:done', 'register:done', 'gate:done', 'promote:done'],
      'the decisions went into a version before the kill; that version is reused',
    );
    const train = r.steps[1] as TrainStep;
    assert.equal(train.resumed, true);
    assert.equal(train.trainRunId, killedRun, 'the killed run was continued from its checkpoint');
    assert.match(next.stderr, /resuming after epoch \d+/);
    assert.equal((await getRun(ws.db, killedRun)).status, 'finished');
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 2);
    assert.equal(await retrainLockHolder(ws.db), undefined);
  });

  it('exits 5 when the gate keeps the champion, with the failing rules in the JSON report', async () => {
    await decide(2);
    const file = path.join(dir, 'loupe.yaml');
    const config = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(
      file,
      stringify({ ...config, gate: { rules: [{ champion: 'macro_f1', betterBy: 0.9 }] } }),
    );
    const r = await runLoupe(dir, ['retrain', 'fm', '--json']);
    assert.equal(r.code, 5, r.stderr);
    const report = JSON.parse(r.stdout) as RetrainReport;
    assert.equal(report.outcome, 'kept');
    assert.equal(report.failedRules?.[0]?.rule, 'macro_f1 better than champion by at least 0.9');
    assert.match(r.stderr, /the candidate failed its gate; fm:champion stays fm@2 \[GATE_FAILED\]/);
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 2);

    const skipped = await runLoupe(dir, ['retrain', 'fm', '--min-feedback', '1']);
    assert.equal(skipped.code, 0);
    assert.match(skipped.stdout, /skip +0 decisions pending .*fewer than --min-feedback 1/);
    assert.match(skipped.stdout, /result +skipped: no trigger fired; fm:champion is fm@2/);
    // A bad option is refused before the workspace is touched (in process: no need for another node).
    const errors: string[] = [];
    const print = console.error;
    console.error = (line: unknown) => errors.push(String(line));
    try {
      assert.equal(await main(['node', 'loupe', '-w', dir, 'retrain', 'fm', '--min-feedback', 'many']), 2);
    } finally {
      console.error = print;
    }
    assert.match(
      errors.join('\n'),
      /--min-feedback takes a whole number ≥ 0, got "many" \[INVALID_ARGUMENT\]/,
    );
  });
});

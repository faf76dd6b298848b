import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isLoupeError, LoupeError } from '../src/errors/loupe-error.js';
import { writeRunMetadata } from '../src/track/metadata.js';
import { gitInfo, libraryVersions } from '../src/track/provenance.js';
import { newId } from '../src/track/run-id.js';
import {
  getRun,
  listRuns,
  runArtifacts,
  runMetrics,
  startRun,
  type RunInit,
} from '../src/track/run-store.js';
import { reconcileStaleRuns } from '../src/track/stale-runs.js';
import { createStudy, finishStudy, getStudy, setStudyBest } from '../src/track/study-store.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';

const init: RunInit = {
  mode: 'probe',
  backbone: 'mobilenet_v2',
  config: { optimizer: { name: 'adamw', lr: 0.001 }, epochs: 3 },
  datasetVersion: 'ab'.repeat(32),
  seed: 7,
};

const git = (cwd: string, ...args: string[]) =>
  promisify(execFile)(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args],
    { cwd },
  );

let tmp: string;
let ws: Workspace;
before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'loupe-tracking-'));
  await initWorkspace(path.join(tmp, 'ws'));
  ws = await openWorkspace({ workspace: path.join(tmp, 'ws') });
});
after(async () => {
  await ws.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('run ids', () => {
  it('are 13 base32 characters that sort in the order they were made', () => {
    const ids = Array.from({ length: 2000 }, () => newId());
    assert.ok(ids.every((id) => /^[0-9a-hjkmnp-tv-z]{13}$/.test(id)));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(newId(Date.now() + 1000) > ids.at(-1)!);
  });
});

describe('runs', () => {
  it('start as running with provenance, log metrics, and finish with a summary', async () => {
    const run = await startRun(ws, init);
    assert.ok(existsSync(run.dir));
    assert.equal(run.dir, path.join(ws.stateDir, 'runs', run.id));
    const started = await run.read();
    assert.equal(started.status, 'running');
    assert.equal(started.name, 'probe mobilenet_v2');
    assert.equal(started.kind, 'train');
    assert.equal(started.pid, process.pid);
    assert.deepEqual(started.config, init.config);
    assert.equal(started.versions.node, process.versions.node);
    assert.equal(started.ended_at, null);

    await run.logMetrics(1, { 'train.loss': 1.2, 'val.accuracy': 0.6 });
    await run.logMetrics(2, { 'train.loss': Number.NaN, 'val.accuracy': 0.7 });
    // Logging a step again replaces its values.
    await run.logMetrics(2, { 'val.accuracy': 0.75 });
    await run.heartbeat();
    await run.finish({ 'val.accuracy': 0.75, 'val.macro_f1': 0.7 }, { imagesPerSecond: 1234.5 });

    const done = await getRun(ws.db, run.id);
    assert.equal(done.status, 'finished');
    assert.deepEqual(done.summary, { 'val.accuracy': 0.75, 'val.macro_f1': 0.7 });
    assert.equal(done.images_per_s, 1234.5);
    assert.ok(done.ended_at && done.ended_at >= done.started_at);
    assert.ok(done.duration_s !== null && done.duration_s >= 0);
    assert.ok(done.peak_rss_mib !== null && done.peak_rss_mib > 10);
    assert.deepEqual(
      (await runMetrics(ws.db, run.id)).map((m) => [m.step, m.name, m.value]),
      [
        [1, 'train.loss', 1.2],
        [1, 'val.accuracy', 0.6],
        [2, 'train.loss', null],
        [2, 'val.accuracy', 0.75],
      ],
    );
    await assert.rejects(
      () => run.fail(new Error('late')),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('record how they failed or were stopped', async () => {
    const failed = await startRun(ws, { ...init, name: 'diverges' });
    await failed.fail(new LoupeError('NAN_LOSS', 'the loss became NaN at epoch 3'));
    const f = await getRun(ws.db, failed.id);
    assert.equal(f.status, 'failed');
    assert.deepEqual(f.error, { code: 'NAN_LOSS', message: 'the loss became NaN at epoch 3' });
    assert.ok(f.ended_at && f.duration_s !== null && f.peak_rss_mib !== null);

    const crashed = await startRun(ws, init);
    await crashed.fail(new TypeError('x is undefined'));
    assert.deepEqual((await crashed.read()).error, { code: 'UNEXPECTED', message: 'x is undefined' });

    const interrupted = await startRun(ws, init);
    await interrupted.fail(new LoupeError('INTERRUPTED', 'stopped by Ctrl-C'));
    assert.equal((await interrupted.read()).status, 'killed');

    const killed = await startRun(ws, init);
    await killed.markKilled('stopped by SIGTERM');
    const k = await killed.read();
    assert.equal(k.status, 'killed');
    assert.deepEqual(k.error, { code: 'INTERRUPTED', message: 'stopped by SIGTERM' });

    assert.ok((await listRuns(ws.db, { status: 'failed' })).some((r) => r.id === failed.id));
    assert.ok((await listRuns(ws.db, { status: 'failed' })).every((r) => r.status === 'failed'));
  });

  it('are found by id or a unique prefix of 4+ characters, and listed newest first', async () => {
    const all = await listRuns(ws.db);
    assert.deepEqual(
      all.map((r) => r.id),
      all
        .map((r) => r.id)
        .sort()
        .reverse(),
    );
    assert.equal((await listRuns(ws.db, { limit: 2 })).length, 2);
    const id = all[0]!.id;
    assert.equal((await getRun(ws.db, id.toUpperCase())).id, id);
    // Runs made within moments of each other share their time digits: a short prefix is ambiguous.
    await assert.rejects(
      () => getRun(ws.db, id.slice(0, 4)),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /ambiguous/.test(e.message),
    );
    await assert.rejects(
      () => getRun(ws.db, id.slice(0, 3)),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /at least its first 4/.test(e.message),
    );
    await assert.rejects(
      () => getRun(ws.db, 'zzzzzz'),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );

    const dir = path.join(tmp, 'single');
    await initWorkspace(dir);
    const single = await openWorkspace({ workspace: dir });
    try {
      const run = await startRun(single, init);
      await run.finish({});
      assert.equal((await getRun(single.db, run.id.slice(0, 4))).id, run.id);
    } finally {
      await single.close();
    }
  });

  it('whose process died are reported as killed', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    const run = await startRun(ws, init);
    await ws.db.updateTable('runs').set({ pid }).where('id', '=', run.id).execute();

    const listed = (await listRuns(ws.db)).find((r) => r.id === run.id)!;
    assert.equal(listed.status, 'killed');
    assert.deepEqual(listed.error, { code: 'INTERRUPTED', message: 'process died' });
    assert.equal(listed.ended_at, listed.heartbeat_at);
    assert.ok(listed.duration_s !== null);
  });

  it('on another host are killed only once their heartbeat is stale', async () => {
    const run = await startRun(ws, init);
    const beat = new Date(Date.now() - 5 * 60_000).toISOString();
    await ws.db
      .updateTable('runs')
      .set({ host: 'elsewhere', pid: 1, heartbeat_at: beat })
      .where('id', '=', run.id)
      .execute();
    assert.deepEqual(await reconcileStaleRuns(ws.db), []);
    assert.equal((await getRun(ws.db, run.id)).status, 'running');
    assert.deepEqual(await reconcileStaleRuns(ws.db, { staleAfterMs: 60_000 }), [run.id]);
    assert.equal((await getRun(ws.db, run.id)).status, 'killed');
    // The process's own account of how it ended overrides the guess.
    await run.finish({ 'val.accuracy': 0.5 });
    const r = await getRun(ws.db, run.id);
    assert.equal(r.status, 'finished');
    assert.equal(r.error, null);
  });

  it('record artifacts with their size and SHA-256, inside the workspace only', async () => {
    const run = await startRun(ws, init);
    const file = path.join(run.dir, 'model.safetensors');
    const bytes = Buffer.from('weights'.repeat(1000));
    await writeFile(file, bytes);
    const artifact = await run.addArtifact('weights', file, 'weights');
    assert.deepEqual(artifact, {
      run_id: run.id,
      name: 'weights',
      path: `.loupe/runs/${run.id}/model.safetensors`,
      kind: 'weights',
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    // Recording a name again replaces it.
    await writeFile(file, 'retrained');
    await run.addArtifact('weights', file, 'weights');
    const stored = await runArtifacts(ws.db, run.id);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.bytes, 'retrained'.length);

    await writeFile(path.join(tmp, 'outside.bin'), 'x');
    await assert.rejects(
      () => run.addArtifact('outside', path.join(tmp, 'outside.bin'), 'report'),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    await assert.rejects(
      () => run.addArtifact('missing', path.join(run.dir, 'nope.onnx'), 'onnx'),
      (e) => isLoupeError(e, 'NOT_FOUND') && /nope\.onnx/.test(e.message),
    );
    await run.finish({});
  });

  it('write metadata.json with the whole row and register it', async () => {
    const run = await startRun(ws, { ...init, name: 'documented' });
    await run.finish({ 'val.macro_f1': 0.81 });
    const artifact = await writeRunMetadata(run, { classes: ['cat', 'dog'] });
    assert.equal(artifact.kind, 'metadata');
    const meta = JSON.parse(await readFile(path.join(run.dir, 'metadata.json'), 'utf8')) as {
      run: Record<string, unknown>;
      classes: string[];
    };
    assert.deepEqual(meta.run, JSON.parse(JSON.stringify(await run.read())));
    assert.equal(meta.run.status, 'finished');
    assert.deepEqual(meta.run.summary, { 'val.macro_f1': 0.81 });
    assert.deepEqual(meta.classes, ['cat', 'dog']);
    assert.deepEqual(
      (await runArtifacts(ws.db, run.id)).map((a) => [a.name, a.kind]),
      [['metadata.json', 'metadata']],
    );
  });
});

describe('studies', () => {
  it('group trials and remember the best', async () => {
    const study = await createStudy(ws.db, {
      name: 'lr search',
      direction: 'maximize',
      metric: 'val.macro_f1',
      space: { lr: { type: 'float', low: 1e-4, high: 1e-2, log: true } },
      sampler: 'tpe',
    });
    assert.equal(study.status, 'running');
    const trial = await startRun(ws, { ...init, kind: 'trial', studyId: study.id });
    await trial.finish({ 'val.macro_f1': 0.9 });
    const other = await startRun(ws, init);
    await other.finish({});
    await assert.rejects(
      () => setStudyBest(ws.db, study.id, other.id),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    await setStudyBest(ws.db, study.id, trial.id);
    await finishStudy(ws.db, study.id);
    const got = await getStudy(ws.db, study.id.toUpperCase());
    assert.deepEqual(got, { ...study, status: 'finished', best_run_id: trial.id });
    assert.deepEqual(
      (await listRuns(ws.db, { studyId: study.id })).map((r) => r.id),
      [trial.id],
    );
    await assert.rejects(
      () => finishStudy(ws.db, 'nostudy'),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );
  });
});

describe('provenance', () => {
  it('reads the commit and whether the checkout is dirty, and nulls outside a repository', async () => {
    const repo = path.join(tmp, 'repo');
    await git(tmp, 'init', '-q', repo);
    assert.deepEqual(await gitInfo(repo), { commit: null, dirty: false });
    await writeFile(path.join(repo, 'a.txt'), 'one');
    await git(repo, 'add', 'a.txt');
    await git(repo, 'commit', '-q', '-m', 'one');
    const head = (await git(repo, 'rev-parse', 'HEAD')).stdout.trim();
    assert.deepEqual(await gitInfo(repo), { commit: head, dirty: false });
    await writeFile(path.join(repo, 'a.txt'), 'two');
    assert.deepEqual(await gitInfo(repo), { commit: head, dirty: true });

    const plain = await mkdtemp(path.join(tmpdir(), 'loupe-not-a-repo-'));
    try {
      assert.deepEqual(await gitInfo(plain), { commit: null, dirty: null });
      assert.deepEqual(await gitInfo(path.join(plain, 'missing')), { commit: null, dirty: null });
    } finally {
      await rm(plain, { recursive: true, force: true });
    }
  });

  it('lists the versions of the libraries a run depends on', async () => {
    const v = await libraryVersions();
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(v.node, process.versions.node);
    assert.equal(v.loupe, pkg.version);
    assert.match(v.sharp ?? '', /^\d+\.\d+\.\d+ \(libvips /);
    assert.match(v.onnxruntime ?? '', /^\d+\.\d+/);
    assert.ok(v.os.length > 0 && v.cpu.includes('×'));
  });
});

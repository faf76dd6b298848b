import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listVersions as listDataVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { LoupeError, isLoupeError } from '../src/errors/loupe-error.js';
import { CLASSIFIER_METADATA, Classifier } from '../src/inference/classifier.js';
import { predictItems } from '../src/inference/predict-items.js';
import { readModelFile } from '../src/registry/model-files.js';
import { promote, rollback } from '../src/registry/promote.js';
import { PREDICTIONS_FILE, registerRun } from '../src/registry/register-model.js';
import {
  aliasTarget,
  auditLog,
  getVersion,
  listModels,
  listVersions,
  moveAlias,
  type AuditEntry,
  type ModelVersion,
} from '../src/registry/registry-store.js';
import { getRun, runArtifacts, startRun } from '../src/track/run-store.js';
import { trainModel } from '../src/train/train-run.js';
import type { Workspace } from '../src/workspace/workspace.js';
import {
  correctness,
  gatePolicy,
  replayAlias,
  setGatePolicy,
  storedPredictions,
  tamper,
  tinyScratch,
  trainAndRegister,
} from './helpers/registry-fixture.js';
import { loupeBin, runLoupe, type CliResult } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// The CLI tests run the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const rejectsWith = (code: LoupeError['code'], message: RegExp) => (e: unknown) => {
  assert.ok(isLoupeError(e), `a LoupeError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return true;
};
const PASSING = gatePolicy({ rules: [{ metric: 'accuracy', min: 0 }] });

describe('model registry', () => {
  let dir: string;
  let ws: Workspace;
  let runIds: string[];
  let v: ModelVersion[];
  let dataVersion: string;
  const actorBefore = process.env.LOUPE_ACTOR;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runLoupe(dir, args, { LOUPE_ACTOR: 'cli-user', ...env });
  const audit = async (alias?: string): Promise<AuditEntry[]> =>
    (await auditLog(ws.db, 'fm')).filter((e) => alias === undefined || e.alias === alias);

  before(async () => {
    assert.ok(existsSync(new URL('../dist/cli/main.js', import.meta.url)), `build first: ${loupeBin}`);
    ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 20 }));
    await setGatePolicy(dir, { rules: [{ metric: 'accuracy', min: 0 }] });
    process.env.LOUPE_ACTOR = 'registrar';
    // Three different tiny models (one epoch, three seeds): distinct files, so damaging one
    // version's blob leaves the others whole.
    ({ runIds, versions: v } = await trainAndRegister(ws, [
      { epochs: 1, seed: 0 },
      { epochs: 1, seed: 1 },
      { epochs: 1, seed: 2 },
    ]));
    dataVersion = (await listDataVersions(ws.db, 'fm'))[0]!.id;
  });
  after(async () => {
    if (actorBefore === undefined) delete process.env.LOUPE_ACTOR;
    else process.env.LOUPE_ACTOR = actorBefore;
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers finished runs as versions 1, 2, 3 with their files, metrics and lineage', async () => {
    assert.deepEqual(
      v.map((x) => [x.version, x.ref]),
      [
        [1, 'fm@1'],
        [2, 'fm@2'],
        [3, 'fm@3'],
      ],
    );
    const testItems = (await readVersionItems(ws, (await listDataVersions(ws.db, 'fm'))[0]!)).filter(
      (i) => i.split === 'test',
    );
    assert.ok(testItems.length >= 3, `${testItems.length} test items`);
    for (const [i, version] of v.entries()) {
      const run = await getRun(ws.db, runIds[i]!);
      assert.equal(version.source, 'run');
      assert.equal(version.runId, run.id);
      assert.equal(version.datasetVersion, dataVersion);
      assert.equal(version.createdBy, 'registrar');
      assert.deepEqual(version.classes, ['Ankle_boot', 'Bag', 'Coat']);
      assert.equal(version.inputs.kind, 'image');
      assert.match(run.git_commit ?? '', /^[0-9a-f]{40}$/);
      assert.deepEqual(version.lineage, {
        run: run.id,
        mode: 'scratch',
        datasetVersion: dataVersion,
        gitCommit: run.git_commit,
        gitDirty: run.git_dirty,
      });

      // Every file is in the blob store under the SHA-256 and size the version records.
      for (const name of [
        'model.onnx',
        'weights.safetensors',
        'run-metadata.json',
        'eval/predictions.json',
        'eval/eval_report.json',
        'eval/metrics.json',
        'eval/report.html',
      ])
        assert.ok(version.files[name], `${version.ref} keeps ${name}`);
      for (const [name, f] of Object.entries(version.files)) {
        assert.ok(await ws.blobs.verify(f.sha256), `${version.ref} ${name} is intact`);
        assert.equal(await ws.blobs.size(f.sha256), f.bytes, `${version.ref} ${name} size`);
      }
      // The weights are the run's own.
      const weights = (await runArtifacts(ws.db, run.id)).find((a) => a.name === 'model.safetensors')!;
      assert.equal(
        sha256(await readFile(path.join(dir, weights.path))),
        version.files['weights.safetensors']!.sha256,
      );

      // The packaged model opens in ONNX Runtime and says what it is.
      const classifier = await Classifier.open(await readModelFile(ws.blobs, version));
      try {
        assert.deepEqual(classifier.classes, version.classes);
        assert.equal(Number(classifier.metadata[CLASSIFIER_METADATA.temperature]), version.temperature);
      } finally {
        await classifier.dispose();
      }

      // The headline metrics are those of the stored predictions on the test split.
      const predictions = await storedPredictions(ws, version);
      assert.equal(predictions.split, 'test');
      assert.equal(predictions.datasetVersion, dataVersion);
      assert.deepEqual([...predictions.ids].sort(), testItems.map((t) => t.id).sort());
      const correct = correctness(predictions);
      assert.equal(version.metrics.n, testItems.length);
      assert.equal(version.metrics.accuracy, correct.reduce((a, b) => a + b, 0) / correct.length);
      for (const key of ['macro_f1', 'ece', 'nll', 'brier', 'latency_p50_ms', 'latency_p95_ms'])
        assert.ok(Number.isFinite(version.metrics[key]), `${key} recorded`);
      const metricsJson = JSON.parse(
        new TextDecoder().decode(await readModelFile(ws.blobs, version, 'eval/metrics.json')),
      ) as Record<string, unknown>;
      assert.equal(metricsJson.accuracy, version.metrics.accuracy);
      assert.ok(existsSync(path.join(dir, '.loupe/models/fm', String(version.version), 'eval/report.html')));
    }
    assert.notEqual(v[0]!.files['model.onnx']!.sha256, v[1]!.files['model.onnx']!.sha256);

    assert.deepEqual(await getVersion(ws.db, { model: 'fm', version: 2 }), v[1]);
    assert.equal((await getVersion(ws.db, { model: 'fm' })).version, 3, 'no champion: the latest');
    assert.deepEqual(
      (await listVersions(ws.db, 'fm')).map((x) => x.version),
      [3, 2, 1],
    );
    const [summary] = await listModels(ws.db);
    assert.deepEqual(
      { ...summary, createdAt: '' },
      {
        name: 'fm',
        createdAt: '',
        versions: 3,
        latest: 3,
        aliases: {},
      },
    );
    assert.deepEqual(
      (await audit()).map((e) => [e.action, e.actor, e.alias, e.fromVersion, e.toVersion, e.reason]),
      [
        ['register', 'registrar', null, null, 1, 'tiny 1'],
        ['register', 'registrar', null, null, 2, 'tiny 2'],
        ['register', 'registrar', null, null, 3, 'tiny 3'],
      ],
    );
  });

  it('refuses to register an unfinished or failed run, or under a bad name', async () => {
    const running = await startRun(ws, { mode: 'scratch', config: {}, datasetVersion: dataVersion, seed: 0 });
    await assert.rejects(
      registerRun(ws, running.id),
      rejectsWith(
        'INVALID_ARGUMENT',
        new RegExp(`run ${running.id} is running; only a finished run can be registered`),
      ),
    );
    await running.fail(new LoupeError('INTERNAL', 'a test left it'));

    await assert.rejects(trainModel(ws, { config: tinyScratch({ mode: 'audio' }) }));
    const failed = (await ws.db.selectFrom('runs').select('id').where('status', '=', 'failed').execute())
      .map((r) => r.id)
      .find((id) => id !== running.id)!;
    await assert.rejects(
      registerRun(ws, failed),
      rejectsWith(
        'INVALID_ARGUMENT',
        new RegExp(`run ${failed} is failed; only a finished run can be registered`),
      ),
    );

    for (const name of ['has space', '-dash-first', 'x'.repeat(101)])
      await assert.rejects(
        registerRun(ws, runIds[0]!, { name }),
        rejectsWith('INVALID_ARGUMENT', /model name ".*" must be letters, digits/),
      );
    await assert.rejects(registerRun(ws, 'zzzzzzzz'), rejectsWith('NOT_FOUND', /zzzzzzzz/));
    assert.equal((await listVersions(ws.db, 'fm')).length, 3, 'nothing registered');
    assert.equal((await audit()).length, 3, 'nothing audited');

    const r = await cli(['models', 'register', failed]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`run ${failed} is failed; only a finished run can be registered \\[INVALID_ARGUMENT\\]`),
    );
  });

  it('promotes v1, v2, v3 and rolls back as a stack: v3 → v2 → v1, then NOT_FOUND', async () => {
    process.env.LOUPE_ACTOR = 'alice';
    for (const [i, reason] of ['first', 'second', 'third'].entries()) {
      const p = await promote(ws, { model: 'fm', version: i + 1 }, { policy: PASSING, reason });
      assert.equal(p.alias, 'champion');
      assert.equal(p.from, i === 0 ? null : i);
      assert.equal(p.forced, false);
      assert.equal(p.gate.passed, true);
      assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), i + 1);
    }
    assert.deepEqual(await rollback(ws, 'fm', { reason: 'v3 is off' }), { from: 'fm@3', to: 'fm@2' });
    assert.deepEqual(await rollback(ws, 'fm', { reason: 'v2 too' }), { from: 'fm@2', to: 'fm@1' });
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 1, 'back two promotions, not toggling');
    assert.deepEqual((await getVersion(ws.db, { model: 'fm' })).aliases, ['champion']);
    assert.equal((await getVersion(ws.db, { model: 'fm' })).version, 1, 'a bare name is the champion');

    const before = (await audit()).length;
    await assert.rejects(
      rollback(ws, 'fm', { reason: 'again' }),
      rejectsWith('NOT_FOUND', /no earlier promotion to roll back to \(it holds fm@1\)/),
    );
    await assert.rejects(rollback(ws, 'fm', { alias: 'staging' }), rejectsWith('NOT_FOUND', /no "staging"/));
    await assert.rejects(
      rollback(ws, 'nope'),
      rejectsWith('NOT_FOUND', /no model named "nope"; the registry has: fm/),
    );
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 1);
    assert.equal((await audit()).length, before, 'refusals are not audited');

    const moves = await audit('champion');
    assert.deepEqual(
      moves.map((e) => [e.action, e.actor, e.fromVersion, e.toVersion, e.reason, e.forced]),
      [
        ['promote', 'alice', null, 1, 'first', false],
        ['promote', 'alice', 1, 2, 'second', false],
        ['promote', 'alice', 2, 3, 'third', false],
        ['rollback', 'alice', 3, 2, 'v3 is off', false],
        ['rollback', 'alice', 2, 1, 'v2 too', false],
      ],
    );
    for (const [i, e] of moves.slice(0, 3).entries()) {
      const gate = e.gate as { model: string; passed: boolean; champion: string | null; rules: unknown[] };
      assert.equal(gate.model, `fm@${i + 1}`);
      assert.equal(gate.passed, true);
      assert.equal(gate.champion, i === 0 ? null : `fm@${i}`);
      assert.deepEqual(gate.rules, [
        {
          rule: 'accuracy ≥ 0',
          verdict: 'pass',
          value: v[i]!.metrics.accuracy,
          detail: `accuracy = ${v[i]!.metrics.accuracy!.toFixed(4)}`,
        },
      ]);
    }
    assert.ok(moves.slice(3).every((e) => e.gate === null));
    assert.equal(replayAlias(moves, 'fm', 'champion'), 1);

    // A promotion after rollbacks pushes onto what is left: v1 → v3, and rolling back returns to v1.
    await promote(ws, { model: 'fm', version: 3 }, { policy: PASSING, reason: 'retry' });
    assert.deepEqual(await rollback(ws, 'fm', { reason: 'no' }), { from: 'fm@3', to: 'fm@1' });
    assert.equal(replayAlias(await audit(), 'fm', 'champion'), 1);

    // Deciding on stale knowledge is refused, not silently overwriting the newer move.
    await assert.rejects(
      moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 2, reason: 'stale', expected: 3 }),
      rejectsWith('CONFLICT', /fm:champion moved to fm@1 while this promotion was being decided/),
    );
    await assert.rejects(
      moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 9, reason: 'x' }),
      rejectsWith('NOT_FOUND', /no version 9/),
    );
    await assert.rejects(
      moveAlias(ws.db, { model: 'fm', alias: 'bad alias', version: 1, reason: 'x' }),
      rejectsWith('INVALID_ARGUMENT', /alias "bad alias"/),
    );
    assert.equal(await aliasTarget(ws.db, 'fm', 'champion'), 1);
    process.env.LOUPE_ACTOR = 'registrar';
  });

  it('models ls, show and audit print versions, aliases, metrics, lineage, files and moves', async () => {
    const [ls, show, table, json] = await Promise.all([
      cli(['models', 'ls']),
      cli(['models', 'show', 'fm']),
      cli(['models', 'audit']),
      cli(['models', 'audit', 'fm', '--json']),
    ]);
    for (const r of [ls, show, table, json]) assert.equal(r.code, 0, r.stderr);

    const champion = v[0]!;
    assert.match(ls.stdout, /^model +versions +aliases +serving +accuracy +macro-F1 +created\n/);
    const aliases = Object.entries((await listModels(ws.db))[0]!.aliases)
      .map(([a, n]) => `${a}=${n}`)
      .join(' ');
    assert.match(
      ls.stdout,
      new RegExp(
        `\\nfm +3 +${aliases} +fm@1 +${champion.metrics.accuracy!.toFixed(3)} +${champion.metrics.macro_f1!.toFixed(3)} +\\d{4}-`,
      ),
    );

    for (const version of v) {
      assert.match(show.stdout, new RegExp(`^${version.ref}(  \\(|$)`, 'm'));
      assert.match(show.stdout, new RegExp(`registered .* by registrar, from run ${version.runId}`));
      assert.match(
        show.stdout,
        new RegExp(
          `evaluated +on ${dataVersion.slice(0, 12)}: accuracy ${version.metrics.accuracy!.toFixed(3)}, macro-F1 ${version.metrics.macro_f1!.toFixed(3)}`,
        ),
      );
      assert.match(
        show.stdout,
        new RegExp(
          `lineage +run=${version.runId} mode=scratch datasetVersion=${dataVersion} gitCommit=${String(version.lineage.gitCommit)}`,
        ),
      );
      for (const [name, f] of Object.entries(version.files))
        assert.ok(show.stdout.includes(`${name} (${f.sha256.slice(0, 10)})`), `${version.ref} lists ${name}`);
    }
    assert.match(show.stdout, /^fm@1 +\(.*champion/m);
    assert.match(show.stdout, /when +who +action +alias +from +to +forced +reason/);
    assert.match(show.stdout, / alice +rollback +champion +3 +1 +no\n/);

    const entries = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntry);
    assert.deepEqual(entries, JSON.parse(JSON.stringify(await audit())) as AuditEntry[]);
    assert.match(table.stdout, /#  +when +who +model +action +alias +from +to +gate +forced +reason/);
    assert.match(table.stdout, / registrar +fm +register +- +- +1 +- +tiny 1\n/);
    assert.match(table.stdout, / alice +fm +promote +champion +- +1 +passed +first\n/);
    assert.match(table.stdout, / alice +fm +rollback +champion +3 +2 +- +v3 is off\n/);
  });

  it('loupe promote exits 0 on a passing gate, 5 on a failing one, 2 for --force without --reason', async () => {
    const accuracy = v[2]!.metrics.accuracy!;
    const ok = await cli(['promote', 'fm@2', '--alias', 'cli', '--reason', 'looks good'], {
      LOUPE_ACTOR: 'bob',
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /PASS +accuracy ≥ 0 /);
    assert.match(ok.stdout, /gate passed\nfm:cli → fm@2\n/);

    await setGatePolicy(dir, { rules: [{ metric: 'accuracy', min: accuracy + 0.01 }] });
    const auditBefore = (await audit()).length;
    const [failing, noReason] = await Promise.all([
      cli(['promote', 'fm@3', '--alias', 'cli', '--reason', 'try'], { LOUPE_ACTOR: 'bob' }),
      cli(['promote', 'fm@3', '--alias', 'cli', '--force'], { LOUPE_ACTOR: 'bob' }),
    ]);
    assert.equal(failing.code, 5, failing.stderr);
    assert.match(failing.stdout, new RegExp(`FAIL +accuracy ≥ ${accuracy + 0.01} +${accuracy.toFixed(4)} `));
    assert.match(failing.stdout, /gate FAILED\n/);
    assert.match(
      failing.stderr,
      /fm@3 fails its gate, so it stays off cli:\n {2}accuracy ≥ .*\[GATE_FAILED\]/,
    );
    assert.equal(noReason.code, 2, noReason.stderr);
    assert.match(noReason.stderr, /a forced promotion needs a reason .*\[INVALID_ARGUMENT\]/);
    assert.equal(await aliasTarget(ws.db, 'fm', 'cli'), 2, 'a refused promotion moves nothing');
    assert.equal((await audit()).length, auditBefore, 'nor is it audited');

    const forced = await cli(['promote', 'fm@3', '--alias', 'cli', '--force', '--reason', 'hotfix'], {
      LOUPE_ACTOR: 'bob',
    });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /fm:cli → fm@3 \(was fm@2\) — FORCED past a failing gate/);
    const last = (await audit()).at(-1)!;
    assert.deepEqual(
      [last.action, last.actor, last.alias, last.fromVersion, last.toVersion, last.reason, last.forced],
      ['promote', 'bob', 'cli', 2, 3, 'hotfix', true],
    );
    assert.equal((last.gate as { passed: boolean }).passed, false);

    const back = await cli(['rollback', 'fm', '--alias', 'cli', '--reason', 'undo'], { LOUPE_ACTOR: 'bob' });
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /fm:cli → fm@2 \(was fm@3\)/);
    assert.equal(await aliasTarget(ws.db, 'fm', 'cli'), 2);
    await setGatePolicy(dir, { rules: [{ metric: 'accuracy', min: 0 }] });
  });

  it('two processes promoting at once leave a consistent registry: CONFLICT or success, never a lost row', async (t) => {
    // Judged on val, which the versions were not evaluated on: each process evaluates candidate
    // and champion afresh between reading the alias and moving it, a window wide enough to race in.
    await setGatePolicy(dir, { split: 'val', rules: [{ metric: 'accuracy', min: 0 }] });
    const outcomes: { actor: string; version: number; r: CliResult }[] = [];
    for (let round = 0; round < 3; round++) {
      const pair = [
        { actor: `racer-${round}-a`, version: (round % 3) + 1 },
        { actor: `racer-${round}-b`, version: ((round + 1) % 3) + 1 },
      ];
      const results = await Promise.all(
        pair.map((p) =>
          cli(['promote', `fm@${p.version}`, '--alias', 'race', '--reason', p.actor], {
            LOUPE_ACTOR: p.actor,
          }),
        ),
      );
      pair.forEach((p, i) => outcomes.push({ ...p, r: results[i]! }));
    }
    for (const o of outcomes) {
      assert.doesNotMatch(o.r.stderr, /SQLITE_BUSY|database is locked/, o.actor);
      if (o.r.code === 0) assert.match(o.r.stdout, new RegExp(`fm:race → fm@${o.version}`));
      else {
        assert.equal(o.r.code, 2, `${o.actor}: ${o.r.stderr}`);
        assert.match(
          o.r.stderr,
          /fm:race moved to fm@\d while this promotion was being decided; run it again \[CONFLICT\]/,
        );
      }
    }
    await setGatePolicy(dir, { rules: [{ metric: 'accuracy', min: 0 }] });
    const moves = await audit('race');
    const succeeded = outcomes.filter((o) => o.r.code === 0);
    t.diagnostic(`${succeeded.length} of ${outcomes.length} promotions landed, the rest met CONFLICT`);
    assert.ok(succeeded.length >= 3, 'at least one promotion of each round lands');
    assert.deepEqual(
      moves.map((e) => `${e.actor}→${e.toVersion}`).sort(),
      succeeded.map((o) => `${o.actor}→${o.version}`).sort(),
      'one audit row per successful promotion, none for a refused one',
    );
    assert.ok(moves.every((e) => e.action === 'promote' && e.reason === e.actor && e.gate !== null));
    const current = await aliasTarget(ws.db, 'fm', 'race');
    assert.equal(current, moves.at(-1)!.toVersion);
    assert.equal(replayAlias(moves, 'fm', 'race'), current, 'every move starts where the one before left it');
  });

  it('refuses a damaged or replaced model file everywhere: promote, rollback, export, eval', async () => {
    await promote(ws, { model: 'fm', version: 1 }, { alias: 'prod', policy: PASSING });
    await promote(ws, { model: 'fm', version: 2 }, { alias: 'prod', policy: PASSING });
    const auditBefore = (await audit()).length;
    const checksum = /model\.onnx of fm@1 fails its checksum \(recorded [0-9a-f]{12}…, found [0-9a-f]{12}…\)/;
    const stays = async () => {
      assert.equal(await aliasTarget(ws.db, 'fm', 'prod'), 2, 'prod stays on fm@2');
      assert.equal(await aliasTarget(ws.db, 'fm', 'prod1'), undefined);
      assert.equal((await audit()).length, auditBefore, 'nothing audited');
    };

    const replaced = await tamper(ws, v[0]!, 'overwrite');
    const out = path.join(dir, 'damaged.onnx');
    try {
      const [promoted, exported, evaluated] = await Promise.all([
        cli(['promote', 'fm@1', '--alias', 'prod1', '--reason', 'x']),
        cli(['export', 'fm@1', '--out', out]),
        cli(['eval', 'fm@1']),
      ]);
      for (const r of [promoted, exported, evaluated]) {
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, checksum);
        assert.match(
          r.stderr,
          /it was damaged or replaced after registration, so it is refused \[CORRUPT_FILE\]/,
        );
      }
      assert.equal(existsSync(out), false, 'nothing exported');
      await assert.rejects(rollback(ws, 'fm', { alias: 'prod' }), rejectsWith('CORRUPT_FILE', checksum));
      await assert.rejects(readModelFile(ws.blobs, v[0]!), (e: unknown) => {
        assert.ok(isLoupeError(e, 'CORRUPT_FILE'));
        assert.equal(e.details?.file, replaced.file);
        return true;
      });
      await stays();
    } finally {
      await replaced.restore();
    }

    const truncated = await tamper(ws, v[0]!, 'truncate');
    try {
      await assert.rejects(
        promote(ws, { model: 'fm', version: 1 }, { alias: 'prod1', policy: PASSING }),
        rejectsWith('CORRUPT_FILE', checksum),
      );
      await assert.rejects(rollback(ws, 'fm', { alias: 'prod' }), rejectsWith('CORRUPT_FILE', checksum));
      await assert.rejects(readModelFile(ws.blobs, v[0]!), rejectsWith('CORRUPT_FILE', checksum));
      await stays();
    } finally {
      await truncated.restore();
    }

    const deleted = await tamper(ws, v[0]!, 'delete');
    try {
      await assert.rejects(
        rollback(ws, 'fm', { alias: 'prod' }),
        rejectsWith('CORRUPT_FILE', /model\.onnx of fm@1 is missing from the blob store/),
      );
      await stays();
    } finally {
      await deleted.restore();
    }

    // Any file of the version, not only the network: its recorded evaluation is what the gate trusts.
    const predictions = await tamper(ws, v[0]!, 'overwrite', PREDICTIONS_FILE);
    try {
      await assert.rejects(
        promote(ws, { model: 'fm', version: 1 }, { alias: 'prod1', policy: PASSING }),
        rejectsWith('CORRUPT_FILE', /eval\/predictions\.json of fm@1 fails its checksum/),
      );
      await stays();
    } finally {
      await predictions.restore();
    }

    // Put back, the version is whole again and the rollback goes through.
    assert.deepEqual(await rollback(ws, 'fm', { alias: 'prod', reason: 'restored' }), {
      from: 'fm@2',
      to: 'fm@1',
    });
  });

  it('exports the registered bytes exactly, and refuses formats other than onnx', async () => {
    const out = path.join(dir, 'fm2.onnx');
    const [exported, tflite] = await Promise.all([
      cli(['export', 'fm@2', '--out', out]),
      cli(['export', 'fm@2', '--format', 'tflite', '--out', path.join(dir, 'x.tflite')]),
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const bytes = await readFile(out);
    const recorded = v[1]!.files['model.onnx']!;
    assert.equal(sha256(bytes), recorded.sha256);
    assert.equal(bytes.length, recorded.bytes);
    assert.ok(
      exported.stdout.includes(`fm@2 → ${out} (`) && exported.stdout.includes(`sha256 ${recorded.sha256})`),
    );

    // The file on its own is the classifier that was evaluated: same predictions on the test items.
    const predictions = await storedPredictions(ws, v[1]!);
    const byId = new Map(
      (await readVersionItems(ws, (await listDataVersions(ws.db, 'fm'))[0]!)).map((i) => [i.id, i]),
    );
    const classifier = await Classifier.open(out);
    try {
      assert.deepEqual(classifier.classes, v[1]!.classes);
      const { probs, classes } = await predictItems(
        classifier,
        predictions.ids.map((id) => byId.get(id)!),
        ws.blobs,
      );
      const argmax = predictions.ids.map((_, i) => {
        const row = probs.subarray(i * classes, (i + 1) * classes);
        return row.indexOf(Math.max(...row));
      });
      assert.deepEqual(argmax, predictions.predicted);
    } finally {
      await classifier.dispose();
    }

    assert.equal(tflite.code, 2);
    assert.match(tflite.stderr, /--format: only onnx is supported, got "tflite" \[INVALID_ARGUMENT\]/);
    assert.equal(existsSync(path.join(dir, 'x.tflite')), false);
  });

  it('a rollback after re-promoting the version an alias already holds goes to the version before it', async () => {
    await moveAlias(ws.db, { model: 'fm', alias: 'again', version: 1, reason: 'a' });
    await moveAlias(ws.db, { model: 'fm', alias: 'again', version: 2, reason: 'b' });
    await moveAlias(ws.db, { model: 'fm', alias: 'again', version: 2, reason: 'b, once more' });
    assert.deepEqual(await rollback(ws, 'fm', { alias: 'again' }), { from: 'fm@2', to: 'fm@1' });
  });
});

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { compile, type TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../src/charts/render.js';
import type { GateResult } from '../src/registry/gate/run-gate.js';
import { runGate } from '../src/registry/gate/run-gate.js';
import {
  aliasTarget,
  auditLog,
  getVersion,
  moveAlias,
  type AuditEntry,
  type ModelSummary,
  type ModelVersion,
} from '../src/registry/registry-store.js';
import type { ConfusionCell } from '../src/web/models/confusion-cell.js';
import { currentGatePolicy } from '../src/web/models/current-gate.js';
import type { VersionReport } from '../src/web/models/version-report.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { setGatePolicy, storedPredictions, trainAndRegister } from './helpers/registry-fixture.js';
import { runLoupe } from './helpers/run-cli.js';
import { expectProblem, startServer, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';
import { clientsByRole, type ApiClient } from './helpers/web-api.js';

// Compares with the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

let dir: string;
let ws: Workspace;
let server: RunningServer;
let viewer: ApiClient;
let annotator: ApiClient;
let admin: ApiClient;
let versions: ModelVersion[];

/** Passes any version: accuracy ≥ 0 and not worse than the champion by more than 1. */
const LENIENT = {
  rules: [
    { metric: 'accuracy', min: 0 },
    { champion: 'macro_f1', notWorseBy: 1 },
  ],
};
/** Fails any tiny model. */
const STRICT = { rules: [{ metric: 'macro_f1', min: 0.999 }] };

before(async () => {
  ({ dir, ws } = await trainingWorkspace({ classes: 3, perClass: 16 }));
  ({ versions } = await trainAndRegister(ws, [{ epochs: 1 }, { epochs: 2, seed: 3 }]));
  await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 1, reason: 'first' });
  await setGatePolicy(dir, LENIENT);
  server = await startServer(ws, {});
  ({ viewer, annotator, admin } = await clientsByRole(server.url, ws));
});

after(async () => {
  await server?.close();
  await ws?.close();
  await rm(dir, { recursive: true, force: true });
});

const champion = () => aliasTarget(ws.db, 'fm', 'champion');
/** An audit entry as two routes to the same move must agree on it: all but its id and time. */
const comparable = ({ id: _id, at: _at, ...rest }: AuditEntry) => rest;

describe('models and versions', () => {
  it('lists models with their aliases, and a model with its versions', async () => {
    const { models } = await viewer.get<{ models: ModelSummary[] }>('/api/models');
    assert.deepEqual(
      models.map((m) => [m.name, m.versions, m.aliases]),
      [['fm', 2, { champion: 1 }]],
    );
    const fm = await viewer.get<{ versions: ModelVersion[] }>('/api/models/fm');
    assert.deepEqual(
      fm.versions.map((v) => [v.version, v.aliases, v.runId]),
      [
        [2, [], versions[1]!.runId],
        [1, ['champion'], versions[0]!.runId],
      ],
    );
    const v2 = await viewer.get<{ version: ModelVersion }>('/api/models/fm/versions/2');
    assert.deepEqual(v2.version.metrics, versions[1]!.metrics);
    await expectProblem(await viewer.call('/api/models/nope'), 404, /no model named "nope"/);
    await expectProblem(await viewer.call('/api/models/fm/versions/9'), 404, /no version 9/);
    await expectProblem(await viewer.call('/api/models/fm/versions/zero'), 400, /version/);
    await expectProblem(await viewer.call('/api/models/b%20ad'), 400, /model name/);
    await expectProblem(await fetch(`${server.url}/api/models`), 401, /sign in/);
  });

  it("serves a version's stored evaluation with its charts, which draw", async () => {
    const r = await viewer.get<VersionReport>('/api/models/fm/versions/2/report');
    const predictions = await storedPredictions(ws, versions[1]!);
    assert.equal(r.summary.n, predictions.ids.length);
    assert.deepEqual(r.classes, versions[1]!.classes);
    assert.deepEqual(Object.keys(r.charts).sort(), [
      'confusion_matrix',
      'confusion_matrix_normalized',
      'pr_curves',
      'reliability',
      'roc_curves',
    ]);
    for (const spec of Object.values(r.charts)) {
      compile(spec as TopLevelSpec);
      assert.match(await renderSvg(spec as TopLevelSpec), /^<svg/);
    }
    assert.ok(
      r.hardestMistakes.every((m) => !('thumbnail' in m)),
      'pictures come per cell, not in the report',
    );
  });

  it('lists the items of each confusion cell: exactly the stored predictions in it, with pictures', async () => {
    const r = await viewer.get<VersionReport>('/api/models/fm/versions/2/report');
    const p = await storedPredictions(ws, versions[1]!);
    let cells = 0;
    for (const [t, trueLabel] of r.classes.entries())
      for (const [c, predicted] of r.classes.entries()) {
        const query = `true=${encodeURIComponent(trueLabel)}&predicted=${encodeURIComponent(predicted)}&limit=100`;
        const cell = await viewer.get<ConfusionCell>(`/api/models/fm/versions/2/confusion?${query}`);
        const expected = p.ids.filter((_, i) => p.labels[i] === t && p.predicted[i] === c);
        assert.equal(cell.count, r.confusion[t]![c], `${trueLabel} → ${predicted}`);
        assert.deepEqual(cell.items.map((i) => i.id).sort(), [...expected].sort());
        const confidences = cell.items.map((i) => i.confidence);
        assert.deepEqual(
          confidences,
          [...confidences].sort((a, b) => b - a),
          'most confident first',
        );
        for (const item of cell.items) {
          assert.equal(item.label, trueLabel);
          assert.equal(item.predicted, predicted);
          assert.equal(item.confidence, p.confidence[p.ids.indexOf(item.id)]);
          const png = Buffer.from(item.thumbnail!.replace(/^data:image\/png;base64,/, ''), 'base64');
          const meta = await sharp(png).metadata();
          assert.equal(meta.format, 'png');
        }
        if (cell.count) cells++;
      }
    assert.ok(cells >= 3, 'at least the diagonal has items');
  });

  it('pages a cell and refuses unknown classes and bad pages', async () => {
    const r = await viewer.get<VersionReport>('/api/models/fm/versions/2/report');
    const t = r.confusion.findIndex((row, i) => row[i]! >= 2);
    const label = encodeURIComponent(r.classes[t]!);
    const base = `/api/models/fm/versions/2/confusion?true=${label}&predicted=${label}`;
    const all = await viewer.get<ConfusionCell>(`${base}&limit=100`);
    const second = await viewer.get<ConfusionCell>(`${base}&limit=1&offset=1`);
    assert.equal(second.count, all.count);
    assert.deepEqual(
      second.items.map((i) => i.id),
      [all.items[1]!.id],
    );
    await expectProblem(
      await viewer.call(`/api/models/fm/versions/2/confusion?true=Unicorn&predicted=${label}`),
      400,
      /true class "Unicorn" is not a class of fm@2/,
    );
    await expectProblem(await viewer.call(`${base}&limit=0`), 400, /limit/);
    await expectProblem(
      await viewer.call(`/api/models/fm/versions/2/confusion?true=${label}`),
      400,
      /predicted/,
    );
  });

  it("gives each gate rule's verdict, as `loupe gate` judges it", async () => {
    const g = await viewer.get<GateResult>('/api/models/fm/versions/2/gate');
    const direct = await runGate(
      ws,
      await getVersion(ws.db, { model: 'fm', version: 2 }),
      await currentGatePolicy(ws),
    );
    assert.deepEqual(g, direct);
    assert.equal(g.champion, 'fm@1');
    assert.deepEqual(
      g.rules.map((r) => r.verdict),
      ['pass', 'pass'],
    );
  });
});

describe('promotion and rollback', () => {
  it('refuses viewers and annotators (403), and nothing changes', async () => {
    const before = await auditLog(ws.db, 'fm');
    for (const who of [viewer, annotator]) {
      await expectProblem(
        await who.call('/api/models/fm/versions/2/promote', { json: { reason: 'mine' } }),
        403,
        /admin role/,
      );
      await expectProblem(
        await who.call('/api/models/fm/rollback', { json: { reason: 'mine' } }),
        403,
        /admin role/,
      );
    }
    assert.equal(await champion(), 1);
    assert.deepEqual(await auditLog(ws.db, 'fm'), before);
  });

  it('needs a reason', async () => {
    await expectProblem(await admin.call('/api/models/fm/versions/2/promote', { json: {} }), 400, /reason/);
    await expectProblem(
      await admin.call('/api/models/fm/versions/2/promote', { json: { reason: '   ' } }),
      400,
      /a reason is required/,
    );
    await expectProblem(await admin.call('/api/models/fm/rollback', { json: {} }), 400, /reason/);
    await expectProblem(
      await admin.call('/api/models/fm/versions/2/promote', {
        json: { reason: 'x', alias: 'no such/alias' },
      }),
      400,
      /alias "no such\/alias" must be/,
    );
    await expectProblem(
      await admin.call('/api/models/fm/versions/2/promote', { json: { reason: 'x', colour: 'red' } }),
      400,
      /colour|unrecognized/i,
    );
    assert.equal(await champion(), 1);
  });

  it('promotes through the gate and writes the same audit row as `loupe promote`', async () => {
    const promoted = await admin.post<{ from: number; forced: boolean; gate: GateResult }>(
      '/api/models/fm/versions/2/promote',
      { reason: 'better on the March data' },
    );
    assert.equal(promoted.from, 1);
    assert.equal(promoted.forced, false);
    assert.equal(promoted.gate.passed, true);
    assert.equal(await champion(), 2);
    const fromWeb = (await auditLog(ws.db, 'fm')).at(-1)!;

    const rolledBack = await admin.post<{ from: string; to: string }>('/api/models/fm/rollback', {
      reason: 'to compare with the CLI',
    });
    assert.deepEqual(rolledBack, { from: 'fm@2', to: 'fm@1' });
    assert.equal(await champion(), 1);
    const rollbackRow = (await auditLog(ws.db, 'fm')).at(-1)!;
    assert.deepEqual(
      [
        rollbackRow.action,
        rollbackRow.actor,
        rollbackRow.fromVersion,
        rollbackRow.toVersion,
        rollbackRow.reason,
      ],
      ['rollback', admin.email, 2, 1, 'to compare with the CLI'],
    );

    const cli = await runLoupe(dir, ['promote', 'fm@2', '--reason', 'better on the March data'], {
      LOUPE_ACTOR: admin.email,
    });
    assert.equal(cli.code, 0, cli.stderr);
    const fromCli = (await auditLog(ws.db, 'fm')).at(-1)!;
    assert.deepEqual(comparable(fromWeb), comparable(fromCli));
    assert.equal(fromWeb.actor, admin.email);
    assert.deepEqual(fromWeb.gate, promoted.gate);

    const back = await runLoupe(dir, ['rollback', 'fm', '--reason', 'reset'], { LOUPE_ACTOR: admin.email });
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await champion(), 1);
  });

  it('keeps a version that fails the gate off the alias, unless an admin forces it with a reason', async () => {
    await setGatePolicy(dir, STRICT);
    try {
      const before = await auditLog(ws.db, 'fm');
      const refused = await expectProblem(
        await admin.call('/api/models/fm/versions/2/promote', { json: { reason: 'try' } }),
        422,
        /fails its gate/,
      );
      assert.equal(refused.code, 'GATE_FAILED');
      assert.equal(await champion(), 1);
      assert.deepEqual(await auditLog(ws.db, 'fm'), before);

      const forced = await admin.post<{ forced: boolean; gate: GateResult }>(
        '/api/models/fm/versions/2/promote',
        {
          reason: 'hotfix',
          force: true,
        },
      );
      assert.equal(forced.forced, true);
      assert.equal(forced.gate.passed, false);
      assert.equal(await champion(), 2);
      const row = (await auditLog(ws.db, 'fm')).at(-1)!;
      assert.deepEqual(
        [row.action, row.forced, row.reason, row.actor],
        ['promote', true, 'hotfix', admin.email],
      );
    } finally {
      await setGatePolicy(dir, LENIENT);
    }
  });

  it('rolls back, and says so when there is nothing to roll back to', async () => {
    assert.equal(await champion(), 2);
    await admin.post('/api/models/fm/rollback', { reason: 'the forced one misbehaves' });
    assert.equal(await champion(), 1);
    await expectProblem(
      await admin.call('/api/models/fm/rollback', { json: { alias: 'staging', reason: 'x' } }),
      404,
      /no "staging" to roll back/,
    );
  });

  it('shows the audit log newest first, with who did what and why', async () => {
    const { entries } = await viewer.get<{ entries: AuditEntry[] }>('/api/models/fm/audit');
    assert.deepEqual(entries, (await auditLog(ws.db, 'fm')).reverse());
    assert.deepEqual(
      entries.slice(0, 2).map((e) => [e.action, e.reason]),
      [
        ['rollback', 'the forced one misbehaves'],
        ['promote', 'hotfix'],
      ],
    );
    await expectProblem(await viewer.call('/api/models/nope/audit'), 404, /no model/);
  });
});

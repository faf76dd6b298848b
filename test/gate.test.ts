import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { candidatesFromFolder } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { listVersions as listDataVersions, readVersionItems } from '../src/data/versions/version-store.js';
import type { StoredPredictions } from '../src/eval/evaluate-classifier.js';
import type { EvalReport } from '../src/eval/evaluation.js';
import { mcnemar } from '../src/eval/metrics/mcnemar.js';
import { pairedBootstrap } from '../src/eval/metrics/paired-bootstrap.js';
import { isLoupeError, type LoupeError } from '../src/errors/loupe-error.js';
import { Classifier } from '../src/inference/classifier.js';
import { labelIndices } from '../src/inference/label-indices.js';
import { predictItems } from '../src/inference/predict-items.js';
import {
  GATE_METRICS,
  LOWER_IS_BETTER,
  gateConfigSchema,
  type GateRule,
} from '../src/registry/gate/gate-policy.js';
import { runGate, type GateResult, type RuleResult } from '../src/registry/gate/run-gate.js';
import { readModelFile } from '../src/registry/model-files.js';
import { promote } from '../src/registry/promote.js';
import { EVAL_REPORT_FILE } from '../src/registry/register-model.js';
import {
  aliasTarget,
  auditLog,
  getVersion,
  moveAlias,
  type ModelVersion,
} from '../src/registry/registry-store.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { correctness, gatePolicy, storedPredictions, trainAndRegister } from './helpers/registry-fixture.js';
import { repoRoot, runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// The CLI tests run the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

type RuleInput = NonNullable<Parameters<typeof gatePolicy>[0]['rules']>[number];
type Test = 'mcnemar' | 'bootstrap';

const rejectsWith = (code: LoupeError['code'], message: RegExp) => (e: unknown) => {
  assert.ok(isLoupeError(e), `a LoupeError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return true;
};

describe('gates', () => {
  let dir: string;
  let ws: Workspace;
  /** fm@1 barely trained, fm@2 and fm@3 trained more: a clearly worse model and two closer ones. */
  let v: ModelVersion[];
  const predictions = new Map<number, StoredPredictions>();
  const reports = new Map<number, EvalReport>();
  const actorBefore = process.env.LOUPE_ACTOR;

  const version = (n: number) => v[n - 1]!;
  const metric = (n: number, name: string) => {
    const value = version(n).metrics[name];
    assert.ok(typeof value === 'number' && Number.isFinite(value), `fm@${n} has ${name}`);
    return value;
  };
  /** candidate − champion, signed so positive is better, as the champion rules define it. */
  const gain = (c: number, h: number, name: string) =>
    (LOWER_IS_BETTER.has(name) ? -1 : 1) * (metric(c, name) - metric(h, name));
  /** The p-value of a paired test over the candidate's items, computed here from the stored predictions. */
  const pValue = (c: number, h: number, test: Test) => {
    const [a, b] = paired(predictions.get(c)!, predictions.get(h)!);
    return test === 'mcnemar' ? mcnemar(a, b).pValue : pairedBootstrap(a, b, { seed: 0 }).pValue;
  };
  /** Judges fm@n; champion rules compare against the alias `at<h>` (pointing at fm@h) unless told otherwise. */
  const gate = (
    n: number,
    rules: RuleInput[],
    o: { against?: string; champion?: number; whenNoChampion?: 'pass' | 'fail'; data?: string } = {},
  ): Promise<GateResult> =>
    runGate(
      ws,
      version(n),
      gatePolicy({
        rules,
        against: o.against ?? (o.champion ? `at${o.champion}` : 'nobody'),
        ...(o.whenNoChampion ? { whenNoChampion: o.whenNoChampion } : {}),
      }),
      o.data ? { data: o.data } : {},
    );
  const verdicts = (g: GateResult) => g.rules.map((r) => r.verdict);

  before(async () => {
    ({ dir, ws } = await trainingWorkspace({ classes: 4, perClass: 30 }));
    process.env.LOUPE_ACTOR = 'carol';
    ({ versions: v } = await trainAndRegister(ws, [
      { epochs: 1, optimizer: { lr: 0.0001 } },
      { epochs: 2 },
      { epochs: 4 },
    ]));
    for (const x of v) {
      predictions.set(x.version, await storedPredictions(ws, x));
      reports.set(
        x.version,
        JSON.parse(
          new TextDecoder().decode(await readModelFile(ws.blobs, x, EVAL_REPORT_FILE)),
        ) as EvalReport,
      );
      await moveAlias(ws.db, {
        model: 'fm',
        alias: `at${x.version}`,
        version: x.version,
        reason: 'reference',
      });
    }
  });
  after(async () => {
    if (actorBefore === undefined) delete process.env.LOUPE_ACTOR;
    else process.env.LOUPE_ACTOR = actorBefore;
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('metric rules: min and max pass just inside the measured value and fail just outside', async () => {
    for (const n of [1, 2, 3]) {
      const rules: RuleInput[] = [];
      const expected: string[] = [];
      for (const name of GATE_METRICS) {
        const x = metric(n, name);
        rules.push(
          { metric: name, min: x - 0.01 },
          { metric: name, min: x + 0.01 },
          { metric: name, max: x + 0.01 },
          { metric: name, max: x - 0.01 },
          { metric: name, min: x - 0.01, max: x + 0.01 },
        );
        expected.push('pass', 'fail', 'pass', 'fail', 'pass');
      }
      const g = await gate(n, rules);
      assert.deepEqual(verdicts(g), expected, `fm@${n}`);
      assert.equal(g.passed, false);
      assert.equal(g.model, `fm@${n}`);
      assert.equal(g.datasetVersion, version(n).datasetVersion);
      assert.equal(g.split, 'test');
      for (const [i, r] of g.rules.entries()) {
        const rule = rules[i] as { metric: string; min?: number; max?: number };
        assert.equal(r.value, metric(n, rule.metric), r.rule);
        assert.equal(r.detail, `${rule.metric} = ${r.value!.toFixed(4)}`);
        if (r.verdict === 'fail') assert.equal(r.threshold, rule.min ?? rule.max);
      }
      assert.equal(
        g.rules[4]!.rule,
        `accuracy ≥ ${metric(n, 'accuracy') - 0.01} and accuracy ≤ ${metric(n, 'accuracy') + 0.01}`,
      );
    }
    // The usual release checks, passing and failing on the strong model.
    const ece = metric(3, 'ece');
    const p95 = metric(3, 'latency_p95_ms');
    const g = await gate(3, [
      { metric: 'ece', max: ece + 0.01 },
      { metric: 'latency_p95_ms', max: p95 + 0.01 },
    ]);
    assert.deepEqual([g.passed, verdicts(g)], [true, ['pass', 'pass']]);
    const failing = await gate(3, [
      { metric: 'ece', max: ece - 0.01 },
      { metric: 'latency_p95_ms', max: p95 - 0.01 },
    ]);
    assert.deepEqual([failing.passed, verdicts(failing)], [false, ['fail', 'fail']]);
    assert.deepEqual(
      failing.rules.map((r) => r.rule),
      [`ece ≤ ${ece - 0.01}`, `latency_p95_ms ≤ ${p95 - 0.01}`],
    );
  });

  it('top-k accuracy rules read topK from the evaluation; a k the model cannot have is refused', async () => {
    for (const n of [1, 2, 3]) {
      const top3 = reports.get(n)!.metrics.topK['3']!;
      assert.ok(top3 >= metric(n, 'accuracy'));
      const g = await gate(n, [
        { metric: 'top3_accuracy', min: top3 - 0.01 },
        { metric: 'top3_accuracy', min: top3 + 0.01 },
        { metric: 'top3_accuracy', max: top3 + 0.01 },
        { metric: 'top3_accuracy', max: top3 - 0.01 },
        { metric: 'top1_accuracy', min: metric(n, 'accuracy'), max: metric(n, 'accuracy') },
      ]);
      assert.deepEqual(verdicts(g), ['pass', 'fail', 'pass', 'fail', 'pass']);
      assert.deepEqual(
        g.rules.map((r) => r.value),
        [top3, top3, top3, top3, metric(n, 'accuracy')],
      );
    }
    await assert.rejects(
      gate(2, [{ metric: 'top5_accuracy', min: 0.5 }]),
      rejectsWith('INVALID_CONFIG', /gate: top5_accuracy is not measured for 4 classes/),
    );
  });

  it('per-class rules judge every class or the named ones, and fail clearly on an unknown class', async () => {
    // The version whose recalls differ most between classes, so a threshold can split them.
    const spread = (n: number) => {
      const r = reports.get(n)!.metrics.perClass.map((c) => c.recall);
      return Math.max(...r) - Math.min(...r);
    };
    const n = [1, 2, 3].sort((a, b) => spread(b) - spread(a))[0]!;
    assert.ok(spread(n) > 0.02, `some version's recalls differ: ${[1, 2, 3].map(spread)}`);
    const classes = reports.get(n)!.metrics.perClass;
    const worst = classes.reduce((a, c) => (c.recall < a.recall ? c : a));
    const best = classes.reduce((a, c) => (c.recall > a.recall ? c : a));

    const g = await gate(n, [
      { perClass: 'recall', min: worst.recall - 0.01 },
      { perClass: 'recall', min: worst.recall + 0.01 },
      { perClass: 'recall', min: best.recall - 0.01, classes: [best.label] },
      { perClass: 'recall', min: worst.recall + 0.01, classes: [best.label, worst.label] },
      { perClass: 'recall', min: 0, classes: [best.label, 'Sneaker', 'Sandal'] },
    ]);
    assert.deepEqual(verdicts(g), ['pass', 'fail', 'pass', 'fail', 'fail']);
    const [all, allFail, subset, subsetFail, unknown] = g.rules as [
      RuleResult,
      RuleResult,
      RuleResult,
      RuleResult,
      RuleResult,
    ];
    assert.equal(all.rule, `recall ≥ ${worst.recall - 0.01} for every class`);
    assert.equal(all.value, worst.recall);
    assert.equal(all.detail, `lowest: ${worst.label} ${worst.recall.toFixed(3)}`);
    const below = classes.filter((c) => c.recall < worst.recall + 0.01);
    assert.equal(
      allFail.detail,
      `below: ${below.map((c) => `${c.label} ${c.recall.toFixed(3)}`).join(', ')}`,
    );
    assert.equal(subset.rule, `recall ≥ ${best.recall - 0.01} for ${best.label}`);
    assert.equal(subset.value, best.recall, 'only the named class is judged');
    assert.equal(subsetFail.detail, `below: ${worst.label} ${worst.recall.toFixed(3)}`);
    assert.equal(unknown.detail, 'no such class: Sneaker, Sandal');

    for (const which of ['precision', 'f1'] as const) {
      const lowest = Math.min(...classes.map((c) => c[which]));
      const h = await gate(n, [
        { perClass: which, min: lowest - 0.01 },
        { perClass: which, min: lowest + 0.01 },
      ]);
      assert.deepEqual(verdicts(h), ['pass', 'fail'], which);
      assert.equal(h.rules[0]!.value, lowest);
    }
  });

  it('champion rules without a test: notWorseBy and betterBy around the measured difference, lower-is-better flipped', async () => {
    // fm@1 is the barely trained one: worse than fm@3 on accuracy, macro-F1 and NLL.
    for (const name of ['accuracy', 'macro_f1', 'nll', 'brier']) {
      const drop = gain(1, 3, name);
      assert.ok(drop < -0.02, `fm@1 is worse than fm@3 on ${name}: ${drop}`);
      const worse = await gate(
        1,
        [
          { champion: name, notWorseBy: -drop + 0.01 },
          { champion: name, notWorseBy: -drop - 0.01 },
          { champion: name, notWorseBy: 0 },
        ],
        { champion: 3 },
      );
      assert.equal(worse.champion, 'fm@3');
      assert.deepEqual(verdicts(worse), ['pass', 'fail', 'fail'], name);
      assert.ok(worse.rules.every((r) => r.value === drop));
      assert.deepEqual(
        worse.rules.map((r) => r.threshold),
        [-(-drop + 0.01), -(-drop - 0.01), -0],
      );
      const sign = drop >= 0 ? '+' : '';
      assert.equal(
        worse.rules[0]!.detail,
        `${name} ${metric(1, name).toFixed(4)} vs ${metric(3, name).toFixed(4)} for fm@3 (${sign}${drop.toFixed(4)})`,
      );

      const better = await gate(
        3,
        [
          { champion: name, betterBy: -drop - 0.01 },
          { champion: name, betterBy: -drop + 0.01 },
          { champion: name, notWorseBy: 0 },
        ],
        { champion: 1 },
      );
      assert.equal(better.champion, 'fm@1');
      assert.deepEqual(verdicts(better), ['pass', 'fail', 'pass'], name);
      assert.ok(better.rules.every((r) => r.value === -drop));
      assert.equal(better.rules[0]!.rule, `${name} better than champion by at least ${-drop - 0.01}`);
    }
  });

  for (const test of ['mcnemar', 'bootstrap'] as const)
    it(`champion rules with test: ${test}: a significant difference decides, an insignificant one does not`, async () => {
      const pairs = [1, 2, 3].flatMap((c) => [1, 2, 3].filter((h) => h !== c).map((h) => [c, h] as const));
      const names = ['accuracy', 'macro_f1', 'nll', 'brier'];
      const table = pairs.map(
        ([c, h]) => `fm@${c} vs fm@${h}: p=${pValue(c, h, test)} accuracy Δ=${gain(c, h, 'accuracy')}`,
      );
      /** An ordered pair and metric where the candidate is `way` than the champion by > 0.02, with p in `ok`. */
      const find = (way: 'worse' | 'better', ok: (p: number) => boolean) => {
        for (const [c, h] of pairs)
          for (const name of names) {
            const d = gain(c, h, name);
            if ((way === 'worse' ? d < -0.02 : d > 0.02) && ok(pValue(c, h, test)))
              return { c, h, name, d, p: pValue(c, h, test) };
          }
        assert.fail(`no pair of versions is ${way} with a suitable p:\n${table.join('\n')}`);
      };
      const judge = async (f: ReturnType<typeof find>, rule: Record<string, unknown>, alpha: number) => {
        const g = await gate(f.c, [{ champion: f.name, test, alpha, ...rule } as RuleInput], {
          champion: f.h,
        });
        const r = g.rules[0]!;
        assert.equal(r.value, f.d);
        assert.match(r.detail, new RegExp(`p=${f.p.toPrecision(3).replace('.', '\\.')}$`));
        assert.match(
          r.detail,
          test === 'mcnemar' ? /; McNemar \(exact\) b=\d+ c=\d+ / : /; paired bootstrap on accuracy Δ=/,
        );
        assert.match(r.rule, new RegExp(`\\(${test}, α=${alpha}\\)$`.replace('.', '\\.')));
        return r.verdict;
      };
      // Significant: p < alpha < 1. Not significant: 0 < alpha ≤ p.
      const significant = (p: number) => (1 + p) / 2;
      const notSignificant = (p: number) => (p >= 1 ? 0.5 : p);

      const drop = find('worse', (p) => p < 1);
      assert.equal(
        await judge(drop, { notWorseBy: -drop.d - 0.01 }, significant(drop.p)),
        'fail',
        'a significant drop fails',
      );
      assert.equal(
        await judge(drop, { notWorseBy: -drop.d + 0.01 }, significant(drop.p)),
        'pass',
        'a drop within the margin passes',
      );
      const noise = find('worse', (p) => p > 0);
      assert.equal(
        await judge(noise, { notWorseBy: -noise.d - 0.01 }, notSignificant(noise.p)),
        'pass',
        'a drop that is not significant passes',
      );
      const gainOf = find('better', (p) => p < 1);
      assert.equal(
        await judge(gainOf, { betterBy: gainOf.d - 0.01 }, significant(gainOf.p)),
        'pass',
        'a significant gain passes',
      );
      assert.equal(
        await judge(gainOf, { betterBy: gainOf.d + 0.01 }, significant(gainOf.p)),
        'fail',
        'a gain below the margin fails',
      );
      const luck = find('better', (p) => p > 0);
      assert.equal(
        await judge(luck, { betterBy: luck.d - 0.01 }, notSignificant(luck.p)),
        'fail',
        'a gain that is not significant fails',
      );
    });

  it('champion rules with no champion: whenNoChampion pass skips them, fail fails; the champion itself is skipped', async () => {
    const rules: RuleInput[] = [
      { champion: 'accuracy', notWorseBy: 0 },
      { champion: 'macro_f1', betterBy: 0.5, test: 'mcnemar' },
    ];
    const skipped = await gate(2, rules, { against: 'champion', whenNoChampion: 'pass' });
    assert.equal(skipped.champion, null);
    assert.equal(skipped.passed, true);
    assert.deepEqual(verdicts(skipped), ['skipped', 'skipped']);
    assert.ok(skipped.rules.every((r) => r.detail === 'no version is champion yet (whenNoChampion: pass)'));
    assert.ok(skipped.rules.every((r) => r.value === undefined));

    const failed = await gate(2, rules, { against: 'champion', whenNoChampion: 'fail' });
    assert.equal(failed.passed, false);
    assert.deepEqual(verdicts(failed), ['fail', 'fail']);
    assert.equal(failed.rules[0]!.detail, 'no version is champion yet (whenNoChampion: fail)');

    // Skipped champion rules do not hide a failing threshold.
    const threshold = await gate(2, [...rules, { metric: 'accuracy', min: metric(2, 'accuracy') + 0.01 }], {
      against: 'champion',
    });
    assert.deepEqual([threshold.passed, verdicts(threshold)], [false, ['skipped', 'skipped', 'fail']]);

    await moveAlias(ws.db, { model: 'fm', alias: 'champion', version: 2, reason: 'for the test' });
    const itself = await gate(2, rules, { against: 'champion', whenNoChampion: 'pass' });
    assert.equal(itself.champion, null);
    assert.equal(itself.passed, true);
    assert.deepEqual(verdicts(itself), ['skipped', 'skipped']);
    assert.equal(itself.rules[0]!.detail, 'fm@2 is the champion itself');
    // Even a strict policy does not fail the champion for lacking someone else to beat.
    const strict = await gate(2, rules, { against: 'champion', whenNoChampion: 'fail' });
    assert.equal(strict.passed, true);
    assert.deepEqual(verdicts(strict), ['skipped', 'skipped']);
    // Another version is compared with it.
    const other = await gate(3, rules.slice(0, 1), { against: 'champion' });
    assert.equal(other.champion, 'fm@2');
    assert.equal(other.rules[0]!.value, gain(3, 2, 'accuracy'));
  });

  it('judges candidate and champion afresh on another dataset version (--data), item by item', async () => {
    // Another dataset version: 30 other images of each class, none of which the models saw.
    const more = path.join(dir, 'more');
    const source = path.join(repoRoot, 'samples/fashion-mnist/train');
    for (const c of version(1).classes) {
      const files = (await readdir(path.join(source, c))).sort().slice(30, 60);
      await Promise.all(files.map((f) => cp(path.join(source, c, f), path.join(more, c, f))));
    }
    await ingest(ws, await candidatesFromFolder(more, ws.blobs), { dataset: 'fm2', source: 'folder more' });
    const latest = (await listDataVersions(ws.db, 'fm2'))[0]!;
    const items = (await readVersionItems(ws, latest)).filter((i) => i.split === 'test');
    const registered = new Set(predictions.get(3)!.ids);
    assert.ok(
      items.length >= 8 && items.every((i) => !registered.has(i.id)),
      `${items.length} new test items`,
    );

    // Each model run here, independently of the gate, on the new test items.
    const correctOn = async (n: number) => {
      const classifier = await Classifier.open(await readModelFile(ws.blobs, version(n)));
      try {
        const labels = labelIndices(items, classifier.classes);
        const { logits, classes } = await predictItems(classifier, items, ws.blobs);
        return Uint8Array.from(items, (_, i) => {
          const row = logits.subarray(i * classes, (i + 1) * classes);
          return row.indexOf(Math.max(...row)) === labels[i] ? 1 : 0;
        });
      } finally {
        await classifier.dispose();
      }
    };
    const [mine, theirs] = [await correctOn(3), await correctOn(1)];
    const accuracy = (c: Uint8Array) => c.reduce((a, b) => a + b, 0) / c.length;
    const test = mcnemar(mine, theirs);

    const g = await gate(
      3,
      [
        { metric: 'accuracy', min: accuracy(mine) - 0.01 },
        { metric: 'accuracy', min: accuracy(mine) + 0.01 },
        { champion: 'accuracy', notWorseBy: 0, test: 'mcnemar' },
      ],
      { champion: 1, data: 'fm2' },
    );
    assert.equal(g.datasetVersion, latest.id);
    assert.equal(g.split, 'test');
    assert.equal(g.champion, 'fm@1');
    assert.deepEqual(verdicts(g).slice(0, 2), ['pass', 'fail']);
    assert.ok(
      Math.abs(g.rules[0]!.value! - accuracy(mine)) < 1e-12,
      `${g.rules[0]!.value} vs ${accuracy(mine)}`,
    );
    assert.ok(Math.abs(g.rules[2]!.value! - (accuracy(mine) - accuracy(theirs))) < 1e-12);
    assert.match(g.rules[2]!.detail, new RegExp(`McNemar \\(exact\\) b=${test.b} c=${test.c} `));

    // By id as well as by name; and the registered evaluation is still what a plain gate reads.
    const byId = await gate(3, [{ metric: 'accuracy', min: 0 }], { data: latest.id.slice(0, 12) });
    assert.equal(byId.datasetVersion, latest.id);
    const stored = await gate(3, [{ metric: 'accuracy', min: 0 }]);
    assert.equal(stored.rules[0]!.value, metric(3, 'accuracy'));
    await assert.rejects(gate(3, [], { data: 'nope' }), (e: unknown) => isLoupeError(e, 'NOT_FOUND'));
  });

  it('refuses to promote past a failing gate; forced with a reason it moves, audited as forced', async () => {
    const failing = gatePolicy({ rules: [{ metric: 'accuracy', min: metric(1, 'accuracy') + 0.01 }] });
    const auditBefore = (await auditLog(ws.db, 'fm')).length;
    await assert.rejects(
      promote(ws, { model: 'fm', version: 1 }, { alias: 'prod', policy: failing, reason: 'try' }),
      (e: unknown) => {
        assert.ok(isLoupeError(e, 'GATE_FAILED'));
        assert.match(
          e.message,
          new RegExp(
            `^fm@1 fails its gate, so it stays off prod:\\n {2}accuracy ≥ [\\d.]+: accuracy = ${metric(1, 'accuracy').toFixed(4)}`,
          ),
        );
        const g = e.details?.gate as GateResult;
        assert.deepEqual([g.passed, verdicts(g)], [false, ['fail']]);
        return true;
      },
    );
    for (const reason of [undefined, '   '])
      await assert.rejects(
        promote(
          ws,
          { model: 'fm', version: 1 },
          { alias: 'prod', policy: failing, force: true, ...(reason ? { reason } : {}) },
        ),
        rejectsWith('INVALID_ARGUMENT', /a forced promotion needs a reason/),
      );
    assert.equal(await aliasTarget(ws.db, 'fm', 'prod'), undefined);
    assert.equal((await auditLog(ws.db, 'fm')).length, auditBefore, 'refusals leave no audit entry');

    const forced = await promote(
      ws,
      { model: 'fm', version: 1 },
      {
        alias: 'prod',
        policy: failing,
        force: true,
        reason: 'hotfix: the others mislabel boots',
      },
    );
    assert.equal(forced.forced, true);
    assert.equal(forced.gate.passed, false);
    assert.equal(await aliasTarget(ws.db, 'fm', 'prod'), 1);
    const entry = (await auditLog(ws.db, 'fm')).at(-1)!;
    assert.deepEqual(
      [
        entry.action,
        entry.actor,
        entry.alias,
        entry.fromVersion,
        entry.toVersion,
        entry.reason,
        entry.forced,
      ],
      ['promote', 'carol', 'prod', null, 1, 'hotfix: the others mislabel boots', true],
    );
    assert.deepEqual(entry.gate, JSON.parse(JSON.stringify(forced.gate)));

    // --force on a version that passes is an ordinary promotion.
    const passing = gatePolicy({ rules: [{ metric: 'accuracy', min: metric(3, 'accuracy') - 0.01 }] });
    const plain = await promote(
      ws,
      { model: 'fm', version: 3 },
      { alias: 'prod', policy: passing, force: true, reason: 'x' },
    );
    assert.equal(plain.forced, false);
    assert.equal((await auditLog(ws.db, 'fm')).at(-1)!.forced, false);

    // The gate compares against the alias being moved: fm@1 is no match for fm@3, now on prod.
    await assert.rejects(
      promote(
        ws,
        { model: 'fm', version: 1 },
        {
          alias: 'prod',
          policy: gatePolicy({ rules: [{ champion: 'accuracy', notWorseBy: 0 }] }),
        },
      ),
      (e: unknown) => isLoupeError(e, 'GATE_FAILED') && (e.details?.gate as GateResult).champion === 'fm@3',
    );
    assert.equal(await aliasTarget(ws.db, 'fm', 'prod'), 3);
  });

  it('reuses a gate judged against the alias holder, and judges again once the alias has moved', async () => {
    const failing = gatePolicy({ rules: [{ metric: 'accuracy', min: 2 }] });
    const passing = gatePolicy({ rules: [{ metric: 'accuracy', min: 0 }] });
    const judge = async (version: number) =>
      runGate(ws, await getVersion(ws.db, { model: 'fm', version }), { ...passing, against: 'staging' });
    const [judged2, judged1] = [await judge(2), await judge(1)];
    assert.deepEqual([judged2.passed, judged2.champion, judged1.champion], [true, null, null]);
    // Judged against the alias as it still is (empty): not judged again, so the failing policy
    // is never applied.
    const moved = await promote(
      ws,
      { model: 'fm', version: 2 },
      { alias: 'staging', policy: failing, judged: judged2 },
    );
    assert.equal(moved.gate, judged2);
    assert.equal(await aliasTarget(ws.db, 'fm', 'staging'), 2);
    // fm@1's verdict was judged while the alias was empty; fm@2 holds it now: judged again, refused.
    await assert.rejects(
      promote(ws, { model: 'fm', version: 1 }, { alias: 'staging', policy: failing, judged: judged1 }),
      (e: unknown) => isLoupeError(e, 'GATE_FAILED') && (e.details?.gate as GateResult).champion === 'fm@2',
    );
    // Nor does another version's verdict stand for this one.
    await assert.rejects(
      promote(ws, { model: 'fm', version: 3 }, { alias: 'staging', policy: failing, judged: judged2 }),
      (e: unknown) => isLoupeError(e, 'GATE_FAILED'),
    );
    assert.equal(await aliasTarget(ws.db, 'fm', 'staging'), 2);
  });

  it('loupe gate prints the verdict table and exits 5 when a rule fails, 0 when all pass', async () => {
    const acc1 = metric(1, 'accuracy');
    const file = path.join(dir, 'loupe.yaml');
    const config = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    const profiles = config.profiles as Record<string, unknown>;
    await writeFile(
      file,
      stringify({
        ...config,
        gate: {
          against: 'at1',
          rules: [
            { metric: 'accuracy', min: 0 },
            { champion: 'accuracy', notWorseBy: 1 },
          ],
        },
        profiles: {
          ...profiles,
          strict: {
            gate: {
              against: 'at3',
              rules: [
                { metric: 'accuracy', min: acc1 + 0.01 },
                { metric: 'accuracy', max: acc1 + 0.01 },
                { champion: 'accuracy', notWorseBy: 0 },
              ],
            },
          },
        },
      }),
    );
    const [fails, passes] = await Promise.all([
      runLoupe(dir, ['gate', 'fm@1'], { LOUPE_PROFILE: 'strict' }),
      runLoupe(dir, ['gate', 'fm@3', '--data', 'fm2']),
    ]);

    assert.equal(fails.code, 5, fails.stderr);
    assert.match(fails.stderr, /fm@1 fails its gate \[GATE_FAILED\]/);
    const lines = fails.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `gate for fm@1 on ${version(1).datasetVersion!.slice(0, 12)} test, against fm@3`);
    assert.match(lines[1]!, /^verdict +rule +value +detail$/);
    assert.match(
      lines[3]!,
      new RegExp(`^FAIL +accuracy ≥ ${acc1 + 0.01} +${acc1.toFixed(4)} +accuracy = ${acc1.toFixed(4)}$`),
    );
    assert.match(
      lines[4]!,
      new RegExp(`^PASS +accuracy ≤ ${acc1 + 0.01} +${acc1.toFixed(4)} +accuracy = ${acc1.toFixed(4)}$`),
    );
    assert.match(
      lines[5]!,
      new RegExp(
        `^FAIL +accuracy not worse than champion by more than 0 +${gain(1, 3, 'accuracy').toFixed(4)} +accuracy ${acc1.toFixed(4)} vs ${metric(3, 'accuracy').toFixed(4)} for fm@3 `,
      ),
    );
    assert.equal(lines[6], 'gate FAILED');

    assert.equal(passes.code, 0, passes.stderr);
    const latest = (await listDataVersions(ws.db, 'fm2'))[0]!.id;
    assert.match(passes.stdout, new RegExp(`^gate for fm@3 on ${latest.slice(0, 12)} test, against fm@1\\n`));
    assert.match(passes.stdout, /\nPASS +accuracy ≥ 0 /);
    assert.match(passes.stdout, /\nPASS +accuracy not worse than champion by more than 1 /);
    assert.match(passes.stdout, /\ngate passed\n$/);
  });

  it('policies are checked when loupe.yaml is read', async () => {
    const bad: [unknown, RegExp][] = [
      [{ champion: 'accuracy' }, /exactly one of notWorseBy or betterBy/],
      [{ champion: 'accuracy', notWorseBy: 0.1, betterBy: 0.1 }, /exactly one of notWorseBy or betterBy/],
      [{ champion: 'accuracy', notWorseBy: -0.1 }, /gate\.rules\.1\.notWorseBy: Too small/],
      [{ champion: 'accuracy', notWorseBy: 0, alpha: 1 }, /gate\.rules\.1\.alpha: Too big/],
      [{ metric: 'f2', min: 0.5 }, /a metric: accuracy, macro_precision/],
      [{ metric: 'accuracy' }, /a metric rule needs min or max/],
      [{ perClass: 'support', min: 1 }, /gate\.rules\.1: Invalid input/],
      // An empty list would judge no class at all (and crashed the gate before the schema refused it).
      [{ perClass: 'recall', min: 0.5, classes: [] }, /gate\.rules\.1\.classes: Too small/],
      [{ metric: 'accuracy', min: 0.5, extra: 1 }, /Unrecognized key: "extra"/],
    ];
    for (const [rule, message] of bad) {
      const file = path.join(dir, 'bad.yaml');
      await writeFile(file, stringify({ gate: { rules: [{ metric: 'accuracy', min: 0 }, rule] } }));
      await assert.rejects(loadConfig(file, { env: {} }), (e: unknown) => {
        assert.ok(isLoupeError(e, 'INVALID_CONFIG'), String(e));
        assert.match(e.message, /gate\.rules\.1/, JSON.stringify(rule));
        assert.match(e.message, message, JSON.stringify(rule));
        return true;
      });
    }
    const good = gateConfigSchema.parse({ rules: [{ champion: 'ece', betterBy: 0 }] });
    assert.deepEqual(good, {
      whenNoChampion: 'pass',
      against: 'champion',
      rules: [{ champion: 'ece', betterBy: 0, alpha: 0.05 }] satisfies GateRule[],
    });
  });
});

/** Per-item correctness of both over the candidate's items, matched by id, in the candidate's order. */
function paired(candidate: StoredPredictions, champion: StoredPredictions): [Uint8Array, Uint8Array] {
  const at = new Map(champion.ids.map((id, i) => [id, i]));
  const theirs = correctness(champion);
  const mine = correctness(candidate);
  assert.ok(
    candidate.ids.every((id) => at.has(id)),
    'judged on the same items',
  );
  return [mine, Uint8Array.from(candidate.ids, (id) => theirs[at.get(id)!]!)];
}

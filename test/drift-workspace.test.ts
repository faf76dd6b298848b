import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { Classifier } from '../src/inference/classifier.js';
import { topK } from '../src/inference/top-k.js';
import { parseSince } from '../src/cli/commands/drift.js';
import { runDriftCheck } from '../src/monitor/drift/drift-check.js';
import { driftReference } from '../src/monitor/drift/drift-reference.js';
import { latestDriftChecks, type DriftCheck } from '../src/monitor/drift/drift-store.js';
import { readModelFile } from '../src/registry/model-files.js';
import { registerOnnx } from '../src/registry/register-model.js';
import type { ModelVersion } from '../src/registry/registry-store.js';
import { PredictionLog } from '../src/serve/prediction-log.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { tamper, trainAndRegister } from './helpers/registry-fixture.js';
import { repoRoot, runLoupe } from './helpers/run-cli.js';
import { metricsOf, metricValue, startServer, waitFor, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

/**
 * Drift checks of a real model on real images: a tiny CNN trained on four Fashion-MNIST classes
 * of the bundled sample, served inputs from the sample's test folder (which the dataset never
 * saw), shifted with sharp. Predictions reach the log through the real PredictionLog (and, in
 * the server test, through `loupe serve` itself); the CLI runs as the built `loupe` command.
 */

const WINDOW = 80;
const SAMPLE_TEST = path.join(repoRoot, 'samples/fashion-mnist/test');

describe('drift of a served model', () => {
  let dir: string;
  let ws: Workspace;
  let v: ModelVersion;
  /** PNGs of the trained classes, and of classes the model never saw. */
  let seen: Buffer[];
  let unseen: Buffer[];

  /** The sample's test images of `classes`, the classes taking turns, so any run of them is balanced. */
  const images = async (classes: string[]) => {
    const perClass = await Promise.all(
      classes.map(async (c) => {
        const files = (await readdir(path.join(SAMPLE_TEST, c))).sort();
        return Promise.all(files.map((f) => readFile(path.join(SAMPLE_TEST, c, f))));
      }),
    );
    return perClass[0]!.flatMap((_, i) => perClass.map((images) => images[i]!));
  };
  const brighter = (png: Buffer) => sharp(png).linear(1, 128).png().toBuffer();
  const rotated = (png: Buffer) => sharp(png).rotate(90).png().toBuffer();
  /** Every k-th of `list`, starting at `offset`, `n` of them: windows that share no image. */
  const pick = <T>(list: T[], n: number, offset = 0) =>
    Array.from({ length: n }, (_, i) => list[(offset + i * 3) % list.length]!);

  /** Classifies images as the server would and logs them as served predictions of `version`. */
  async function serve(version: ModelVersion, pngs: Buffer[]): Promise<void> {
    const classifier = await Classifier.open(await readModelFile(ws.blobs, version));
    const log = new PredictionLog(
      ws.dbFile,
      ws.blobs,
      { sample: 1, storeInputs: false, retentionDays: 30, maxRows: 100_000 },
      { pruneEveryMs: 0 },
    );
    try {
      if (classifier.inputs.kind !== 'image') throw new Error('an image model was expected');
      const { x } = await preprocessImages(pngs, classifier.inputs.preprocessing);
      const out = await classifier.run(x, pngs.length, { embedding: true });
      const k = classifier.classes.length;
      const dim = out.embedding!.length / pngs.length;
      pngs.forEach((png, i) =>
        log.record({
          model: version.model,
          version: version.version,
          input: png,
          source: 'upload',
          topK: topK(out.probs.subarray(i * k, (i + 1) * k), classifier.classes, 3),
          embedding: out.embedding!.subarray(i * dim, (i + 1) * dim),
          latencyMs: 1,
          requestId: `test-${i}`,
        }),
      );
    } finally {
      await log.close();
      await classifier.dispose();
    }
  }

  const check = async () =>
    (await runDriftCheck(ws, { model: 'fm', config: ws.config.monitor.drift, source: 'cli' })).check;
  const byTest = (c: DriftCheck) => Object.fromEntries(c.tests.map((t) => [t.test, t]));

  before(async () => {
    // alpha 0.01: a clean window must pass, and the chance that it does not is what alpha is.
    ({ dir, ws } = await trainingWorkspace({
      classes: 4,
      perClass: 200,
      yaml: `monitor:\n  drift: { window: ${WINDOW}, minWindow: 50, alpha: 0.01, referenceSize: 400, intervalMs: 300 }\n`,
    }));
    v = (await trainAndRegister(ws, [{ epochs: 3 }])).versions[0]!;
    const classes = (await readdir(SAMPLE_TEST)).sort();
    seen = await images(v.classes);
    unseen = await images(classes.filter((c) => !v.classes.includes(c)));
  });
  after(async () => {
    await ws?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('computes the reference once from held-out items, and again only when its copy is lost', async () => {
    const settings = { size: ws.config.monitor.drift.referenceSize, seed: 0 };
    const first = await driftReference(ws, v, settings);
    // 200 images per class split 80/10/10: 80 val items, topped up with the 80 test items.
    assert.equal(first.split, 'val+test');
    assert.equal(first.predicted.length, 160);
    assert.equal(first.embedding!.length, 160 * first.dim);
    assert.deepEqual(first.classes, v.classes);
    const rows = await ws.db.selectFrom('drift_references').selectAll().execute();
    assert.equal(rows.length, 1);
    // With the model file damaged, only a cached reference can still be read.
    const damaged = await tamper(ws, v, 'overwrite');
    try {
      const again = await driftReference(ws, v, settings);
      assert.deepEqual(again.confidence, first.confidence);
      await rm(ws.blobs.pathOf(rows[0]!.blob));
      await assert.rejects(driftReference(ws, v, settings), /fails its checksum/);
    } finally {
      await damaged.restore();
    }
    const rebuilt = await driftReference(ws, v, settings);
    assert.deepEqual(rebuilt.confidence, first.confidence, 'the same model on the same items');
    assert.ok(await ws.blobs.has(rows[0]!.blob));
  });

  it('says "not enough data" before a verdict can be reached', async () => {
    const none = await check();
    assert.equal(none.status, 'insufficient');
    assert.match(none.message, /no prediction of fm is logged yet/);
    await serve(v, pick(seen, 20));
    const few = await check();
    assert.equal(few.status, 'insufficient');
    assert.equal(few.windowSize, 20);
    assert.match(few.message, /not enough data: 20 logged predictions of fm@1, at least 50 needed/);
    assert.deepEqual(few.tests, []);
    await assert.rejects(
      runDriftCheck(ws, { model: 'nope', config: ws.config.monitor.drift, source: 'cli' }),
      /no model named "nope"; the registry has: fm/,
    );
  });

  it('finds no drift in unseen images of the same classes, and drift in shifted ones', async () => {
    await serve(v, pick(seen, WINDOW, 1));
    const clean = await check();
    assert.equal(clean.status, 'ok', clean.message);
    assert.equal(clean.windowSize, WINDOW);
    assert.equal(clean.tests.length, 5);
    assert.match(clean.message, /^no drift/);

    await serve(v, await Promise.all(pick(seen, WINDOW, 2).map(brighter)));
    const bright = await check();
    assert.equal(bright.status, 'drift', bright.message);
    assert.equal(byTest(bright).mmd!.drift, true);
    assert.equal(byTest(bright).classifier!.drift, true);

    await serve(v, await Promise.all(pick(seen, WINDOW, 1).map(rotated)));
    const turned = await check();
    assert.equal(turned.status, 'drift', turned.message);
    assert.ok(byTest(turned).mmd!.pValue <= byTest(turned).mmd!.threshold);

    // Classes the model was never trained on: it must still put each in one of its four.
    await serve(v, pick(unseen, WINDOW));
    const novel = await check();
    assert.equal(novel.status, 'drift', novel.message);
    assert.equal(byTest(novel).mmd!.drift, true);
    // Every input is of a class it never saw: several times the calibrated 5% lie beyond the threshold.
    const novelty = byTest(novel).novelty!;
    assert.equal(novelty.drift, true);
    assert.ok(
      novelty.statistic > 3 * Number(novelty.detail.expectedShare),
      `outlier share ${novelty.statistic}`,
    );

    const stored = await latestDriftChecks(ws.db, 'fm', 3);
    assert.deepEqual(
      stored.map((c) => c.status),
      ['drift', 'drift', 'drift'],
    );
    assert.deepEqual(stored[0], novel, 'stored as returned');
  });

  describe('loupe drift', () => {
    it('exits 6 on drift, writes the report, and prints JSON with --json', async () => {
      // The window is still the unseen classes from the test before.
      const out = path.join(dir, 'report-drift');
      const r = await runLoupe(dir, ['drift', 'fm', '--json', '--out', out]);
      assert.equal(r.code, 6, r.stderr);
      const printed = JSON.parse(r.stdout) as DriftCheck;
      assert.equal(printed.status, 'drift');
      assert.equal(printed.source, 'cli');
      assert.match(r.stderr, /fm@1 drifted \[DRIFT_DETECTED\]/);
      const report = JSON.parse(await readFile(path.join(out, 'drift_report.json'), 'utf8')) as {
        check: DriftCheck;
        window: { classCounts: number[] };
        mmdNull: number[];
        novelty: { calibration: number[]; window: number[]; threshold: number };
        embeddingMap: { window: unknown[] };
      };
      assert.deepEqual(report.check, printed);
      assert.equal(
        report.window.classCounts.reduce((a, b) => a + b, 0),
        WINDOW,
      );
      assert.equal(report.mmdNull.length, ws.config.monitor.drift.permutations);
      // 160 reference items: 80 fitted, 80 calibrating the threshold.
      assert.equal(report.novelty.calibration.length, 80);
      assert.equal(report.novelty.window.length, WINDOW);
      const novelty = printed.tests.find((t) => t.test === 'novelty')!;
      assert.equal(
        report.novelty.window.filter((d) => d > report.novelty.threshold).length,
        novelty.detail.outliers,
      );
      assert.equal(report.embeddingMap.window.length, WINDOW);
      const html = await readFile(path.join(out, 'drift_report.html'), 'utf8');
      assert.match(html, /Drift detected/);
      assert.equal(
        (html.match(/<svg/g) ?? []).length,
        5,
        'class frequencies, confidence, MMD null, novelty scores, embedding map',
      );
      assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained');
    });

    it('exits 0 with a table when nothing drifted', async () => {
      await serve(v, pick(seen, WINDOW, 1));
      const r = await runLoupe(dir, ['drift', 'fm@1']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /drift check of fm@1: 80 logged predictions against 160 held-out items/);
      for (const test of ['mmd', 'classifier', 'novelty', 'predictions', 'confidence'])
        assert.match(r.stdout, new RegExp(`ok\\s+${test}\\s`));
      assert.match(r.stdout, /no drift: the closest test/);
      const [, report] = /report: (\S+drift_report\.html)/.exec(r.stdout) ?? [];
      assert.ok(report && existsSync(report), r.stdout);
      assert.ok(report.startsWith(path.join(dir, '.loupe', 'reports')));
    });

    it('exits 7 when there is not enough data', async () => {
      const r = await runLoupe(dir, [
        'drift',
        'fm',
        '--since',
        '2999-01-01',
        '--out',
        path.join(dir, 'report-empty'),
      ]);
      assert.equal(r.code, 7, r.stderr);
      assert.match(
        r.stdout,
        /not enough data: 0 logged predictions of fm@1 since 2999-01-01T00:00:00\.000Z, at least 50 needed/,
      );
      assert.match(r.stderr, /\[NOT_ENOUGH_DATA\]/);
      const html = await readFile(path.join(dir, 'report-empty', 'drift_report.html'), 'utf8');
      assert.match(html, /Not enough data/);
      // A short window is allowed to be the whole window.
      const short = await runLoupe(dir, ['drift', 'fm', '--window', '20', '--since', '1h', '--json']);
      assert.equal(short.code, 0, short.stderr);
      assert.equal((JSON.parse(short.stdout) as DriftCheck).windowSize, 20);
    });

    it('reads --since as a time or a span back from now', () => {
      const now = Date.parse('2025-03-02T12:00:00Z');
      assert.equal(parseSince('90m', now).toISOString(), '2025-03-02T10:30:00.000Z');
      assert.equal(parseSince('7d', now).toISOString(), '2025-02-23T12:00:00.000Z');
      assert.equal(parseSince('2025-03-01', now).toISOString(), '2025-03-01T00:00:00.000Z');
      assert.equal(parseSince('2025-03-01T08:00:00+02:00', now).toISOString(), '2025-03-01T06:00:00.000Z');
      for (const bad of ['5x', 'yesterday', '12', '2025-13-45'])
        assert.throws(() => parseSince(bad, now), /--since takes/);
    });

    it('refuses bad arguments with exit 2', async () => {
      for (const [args, message] of [
        [['drift', 'fm', '--window', '5'], /--window takes a whole number from 10 to 5000, got "5"/],
        [['drift', 'fm', '--since', 'last tuesday'], /--since takes a time .* got "last tuesday"/],
        [['drift', 'fm@9'], /model fm has no version 9/],
      ] as const) {
        const r = await runLoupe(dir, [...args]);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
    });

    it('refuses an invalid monitor.drift in loupe.yaml', async () => {
      const other = await mkdtemp(path.join(tmpdir(), 'loupe-drift-yaml-'));
      try {
        await writeFile(
          path.join(other, 'loupe.yaml'),
          'monitor:\n  drift: { window: 100, minWindow: 500 }\n',
        );
        const r = await runLoupe(other, ['drift', 'fm']);
        assert.equal(r.code, 2);
        assert.match(
          r.stderr,
          /monitor\.drift\.minWindow: must be at most window \(100\), got 500 \[INVALID_CONFIG\]/,
        );
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    });
  });

  describe('loupe serve', () => {
    let server: RunningServer;
    let bare: ModelVersion;
    /** The server's JSON log lines. */
    const logged: { level: number; msg: string; model?: string; status?: string; err?: string }[] = [];

    before(async () => {
      // A model with no dataset version, so no reference: its checks must fail alone.
      const file = path.join(dir, 'bare.onnx');
      await writeFile(file, await readModelFile(ws.blobs, v));
      const pre = v.inputs.kind === 'image' ? v.inputs.preprocessing : assert.fail('an image model');
      bare = (
        await registerOnnx(ws, file, {
          name: 'bare',
          labels: v.classes,
          output: 'logits',
          preprocessing: pre,
        })
      ).version;
      server = await startServer(
        ws,
        {},
        {
          logger: { level: 'info', stream: { write: (line: string) => void logged.push(JSON.parse(line)) } },
        },
      );
    });
    after(() => server?.close());

    const post = async (model: string, pngs: Buffer[]) => {
      for (let i = 0; i < pngs.length; i += 40) {
        const form = new FormData();
        for (const png of pngs.slice(i, i + 40))
          form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'x.png');
        const res = await fetch(`${server.url}/v1/models/${model}/predict`, { method: 'POST', body: form });
        const text = await res.text();
        assert.equal(res.status, 200, text);
      }
      await server.predictionLog.flush();
    };
    /** The next check of `model` finished after this call: its metrics then describe what is logged now. */
    const nextCheck = async (model: string) => {
      const after = Date.now() / 1000;
      return waitFor(
        `a drift check of ${model}`,
        async () => {
          const text = await metricsOf(server.url);
          const at = metricValue(text, 'loupe_drift_last_check_timestamp_seconds', { model });
          return at !== undefined && at > after && text;
        },
        { timeoutMs: 60_000, everyMs: 100 },
      );
    };

    it('checks every served model on its schedule, off the request path', async () => {
      await post('fm', pick(seen, WINDOW, 2));
      let metrics = await nextCheck('fm');
      assert.equal(metricValue(metrics, 'loupe_drift_window_size', { model: 'fm' }), WINDOW);
      assert.equal(metricValue(metrics, 'loupe_drift_detected', { model: 'fm', test: 'combined' }), 0);
      for (const test of ['mmd', 'classifier', 'novelty', 'predictions', 'confidence']) {
        const p = metricValue(metrics, 'loupe_drift_p_value', { model: 'fm', test });
        assert.ok(p !== undefined && p > 0 && p <= 1, `${test}: p ${p}`);
        assert.ok(metricValue(metrics, 'loupe_drift_statistic', { model: 'fm', test }) !== undefined);
      }
      // Nothing logged for bare yet: its check is "not enough data", with no verdict series.
      assert.ok(
        metricValue(metrics, 'loupe_drift_checks_total', { model: 'bare', status: 'insufficient' })! >= 1,
      );
      assert.equal(metricValue(metrics, 'loupe_drift_detected', { model: 'bare' }), undefined);

      // The same server, now served shifted inputs; requests answer while checks run.
      const rotatedImages = await Promise.all(pick(seen, WINDOW, 1).map(rotated));
      await post('fm', rotatedImages);
      metrics = await nextCheck('fm');
      assert.equal(metricValue(metrics, 'loupe_drift_detected', { model: 'fm', test: 'combined' }), 1);
      assert.equal(metricValue(metrics, 'loupe_drift_detected', { model: 'fm', test: 'mmd' }), 1);
      assert.ok(metricValue(metrics, 'loupe_drift_checks_total', { model: 'fm', status: 'drift' })! >= 1);

      const line = logged.findLast((l) => l.model === 'fm' && l.msg.startsWith('drift check:'));
      assert.ok(line && line.status === 'drift' && line.level === 40, JSON.stringify(line));
      assert.match(line.msg, /^drift check: drift: .*mmd/);
      const stored = (await latestDriftChecks(ws.db, 'fm', 1))[0]!;
      assert.equal(stored.source, 'schedule');
      assert.equal(stored.status, 'drift');
      assert.equal(stored.version, v.version);
    });

    it('a check that fails is counted and logged, and the server keeps serving', async () => {
      await post('bare', pick(seen, 60));
      const metrics = await waitFor(
        'a failed check of bare',
        async () => {
          const text = await metricsOf(server.url);
          return (
            (metricValue(text, 'loupe_drift_checks_total', { model: 'bare', status: 'failed' }) ?? 0) >= 1 &&
            text
          );
        },
        { timeoutMs: 60_000, everyMs: 100 },
      );
      assert.equal(metricValue(metrics, 'loupe_drift_detected', { model: 'bare' }), undefined);
      assert.equal(bare.datasetVersion, null);
      const failure = logged.find((l) => l.model === 'bare' && l.msg === 'drift check failed');
      assert.match(failure?.err ?? '', /bare@1 has no dataset version/);
      await post('fm', pick(seen, 10));
      await post('bare', pick(seen, 10));
      assert.ok((await fetch(`${server.url}/healthz`)).ok);
    });
  });
});

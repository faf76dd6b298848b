import assert from 'node:assert/strict';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { renderSvg } from '../src/charts/render.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import type { EvalReport } from '../src/eval/evaluation.js';
import { evalCharts } from '../src/eval/report/eval-charts.js';
import { writeEvalReport } from '../src/eval/report/write-eval-report.js';
import { evalReportFixture, HOSTILE_LABEL } from './helpers/eval-report-fixture.js';

const FILES = [
  'eval_report.json',
  'metrics.json',
  'confusion_matrix.png',
  'confusion_matrix_normalized.png',
  'pr_curves.png',
  'roc_curves.png',
  'reliability.png',
  'report.html',
];

const escaped = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const manyClasses = (n: number) =>
  Array.from({ length: n }, (_, i) => `species ${String(i).padStart(2, '0')}`);

let root: string;
let report: EvalReport;
let dir: string;
let files: Record<string, string>;
let html: string;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'loupe-eval-report-'));
  report = await evalReportFixture();
  dir = path.join(root, 'nested', 'report');
  ({ files } = await writeEvalReport(report, dir));
  html = await readFile(path.join(dir, 'report.html'), 'utf8');
});
after(() => rm(root, { recursive: true, force: true }));

describe('writeEvalReport', () => {
  it('writes every file into the folder, creating it, and returns their paths', async () => {
    assert.deepEqual(Object.keys(files).sort(), [...FILES].sort());
    for (const name of FILES) {
      assert.equal(files[name], path.join(dir, name));
      await access(files[name]!);
    }
  });

  it('keeps the whole report in eval_report.json', async () => {
    const saved = JSON.parse(await readFile(files['eval_report.json']!, 'utf8'));
    assert.deepEqual(saved, JSON.parse(JSON.stringify(report)));
  });

  it('writes charts as PNGs of a legible size', async () => {
    for (const name of FILES.filter((f) => f.endsWith('.png'))) {
      const meta = await sharp(files[name]).metadata();
      assert.equal(meta.format, 'png', name);
      assert.ok(meta.width! >= 500 && meta.width! <= 2400, `${name} is ${meta.width} px wide`);
      assert.ok(meta.height! >= 400 && meta.height! <= 2400, `${name} is ${meta.height} px high`);
      const { channels } = await sharp(files[name]).stats();
      assert.ok(
        channels.some((c) => c.min < 100),
        `${name} has dark pixels (text, lines)`,
      );
    }
  });

  it('summarises the figures a CI reads in metrics.json', async () => {
    const summary = JSON.parse(await readFile(files['metrics.json']!, 'utf8'));
    const m = report.metrics;
    assert.deepEqual(
      {
        accuracy: summary.accuracy,
        top_k: summary.top_k,
        macro: [summary.macro_precision, summary.macro_recall, summary.macro_f1],
        weighted: [summary.weighted_precision, summary.weighted_recall, summary.weighted_f1],
        map: summary.map,
        roc_auc: summary.roc_auc,
        ece: summary.ece,
        nll: summary.nll,
        brier: summary.brier,
        latency: [summary.latency_p50_ms, summary.latency_p95_ms],
        temperature: summary.temperature,
        n: summary.n,
        split: summary.split,
      },
      {
        accuracy: m.accuracy,
        top_k: { '1': m.accuracy, '3': 0.985 },
        macro: [m.macro.precision, m.macro.recall, m.macro.f1],
        weighted: [m.weighted.precision, m.weighted.recall, m.weighted.f1],
        map: m.mapMacro,
        roc_auc: m.rocAucMacro,
        ece: m.ece,
        nll: 0.312,
        brier: 0.151,
        latency: [7.8, 12.4],
        temperature: 1.42,
        n: m.n,
        split: 'test',
      },
    );
    assert.deepEqual(Object.keys(summary.per_class), m.classes);
    const hostile = m.perClass.find((c) => c.label === HOSTILE_LABEL)!;
    assert.deepEqual(summary.per_class[HOSTILE_LABEL], {
      precision: hostile.precision,
      recall: hostile.recall,
      f1: hostile.f1,
      support: hostile.support,
    });
    for (const value of Object.values(summary))
      assert.ok(typeof value !== 'object' || value === null || !Array.isArray(value));
  });

  it('gives metrics.json every key even without calibration or latency, and null for undefined areas', async () => {
    const bare: EvalReport = {
      ...report,
      calibration: undefined,
      latency: undefined,
      metrics: { ...report.metrics, rocAucMacro: NaN },
      hardestMistakes: [],
      labelIssues: { source: 'the evaluated split', items: [] },
    };
    const out = path.join(root, 'bare');
    await writeEvalReport(bare, out);
    const summary = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8'));
    assert.equal(summary.temperature, null);
    assert.equal(summary.latency_p50_ms, null);
    assert.equal(summary.latency_p95_ms, null);
    assert.equal(summary.roc_auc, null);
    const page = await readFile(path.join(out, 'report.html'), 'utf8');
    assert.ok(!page.includes('<h3>Calibration</h3>'));
    assert.ok(!page.includes('<h3>Latency</h3>'));
    assert.equal(page.match(/None found\./g)?.length, 2);
    assert.ok(page.includes('ROC, macro AUC n/a'));
  });

  it('fails on a folder it cannot write with a LoupeError that names it', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'not a folder');
    const target = path.join(file, 'report');
    await assert.rejects(writeEvalReport(report, target), (e: unknown) => {
      assert.ok(isLoupeError(e, 'INVALID_ARGUMENT'), String(e));
      assert.match(e.message, /cannot write the evaluation report to .*a-file[/\\]report/);
      return true;
    });
  });

  it(
    'fails on a read-only folder with a LoupeError',
    { skip: process.getuid?.() === 0 ? 'root writes to read-only folders' : false },
    async () => {
      const readOnly = path.join(root, 'read-only');
      await mkdir(readOnly);
      await chmod(readOnly, 0o500);
      try {
        await assert.rejects(writeEvalReport(report, readOnly), (e: unknown) => {
          assert.ok(isLoupeError(e, 'INVALID_ARGUMENT'), String(e));
          assert.match(e.message, /cannot write the evaluation report to .*read-only/);
          return true;
        });
      } finally {
        await chmod(readOnly, 0o700);
      }
    },
  );
});

describe('report.html', () => {
  it('loads nothing from elsewhere: no scripts, stylesheets, fonts or remote images', () => {
    assert.ok(!/<script/i.test(html), 'no script');
    assert.ok(!/<link/i.test(html), 'no link');
    assert.ok(!/<iframe|<object|<embed/i.test(html));
    assert.ok(!/@import|@font-face/i.test(html));
    assert.ok(
      !/\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\//i.test(html),
      'no remote src or href',
    );
    assert.ok(!/url\(\s*["']?\s*(?:https?:)?\/\//i.test(html), 'no remote url()');
    // The only absolute URLs outside text are the namespaces each inline SVG declares.
    const attributes = [...html.matchAll(/\s([\w:-]+)="(https?:[^"]*)"/g)].map((m) => m[1]);
    assert.ok(attributes.length > 0);
    assert.deepEqual([...new Set(attributes)].sort(), ['xmlns', 'xmlns:xlink']);
  });

  it('inlines the five charts as SVG, with ids unique on the page', () => {
    assert.equal(html.match(/<svg\b/g)?.length, 5);
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length);
    for (const [, ref] of html.matchAll(/url\(#([^)]+)\)/g))
      assert.ok(ids.includes(ref), `${ref} is defined`);
  });

  it('escapes every string from the data', () => {
    assert.ok(!html.includes(HOSTILE_LABEL));
    assert.ok(!/<b>/i.test(html), 'no <b> element from a label');
    assert.ok(html.includes(escaped(HOSTILE_LABEL)));
    assert.ok(html.includes(escaped('https://example.org/recordings/rec-7.wav?x=1&y=<2>')));
    assert.ok(!html.includes('y=<2>'));
  });

  it('shows the header, the headline figures, calibration and latency', () => {
    for (const text of ['pets-classifier@3', 'pets@7', '2025-03-14 09:26 UTC', 'out-of-fold predictions'])
      assert.ok(html.includes(text), text);
    assert.ok(html.includes(`<dt>items</dt><dd>${report.metrics.n}</dd>`));
    assert.ok(html.includes(`${(report.metrics.accuracy * 100).toFixed(1)}%`));
    assert.ok(html.includes('top-3 accuracy'));
    assert.ok(html.includes('<h3>Calibration</h3>') && html.includes('1.42'));
    assert.ok(html.includes(`0.081 → ${report.metrics.ece.toFixed(3)}`));
    assert.ok(html.includes('<h3>Latency</h3>') && html.includes('7.80 ms') && html.includes('12.4 ms'));
  });

  it('lists every class in the per-class table', () => {
    for (const c of report.metrics.perClass) {
      const row = new RegExp(
        `<th scope="row">${escaped(c.label).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</th>\\s*<td>${c.precision.toFixed(3)}</td>\\s*<td>${c.recall.toFixed(3)}</td>[\\s\\S]*?${c.f1.toFixed(3)}</td>\\s*<td>${c.support}</td>`,
      );
      assert.match(html, row, c.label);
    }
  });

  it('shows mistakes and label issues as cards with inline thumbnails, and an audio span', () => {
    assert.equal(html.match(/<article class="card">/g)?.length, 5);
    assert.equal(html.match(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+"/g)?.length, 3);
    assert.ok(!html.includes('tracker.png'), 'a thumbnail that is not an inline image is dropped');
    assert.ok(html.includes('12.50 – 15.00 s'));
    assert.ok(html.includes('confidence <strong>97.0%</strong>'));
  });

  it('fits a phone and prints', () => {
    assert.match(html, /<meta name="viewport" content="width=device-width/);
    assert.match(html, /@media \(max-width: 480px\)/);
    assert.match(html, /@media print/);
  });
});

describe('evaluation charts', () => {
  it('are plain Vega-Lite data, JSON-safe', () => {
    for (const [name, spec] of Object.entries(evalCharts(report)))
      assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec, name);
  });

  it('write counts in the confusion matrix cells, light on dark cells, both axes in class order', async () => {
    const svg = await renderSvg(evalCharts(report).confusion_matrix);
    const m = report.metrics;
    const biggest = Math.max(...m.confusion.flat());
    assert.match(svg, new RegExp(`<text[^>]*fill="white"[^>]*>${biggest}</text>`));
    assert.match(svg, /<text[^>]*fill="#111827"[^>]*>[1-9]\d*<\/text>/);
    for (const title of ['true label', 'predicted label']) assert.ok(svg.includes(`>${title}<`), title);
    const axisLabels = (axis: string) => {
      const group = svg.slice(svg.indexOf(`aria-label="${axis}`));
      const labels = group.slice(group.indexOf('role-axis-label'), group.indexOf('role-axis-title'));
      return [...labels.matchAll(/>([^<>]+)<\/text>/g)].map((t) => t[1]);
    };
    const shown = m.classes.map((c) => c.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    assert.deepEqual(axisLabels('X-axis'), shown);
    assert.deepEqual(axisLabels('Y-axis'), shown);
  });

  it('name each class with its AP or AUC in the curve legends', async () => {
    const charts = evalCharts(report);
    const pr = await renderSvg(charts.pr_curves);
    const roc = await renderSvg(charts.roc_curves);
    for (const c of report.metrics.pr) assert.ok(pr.includes(`(AP ${c.ap.toFixed(2)})`), c.label);
    for (const c of report.metrics.roc) assert.ok(roc.includes(`(AUC ${c.auc.toFixed(2)})`), c.label);
  });

  it('draw the reliability diagram against the diagonal, with the histogram below', async () => {
    const svg = await renderSvg(evalCharts(report).reliability);
    for (const text of ['perfect calibration', 'accuracy', 'items', 'confidence (top-1 probability)'])
      assert.ok(svg.includes(`>${text}<`), text);
    assert.ok(svg.includes(`>Reliability, ECE ${report.metrics.ece.toFixed(3)}<`));
  });
});

describe('a report of 40 classes', () => {
  let big: EvalReport;
  before(async () => (big = await evalReportFixture(manyClasses(40))));

  it('colours only the ten weakest curves and leaves numbers out of the small cells', async () => {
    const charts = evalCharts(big);
    const pr = await renderSvg(charts.pr_curves);
    assert.ok(pr.includes('the 10 lowest-AP of 40 classes in colour'));
    const weakest = [...big.metrics.pr].sort((a, b) => a.ap - b.ap).slice(0, 10);
    const strongest = [...big.metrics.pr].sort((a, b) => b.ap - a.ap)[0]!;
    for (const c of weakest) assert.ok(pr.includes(`>${c.label} (AP ${c.ap.toFixed(2)})<`), c.label);
    assert.ok(!pr.includes(`>${strongest.label} (AP`), 'a strong class stays out of the legend');
    const heatmap = await renderSvg(charts.confusion_matrix);
    assert.ok(!heatmap.includes('mark-text role-mark'), 'no numbers in 40x40 cells');
    assert.ok(heatmap.includes('>species 39<'));
  });

  it('renders every file, each PNG still of a sensible size', async () => {
    const out = path.join(root, 'forty');
    const { files: written } = await writeEvalReport(big, out);
    for (const name of FILES.filter((f) => f.endsWith('.png'))) {
      const meta = await sharp(written[name]).metadata();
      assert.ok(meta.width! <= 3000 && meta.height! <= 3000, `${name} is ${meta.width}x${meta.height}`);
    }
    const page = await readFile(written['report.html']!, 'utf8');
    for (const label of big.metrics.classes) assert.ok(page.includes(`<th scope="row">${label}</th>`), label);
    assert.equal(page.match(/<svg\b/g)?.length, 5);
  });
});

import type { EvalReport, ItemFinding } from '../evaluation.js';
import type { EvalChartName } from './eval-charts.js';

const CHART_CAPTIONS: Record<EvalChartName, string> = {
  confusion_matrix:
    'Rows are true labels, columns predictions: the diagonal holds the items the model got right.',
  confusion_matrix_normalized:
    'Each row divided by its total: the diagonal is the recall of each class, the rest shows where its items went instead.',
  pr_curves:
    'Precision against recall for each class against the rest; AP, the area under the stepped curve, sums it up.',
  roc_curves: 'True against false positive rate for each class against the rest; the dashed line is chance.',
  reliability:
    'Bars: accuracy of the items in each confidence bin; red: the gap to their mean confidence; dashed: where a perfectly calibrated model would be. Below: how many items fall in each bin.',
};

/** Above this many classes a confusion matrix keeps its size and scrolls rather than shrink past reading. */
const SCROLL_ABOVE_CLASSES = 20;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** For text and attribute values alike. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const defined = (x: number) => Number.isFinite(x);
const NA = '<span class="na" title="not defined for this data">—</span>';
const pct = (x: number, digits = 1) => (defined(x) ? `${(x * 100).toFixed(digits)}%` : NA);
const fixed = (x: number, digits = 3) => (defined(x) ? x.toFixed(digits) : NA);
const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return escapeHtml(iso);
  return `<time datetime="${escapeHtml(d.toISOString())}">${d.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/**
 * Only an inline raster image may become an <img>: anything else (a URL, an SVG that could
 * carry script) would make the report fetch or run something.
 */
const THUMBNAIL = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;

/**
 * Vega numbers its gradients per process; prefixing keeps ids unique on one page whatever
 * produced the SVGs.
 */
export function inlineSvg(svg: string, name: string): string {
  return svg
    .replace(/(\s)id="([^"]+)"/g, `$1id="${name}-$2"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${name}-$1)`);
}

export function tile(label: string, value: string, note?: string): string {
  return `<div class="tile"><div class="tile-label">${label}</div><div class="tile-value">${value}</div>${
    note ? `<div class="tile-note">${note}</div>` : ''
  }</div>`;
}

function headline(report: EvalReport): string {
  const m = report.metrics;
  const topK = Object.entries(m.topK)
    .filter(([k]) => k !== '1')
    .map(([k, v]) => tile(`top-${escapeHtml(k)} accuracy`, pct(v)));
  return [
    tile('accuracy', pct(m.accuracy), `${m.n} items, ${m.classes.length} classes`),
    ...topK,
    tile('macro F1', fixed(m.macro.f1), `P ${fixed(m.macro.precision)} · R ${fixed(m.macro.recall)}`),
    tile(
      'weighted F1',
      fixed(m.weighted.f1),
      `P ${fixed(m.weighted.precision)} · R ${fixed(m.weighted.recall)}`,
    ),
    tile('mAP', fixed(m.mapMacro), 'mean average precision'),
    tile('ROC-AUC', fixed(m.rocAucMacro), 'macro, one against the rest'),
    tile('ECE', fixed(m.ece), 'expected calibration error'),
    tile('NLL', fixed(m.nll), 'negative log-likelihood'),
    tile('Brier', fixed(m.brier), 'multi-class Brier score'),
  ].join('\n');
}

function calibrationAndLatency(report: EvalReport): string {
  const parts: string[] = [];
  const c = report.calibration;
  if (c) {
    parts.push(`<div class="panel">
<h3>Calibration</h3>
<p class="muted">Temperature scaling fitted on ${escapeHtml(c.fittedOn.split)} (${c.fittedOn.n} items). The metrics above are after it.</p>
<div class="tiles small">
${tile('temperature', fixed(c.temperature, 2))}
${tile('ECE', `${fixed(c.eceBefore)} → ${fixed(report.metrics.ece)}`, 'before → after')}
${tile('NLL', `${fixed(c.nllBefore)} → ${fixed(report.metrics.nll)}`, 'before → after')}
</div>
</div>`);
  }
  const l = report.latency;
  if (l) {
    parts.push(`<div class="panel">
<h3>Latency</h3>
<p class="muted">One item at a time, end to end: decode, preprocess and inference; ${l.samples} samples.</p>
<div class="tiles small">
${tile('p50', ms(l.p50))}
${tile('p95', ms(l.p95))}
${tile('mean', ms(l.mean))}
</div>
</div>`);
  }
  return parts.length ? `<section class="panels">\n${parts.join('\n')}\n</section>` : '';
}

function charts(report: EvalReport, svgs: Record<EvalChartName, string>): string {
  const scroll = report.metrics.classes.length > SCROLL_ABOVE_CLASSES;
  const figures = (Object.keys(CHART_CAPTIONS) as EvalChartName[]).map((name) => {
    const wide = scroll && name.startsWith('confusion_matrix');
    return `<figure class="chart${wide ? ' chart-wide' : ''}">
<div class="chart-frame">${inlineSvg(svgs[name], name)}</div>
<figcaption>${CHART_CAPTIONS[name]}</figcaption>
</figure>`;
  });
  return `<section>
<h2>Charts</h2>
<div class="charts">
${figures.join('\n')}
</div>
</section>`;
}

function perClassTable(report: EvalReport): string {
  const rows = report.metrics.perClass.map(
    (c) => `<tr>
<th scope="row">${escapeHtml(c.label)}</th>
<td>${fixed(c.precision)}</td>
<td>${fixed(c.recall)}</td>
<td class="f1"><span class="bar" style="--v:${defined(c.f1) ? Math.max(0, Math.min(1, c.f1)) : 0}"></span>${fixed(c.f1)}</td>
<td>${c.support}</td>
</tr>`,
  );
  return `<section>
<h2>Per class</h2>
<div class="table-wrap">
<table class="per-class">
<thead><tr><th scope="col">class</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">F1</th><th scope="col">support</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</div>
</section>`;
}

function card(f: ItemFinding): string {
  const thumb =
    f.thumbnail && THUMBNAIL.test(f.thumbnail)
      ? `<img src="${f.thumbnail}" alt="${escapeHtml(`item ${f.id}`)}" loading="lazy">`
      : '<span class="no-thumb">no preview</span>';
  const details = [
    `<dt>id</dt><dd>${escapeHtml(f.id)}</dd>`,
    f.source ? `<dt>source</dt><dd>${escapeHtml(f.source)}</dd>` : '',
    f.span ? `<dt>span</dt><dd>${f.span[0].toFixed(2)} – ${f.span[1].toFixed(2)} s</dd>` : '',
  ].join('');
  return `<article class="card">
<div class="thumb">${thumb}</div>
<div class="card-body">
<p class="labels"><span class="label given" title="given label">${escapeHtml(f.given)}</span><span class="arrow" aria-label="predicted as">→</span><span class="label predicted" title="predicted label">${escapeHtml(f.predicted)}</span></p>
<p class="probs">confidence <strong>${pct(f.confidence)}</strong> · given label ${pct(f.givenProbability)}</p>
<dl>${details}</dl>
</div>
</article>`;
}

function findings(title: string, intro: string, items: ItemFinding[]): string {
  return `<section>
<h2>${title}</h2>
<p class="muted">${intro}</p>
${items.length ? `<div class="cards">\n${items.map(card).join('\n')}\n</div>` : '<p class="empty">None found.</p>'}
</section>`;
}

const CSS = `
:root { color-scheme: light; --ink: #111827; --muted: #4b5563; --line: #e5e7eb; --soft: #f5f7fa; --accent: #1d4ed8; --bad: #b91c1c; --good: #047857; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 1.25rem; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 0 0 4px; }
p { margin: 0 0 12px; }
.muted, figcaption { color: var(--muted); font-size: 0.9rem; }
header .model { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 1rem; color: var(--muted); overflow-wrap: anywhere; margin-bottom: 16px; }
.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px 16px; margin: 0; }
.meta div { min-width: 0; }
.meta dt { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.meta dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.tile { background: var(--soft); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; min-width: 0; }
.tile-label { font-size: 0.8rem; color: var(--muted); }
.tile-value { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.25; }
.tile-note { font-size: 0.8rem; color: var(--muted); }
.tiles.small .tile-value { font-size: 1.2rem; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 340px), 1fr)); gap: 16px; margin-top: 24px; }
.panel { border: 1px solid var(--line); border-radius: 12px; padding: 16px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); gap: 24px; align-items: start; }
.chart { margin: 0; min-width: 0; }
.chart-frame { border: 1px solid var(--line); border-radius: 12px; padding: 8px; background: #fff; overflow-x: auto; }
.chart svg { display: block; width: 100%; height: auto; margin: 0 auto; }
.chart-wide { grid-column: 1 / -1; }
.chart-wide svg { width: auto; max-width: none; }
figcaption { margin-top: 8px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
thead th { font-size: 0.8rem; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
th:first-child { text-align: left; white-space: normal; overflow-wrap: anywhere; font-weight: 500; min-width: 8em; }
tbody tr:nth-child(even) { background: #fafbfc; }
.f1 { position: relative; min-width: 7em; }
.f1 .bar { position: absolute; left: 10px; right: 10px; bottom: 4px; height: 3px; background: linear-gradient(to right, var(--accent) calc(var(--v) * 100%), var(--line) 0); border-radius: 2px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 210px), 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 12px; overflow: hidden; background: #fff; display: flex; flex-direction: column; min-width: 0; }
.thumb { aspect-ratio: 4 / 3; background: var(--soft); display: flex; align-items: center; justify-content: center; border-bottom: 1px solid var(--line); }
.thumb img { width: 100%; height: 100%; object-fit: contain; }
.no-thumb { color: var(--muted); font-size: 0.85rem; }
.card-body { padding: 10px 12px 12px; font-size: 0.9rem; }
.labels { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-bottom: 6px; }
.label { border-radius: 999px; padding: 1px 9px; font-weight: 600; overflow-wrap: anywhere; }
.given { background: #fee2e2; color: var(--bad); }
.predicted { background: #dbeafe; color: #1e3a8a; }
.arrow { color: var(--muted); }
.probs { margin-bottom: 6px; font-variant-numeric: tabular-nums; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0; font-size: 0.8rem; }
.card dt { color: var(--muted); }
.card dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; }
.na { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.8rem; }
@media (max-width: 480px) {
  main { padding: 16px 12px 32px; }
  h1 { font-size: 1.4rem; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .tile-value { font-size: 1.3rem; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .card-body { padding: 8px; }
  th, td { padding: 6px 4px; }
  table { font-size: 0.9rem; }
  th:first-child { min-width: 5em; }
  .f1 { min-width: 4.5em; }
  .f1 .bar { left: 4px; right: 4px; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  .tile, .panel, .chart, .card, tr { break-inside: avoid; }
  .chart-frame, .table-wrap { overflow: visible; }
  .chart-wide svg { width: 100%; }
  .tile, .label, .thumb, .f1 .bar { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

/**
 * A report page's doctype and head: `title` (already escaped) and the shared styles plus `css`.
 * The content security policy keeps the browser from fetching or running anything.
 */
export function reportPageHead(title: string, css = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${title}</title>
<style>${CSS}${css}</style>
</head>`;
}

/**
 * One self-contained HTML page: charts inline as SVG, thumbnails as data URIs, the styles in the
 * page; a content security policy keeps the browser from fetching anything, so the file reads
 * the same offline, attached to an issue or archived. Every string from the data is escaped.
 */
export function renderReportHtml(report: EvalReport, svgs: Record<EvalChartName, string>): string {
  const m = report.metrics;
  const meta: [string, string][] = [
    // The short form `loupe data` commands accept; the full id is in the hover text.
    [
      'dataset version',
      `<span title="${escapeHtml(report.datasetVersion)}">${escapeHtml(report.datasetVersion.slice(0, 12))}</span>`,
    ],
    ['split', escapeHtml(report.split)],
    ['items', String(m.n)],
    ['classes', String(m.classes.length)],
    ['created', formatDate(report.createdAt)],
  ];
  return `${reportPageHead(`Evaluation: ${escapeHtml(report.model)} on ${escapeHtml(report.split)}`)}
<body>
<main>
<header>
<h1>Evaluation report</h1>
<div class="model">${escapeHtml(report.model)}</div>
<dl class="meta">
${meta.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('\n')}
</dl>
</header>
<section>
<h2>Headline</h2>
<div class="tiles">
${headline(report)}
</div>
${calibrationAndLatency(report)}
</section>
${charts(report, svgs)}
${perClassTable(report)}
${findings(
  'Hardest mistakes',
  'The wrong predictions the model was most sure of, most confident first.',
  report.hardestMistakes,
)}
${findings(
  'Likely label issues',
  `Items whose given label the model doubts most, by confident learning on probabilities from ${escapeHtml(report.labelIssues.source)}; most likely first. Worth a second look before trusting the label.`,
  report.labelIssues.items,
)}
<footer>Generated by Loupe.</footer>
</main>
</body>
</html>
`;
}

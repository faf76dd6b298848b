import {
  escapeHtml,
  formatDate,
  inlineSvg,
  reportPageHead,
  tile,
} from '../../eval/report/render-report-html.js';
import type { DriftChartName, DriftReport } from './drift-report.js';
import type { DriftTestResult } from './drift-tests.js';

const CAPTIONS: Record<DriftChartName, string> = {
  class_frequencies:
    'How often each class was predicted, as a share of each side. A class the window predicts far more or less often than the reference is what the chi-square test and the PSI measure.',
  confidence:
    'Top-1 probabilities in bins of 0.05. A window whose mass moves left, towards low confidence, is what the confidence test looks for.',
  mmd_null:
    'Grey: MMD² of random reassignments of the pooled embeddings, what the statistic looks like when nothing drifted. Orange: the window. Far to the right of the grey is drift.',
  novelty_scores:
    'Each input’s distance to its nearest reference embedding. Grey: held-out reference inputs, 5% of which lie right of the line by construction. Orange: the window. A lump of orange right of the line is a group of inputs unlike anything in the reference, such as a class the model never saw.',
  embedding_map:
    'Each point is an input, placed by its embedding on the reference’s two main directions of variation. Orange points away from the grey cloud are inputs unlike any the model was checked on.',
};

const TEST_NAMES: Record<DriftTestResult['test'], string> = {
  mmd: 'MMD² (embeddings)',
  classifier: 'domain classifier (embeddings)',
  novelty: 'novelty fraction (embeddings)',
  predictions: 'predicted classes',
  confidence: 'confidence drop',
};

const num = (x: number, digits = 4) =>
  !Number.isFinite(x) ? '—' : Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(2) : x.toFixed(digits);

function detailText(t: DriftTestResult): string {
  return Object.entries(t.detail)
    .map(
      ([k, v]) =>
        `${k} ${Array.isArray(v) ? v.join(', ') : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : num(v, 3)) : v}`,
    )
    .map(escapeHtml)
    .join(' · ');
}

function testsTable(r: DriftReport): string {
  if (!r.check.tests.length) return '';
  const rows = r.check.tests.map(
    (t) => `<tr class="${t.drift ? 'alarm' : ''}">
<th scope="row">${escapeHtml(TEST_NAMES[t.test])}</th>
<td>${escapeHtml(t.statisticName)} ${num(t.statistic)}</td>
<td>${num(t.pValue)}</td>
<td>${num(t.threshold)}${t.critical !== null ? ` <span class="muted">(${escapeHtml(t.statisticName)} ≥ ${num(t.critical)})</span>` : ''}</td>
<td>${t.drift ? '<strong class="bad">drift</strong>' : 'no drift'}</td>
<td class="detail">${detailText(t)}</td>
</tr>`,
  );
  const skipped = r.check.skipped.map(
    (s) => `<li><strong>${escapeHtml(TEST_NAMES[s.test])}</strong> did not run: ${escapeHtml(s.reason)}</li>`,
  );
  return `<section>
<h2>Tests</h2>
<p class="muted">Each p-value is held to its share of α = ${r.check.alpha} by Holm’s procedure, so the chance that a check alarms when nothing drifted stays at most ${r.check.alpha}.</p>
<div class="table-wrap">
<table class="tests">
<thead><tr><th scope="col">test</th><th scope="col">statistic</th><th scope="col">p-value</th><th scope="col">level</th><th scope="col">verdict</th><th scope="col">detail</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</div>
${skipped.length ? `<ul class="skipped">${skipped.join('\n')}</ul>` : ''}
</section>`;
}

function charts(svgs: Partial<Record<DriftChartName, string>>): string {
  const names = (Object.keys(CAPTIONS) as DriftChartName[]).filter((n) => svgs[n]);
  if (!names.length) return '';
  return `<section>
<h2>Charts</h2>
<div class="charts">
${names
  .map(
    (name) => `<figure class="chart">
<div class="chart-frame">${inlineSvg(svgs[name]!, name)}</div>
<figcaption>${CAPTIONS[name]}</figcaption>
</figure>`,
  )
  .join('\n')}
</div>
</section>`;
}

const EXTRA_CSS = `
.verdict { border-radius: 12px; padding: 14px 16px; margin: 16px 0 0; font-weight: 600; }
.verdict.ok { background: #ecfdf5; color: var(--good); }
.verdict.drift { background: #fef2f2; color: var(--bad); }
.verdict.insufficient { background: var(--soft); color: var(--muted); }
.bad { color: var(--bad); }
tr.alarm { background: #fef2f2 !important; }
td.detail { text-align: left; white-space: normal; color: var(--muted); font-size: 0.85rem; min-width: 14em; }
.skipped { color: var(--muted); font-size: 0.9rem; }
`;

/**
 * drift_report.html: one self-contained page (charts inline as SVG, styles in the page, nothing
 * fetched) in the look of the evaluation report, every string from the data escaped.
 */
export function renderDriftReportHtml(r: DriftReport, svgs: Partial<Record<DriftChartName, string>>): string {
  const c = r.check;
  const subject = c.version === null ? c.model : `${c.model}@${c.version}`;
  const meta: [string, string][] = [
    ['checked', formatDate(c.at)],
    ['window', r.window ? `${r.window.size} predictions` : String(c.windowSize)],
    ...(r.window?.from && r.window.to
      ? ([['served', `${formatDate(r.window.from)} – ${formatDate(r.window.to)}`]] as [string, string][])
      : []),
    ...(r.reference
      ? ([
          [
            'reference',
            `${r.reference.size} ${escapeHtml(r.reference.split)} items of <span title="${escapeHtml(r.reference.datasetVersion)}">${escapeHtml(r.reference.datasetVersion.slice(0, 12))}</span>`,
          ],
        ] as [string, string][])
      : []),
    ['alpha', String(c.alpha)],
  ];
  const verdictLabel = { ok: 'No drift', drift: 'Drift detected', insufficient: 'Not enough data' }[c.status];
  return `${reportPageHead(`Drift: ${escapeHtml(subject)} — ${verdictLabel}`, EXTRA_CSS)}
<body>
<main>
<header>
<h1>Drift report</h1>
<div class="model">${escapeHtml(subject)}</div>
<dl class="meta">
${meta.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('\n')}
</dl>
<p class="verdict ${c.status}">${verdictLabel}${escapeHtml(c.message.replace(/^[^:]*:/, ':'))}</p>
</header>
${
  r.reference && r.window
    ? `<section>
<h2>Headline</h2>
<div class="tiles">
${tile('window', String(r.window.size), 'latest logged predictions')}
${tile('reference', String(r.reference.size), `held-out ${escapeHtml(r.reference.split)} items`)}
${tile('mean confidence', num(r.window.meanConfidence, 3), `reference ${num(r.reference.meanConfidence, 3)}`)}
${tile('tests alarming', `${c.tests.filter((t) => t.drift).length} of ${c.tests.length}`)}
</div>
</section>`
    : ''
}
${testsTable(r)}
${charts(svgs)}
<footer>Generated by Loupe (<code>loupe drift</code>).</footer>
</main>
</body>
</html>
`;
}

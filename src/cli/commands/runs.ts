import type { Command } from 'commander';
import path from 'node:path';
import { chartGrid } from '../../charts/line-chart.js';
import { LoupeError } from '../../errors/loupe-error.js';
import {
  getRun,
  listRuns,
  RUN_STATUSES,
  runArtifacts,
  runMetrics,
  type Run,
  type RunArtifact,
  type RunMetric,
  type RunStatus,
} from '../../track/run-store.js';
import { comparedCurveCharts } from '../../track/run-curves.js';
import { flattenSettings, runSettings } from '../../track/run-settings.js';
import { getStudy } from '../../track/study-store.js';
import { formatBytes } from '../../util/format-bytes.js';
import { renderTable } from '../../util/render-table.js';
import { withWorkspace } from '../workspace-options.js';

const DEFAULT_LIMIT = 50;

const num = (v: number | null | undefined): string =>
  v === null || v === undefined
    ? '-'
    : Math.abs(v) >= 1000
      ? Math.round(v).toLocaleString('en')
      : String(Number(v.toPrecision(4)));

const signed = (d: number) => (d > 0 ? `+${num(d)}` : num(d));

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const [h, m, rest] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}h ${pad(m)}m` : `${m}m ${pad(rest)}s`;
}

/** A running run's duration so far. */
const runDuration = (r: Run) => duration(r.duration_s ?? (Date.now() - Date.parse(r.started_at)) / 1000);

const timestamp = (iso: string) => iso.replace('T', ' ').slice(0, 19);

/** One row per step, one column per metric. */
function metricTable(metrics: RunMetric[]): string {
  const names = [...new Set(metrics.map((m) => m.name))].sort();
  const steps = [...new Set(metrics.map((m) => m.step))].sort((a, b) => a - b);
  const at = new Map(metrics.map((m) => [`${m.step} ${m.name}`, m.value]));
  return renderTable(
    ['step', ...names],
    steps.map((s) => [s, ...names.map((n) => num(at.get(`${s} ${n}`)))]),
  );
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new LoupeError('INVALID_ARGUMENT', `--limit must be a whole number ≥ 1, not ${text}`);
  return n;
}

function parseStatus(text: string): RunStatus {
  if (!(RUN_STATUSES as readonly string[]).includes(text))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--status must be one of ${RUN_STATUSES.join(', ')}, not ${text}`,
    );
  return text as RunStatus;
}

function printShow(r: Run, metrics: RunMetric[], artifacts: RunArtifact[]) {
  const lines: [string, string | false | null][] = [
    ['run', `${r.id}  ${r.name}  (${r.kind}, ${r.mode})`],
    [
      'status',
      [
        `${r.status}${r.ended_at ? ` after ${runDuration(r)}` : `, ${runDuration(r)} so far`}`,
        r.images_per_s !== null && `${num(r.images_per_s)} img/s`,
        r.peak_rss_mib !== null && `peak RSS ${Math.round(r.peak_rss_mib).toLocaleString('en')} MiB`,
      ]
        .filter(Boolean)
        .join(', '),
    ],
    ['error', r.error && `${r.error.code}: ${r.error.message}`],
    ['started', `${timestamp(r.started_at)} on ${r.host} (pid ${r.pid})`],
    ['ended', r.ended_at && timestamp(r.ended_at)],
    ['study', r.study_id],
    ['parent', r.parent_id],
    ['dataset', r.dataset_version],
    ['backbone', r.backbone],
    ['seed', String(r.seed)],
    [
      'git',
      r.git_commit
        ? `${r.git_commit}${r.git_dirty ? ' with uncommitted changes' : ''}`
        : 'not in a git checkout',
    ],
    [
      'versions',
      (['node', 'loupe', 'libtorch', 'onnxruntime', 'sharp'] as const)
        .map((k) => `${k} ${r.versions[k] ?? '-'}`)
        .join(', '),
    ],
    ['machine', `${r.versions.os}, ${r.versions.cpu}`],
  ];
  for (const [label, value] of lines) if (value) console.log(`${label.padEnd(9)} ${value}`);

  const config = Object.entries(flattenSettings(r.config));
  if (config.length) console.log(`\nconfig\n${renderTable(['setting', 'value'], config)}`);
  if (r.summary) {
    const rows = Object.entries(r.summary).map(([k, v]) => [k, num(v)]);
    console.log(`\nfinal metrics\n${renderTable(['metric', 'value'], rows)}`);
  }
  if (metrics.length) console.log(`\nmetrics per epoch\n${metricTable(metrics)}`);
  if (artifacts.length) {
    const rows = artifacts.map((a) => [a.name, a.kind, formatBytes(a.bytes), a.sha256.slice(0, 12), a.path]);
    console.log(`\nartifacts\n${renderTable(['name', 'kind', 'size', 'sha256', 'path'], rows)}`);
  }
}

export function registerRuns(program: Command): void {
  const runs = program.command('runs').description('list, inspect and compare training runs');

  runs
    .command('ls')
    .description('list training runs, newest first')
    .option('--status <status>', `only runs in this state (${RUN_STATUSES.join(', ')})`)
    .option('--study <id>', 'only the trials of this study')
    .option('--limit <n>', 'at most this many runs', String(DEFAULT_LIMIT))
    .option('--json', 'print JSON')
    .action(async (o: { status?: string; study?: string; limit: string; json?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const limit = parseLimit(o.limit);
        const studyId = o.study ? (await getStudy(ws.db, o.study)).id : undefined;
        const status = o.status === undefined ? undefined : parseStatus(o.status);
        // One more than shown, to know whether there are more.
        const rows = await listRuns(ws.db, { status, studyId, limit: limit + 1 });
        const shown = rows.slice(0, limit);
        if (o.json) return console.log(JSON.stringify(shown));
        if (!shown.length) return console.log('no runs yet');
        console.log(
          renderTable(
            ['id', 'name', 'kind', 'mode', 'status', 'dataset', 'val F1', 'val acc', 'duration', 'started'],
            shown.map((r) => [
              r.id,
              r.name,
              r.kind,
              r.mode,
              r.status,
              r.dataset_version.slice(0, 12),
              num(r.summary?.['val.macro_f1']),
              num(r.summary?.['val.accuracy']),
              runDuration(r),
              timestamp(r.started_at),
            ]),
          ),
        );
        if (rows.length > limit) console.log(`(the newest ${limit}; --limit N for more)`);
      }),
    );

  runs
    .command('show')
    .description('everything about a run: provenance, config, metrics per epoch, artifacts')
    .argument('<run>', 'a run id or a unique prefix of it (4+ characters)')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { json?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const run = await getRun(ws.db, ref);
        const [metrics, artifacts] = [await runMetrics(ws.db, run.id), await runArtifacts(ws.db, run.id)];
        if (o.json) return console.log(JSON.stringify({ ...run, metrics, artifacts }));
        printShow(run, metrics, artifacts);
      }),
    );

  runs
    .command('compare')
    .description('two runs side by side: the settings that differ, final metrics, and their curves')
    .argument('<a>', 'a run id or prefix')
    .argument('<b>', 'a run id or prefix')
    .option('--plot <file>', 'where to write the curves PNG (default: .loupe/reports/compare-<a>-<b>.png)')
    .action(async (refA: string, refB: string, o: { plot?: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const [a, b] = [await getRun(ws.db, refA), await getRun(ws.db, refB)];
        for (const [label, r] of [['a', a] as const, ['b', b] as const])
          console.log(`${label}  ${r.id}  ${r.name}  (${r.status}, ${runDuration(r)})`);

        const [sa, sb] = [runSettings(a), runSettings(b)];
        const keys = [...new Set([...Object.keys(sa), ...Object.keys(sb)])].filter((k) => sa[k] !== sb[k]);
        console.log(
          keys.length
            ? `\nsettings that differ\n${renderTable(
                ['setting', a.id, b.id],
                keys.map((k) => [k, sa[k] ?? '-', sb[k] ?? '-']),
              )}`
            : '\nsame settings',
        );

        const names = [...new Set([...Object.keys(a.summary ?? {}), ...Object.keys(b.summary ?? {})])].sort();
        if (names.length) {
          const rows = names.map((n) => {
            const [va, vb] = [a.summary?.[n], b.summary?.[n]];
            return [n, num(va), num(vb), va === undefined || vb === undefined ? '-' : signed(vb - va)];
          });
          console.log(`\nfinal metrics\n${renderTable(['metric', a.id, b.id, 'b − a'], rows)}`);
        }

        const charts = comparedCurveCharts([
          { run: a, metrics: await runMetrics(ws.db, a.id) },
          { run: b, metrics: await runMetrics(ws.db, b.id) },
        ]);
        if (!charts.length) return console.log('\nno per-epoch metrics to plot');
        const file = o.plot ?? path.join(ws.stateDir, 'reports', `compare-${a.id}-${b.id}.png`);
        // Vega takes a noticeable moment to load; only this command needs it.
        const { renderPng } = await import('../../charts/render.js');
        await renderPng(chartGrid(charts), file);
        console.log(`\ncurves: ${path.relative(process.cwd(), file)}`);
      }),
    );
}

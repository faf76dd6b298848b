import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { contactSheet } from '../../data/versions/contact-sheet.js';
import { exportVersion, type ExportFormat } from '../../data/versions/export-version.js';
import { SPLIT_NAMES } from '../../data/versions/manifest.js';
import {
  diffItems,
  listVersions,
  readVersionItems,
  resolveVersion,
  type VersionSummary,
} from '../../data/versions/version-store.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { renderTable } from '../../util/render-table.js';
import { withWorkspace } from '../workspace-options.js';

const short = (id: string) => id.slice(0, 12);

export function registerData(program: Command): void {
  const data = program.command('data').description('list, inspect, compare and export dataset versions');

  data
    .command('ls')
    .description('list dataset versions, newest first')
    .argument('[dataset]', 'only this dataset')
    .option('--json', 'print JSON')
    .action(async (dataset: string | undefined, o: { json?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const rows = await listVersions(ws.db, dataset);
        if (o.json)
          return console.log(
            JSON.stringify(
              rows.map(({ summary, ...r }) => ({ ...r, summary: JSON.parse(summary) as unknown })),
            ),
          );
        if (!rows.length) return console.log('no dataset versions yet; create one with `loupe ingest`');
        console.log(
          renderTable(
            ['version', 'dataset', 'items', 'classes', 'parent', 'created'],
            rows.map((r) => [
              short(r.id),
              r.dataset,
              r.item_count,
              r.class_count,
              r.parent ? short(r.parent) : '-',
              r.created_at.replace('T', ' ').slice(0, 19),
            ]),
          ),
        );
      }),
    );

  data
    .command('show')
    .description('class balance per split and a contact sheet of samples per class')
    .argument('<version>', 'a version id (or unique prefix) or a dataset name (its latest version)')
    .option(
      '--sheet <file>',
      'where to write the contact sheet PNG (default: .loupe/reports/<version>-sheet.png)',
    )
    .option('--no-sheet', 'skip the contact sheet')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { sheet?: string | false; json?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const row = await resolveVersion(ws.db, ref);
        const items = await readVersionItems(ws, row);
        const summary = JSON.parse(row.summary) as VersionSummary;
        let sheet: string | undefined;
        if (o.sheet !== false && items.some((i) => i.kind === 'image')) {
          sheet =
            typeof o.sheet === 'string'
              ? o.sheet
              : path.join(ws.stateDir, 'reports', `${short(row.id)}-sheet.png`);
          await mkdir(path.dirname(sheet), { recursive: true });
          await writeFile(sheet, await contactSheet(items, ws.blobs));
        }
        if (o.json) return console.log(JSON.stringify({ ...row, summary, sheet }));
        console.log(
          `${row.dataset} @ ${row.id}${row.parent ? ` (parent ${short(row.parent)})` : ''}, ${row.created_at}`,
        );
        const classes = Object.keys(summary.classes).sort();
        const totals = SPLIT_NAMES.map((s) => classes.reduce((n, c) => n + (summary.classes[c]![s] ?? 0), 0));
        console.log(
          renderTable(
            ['class', ...SPLIT_NAMES, 'total'],
            [
              ...classes.map((c) => {
                const counts = SPLIT_NAMES.map((s) => summary.classes[c]![s] ?? 0);
                return [c, ...counts, counts.reduce((a, b) => a + b, 0)];
              }),
              ['(all)', ...totals, row.item_count],
            ],
          ),
        );
        if (sheet) console.log(`contact sheet: ${path.relative(process.cwd(), sheet)}`);
      }),
    );

  data
    .command('diff')
    .description('what changed between two versions: added, removed, relabeled, moved between splits')
    .argument('<a>')
    .argument('<b>')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'examples listed per change', (v) => Number.parseInt(v, 10), 10)
    .action(async (a: string, b: string, o: { json?: boolean; limit: number }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        const [ra, rb] = [await resolveVersion(ws.db, a), await resolveVersion(ws.db, b)];
        const d = diffItems(await readVersionItems(ws, ra), await readVersionItems(ws, rb));
        if (o.json) return console.log(JSON.stringify(d));
        console.log(
          `${short(ra.id)} → ${short(rb.id)}: +${d.added.length} added, -${d.removed.length} removed, ${d.relabeled.length} relabeled, ${d.resplit.length} moved between splits`,
        );
        const show = (title: string, lines: string[]) => {
          if (!lines.length) return;
          console.log(`\n${title}`);
          for (const l of lines.slice(0, o.limit)) console.log(`  ${l}`);
          if (lines.length > o.limit) console.log(`  … and ${lines.length - o.limit} more`);
        };
        show(
          'added',
          d.added.map((i) => `${i.label}  ${i.source}`),
        );
        show(
          'removed',
          d.removed.map((i) => `${i.label}  ${i.source}`),
        );
        show(
          'relabeled',
          d.relabeled.map((r) => `${r.from} → ${r.item.label}  ${r.item.source}`),
        );
        show(
          'moved between splits',
          d.resplit.map((r) => `${r.from} → ${r.item.split}  ${r.item.source}`),
        );
      }),
    );

  data
    .command('export')
    .description('write a version as class folders, or its manifest as CSV or JSON')
    .argument('<version>')
    .requiredOption('--out <path>', 'a folder (folder format) or a file or folder (csv, json)')
    .option('--format <format>', 'folder | csv | json', 'folder')
    .action(async (ref: string, o: { out: string; format: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws) => {
        if (!['folder', 'csv', 'json'].includes(o.format))
          throw new LoupeError('INVALID_ARGUMENT', `--format must be folder, csv or json, not ${o.format}`);
        const row = await resolveVersion(ws.db, ref);
        const r = await exportVersion(
          await readVersionItems(ws, row),
          ws.blobs,
          o.format as ExportFormat,
          o.out,
        );
        console.log(`wrote ${r.written} items of ${short(row.id)} to ${r.path}`);
      }),
    );
}

import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import { collectGarbage, type GcReport } from '../../store/gc/collect-garbage.js';
import type { Tally } from '../../store/gc/blob-sweep.js';
import { renderTable } from '../../util/render-table.js';
import { interruptible } from '../interrupt.js';
import { stageProgress } from '../stage-progress.js';
import { withWorkspace } from '../workspace-options.js';
import { formatBytes } from '../../util/format-bytes.js';
import { parseSpanMs } from '../../util/parse-span.js';

interface GcFlags {
  dryRun?: boolean;
  grace: string;
  json?: boolean;
}

/** `--grace`: 0, or a span such as 90m, 24h, 7d. */
export function parseGrace(text: string): number {
  const span = text.trim() === '0' ? 0 : parseSpanMs(text);
  if (span === undefined)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--grace takes 0 or a span such as 30m, 24h or 7d, got "${text}"`,
    );
  return span;
}

const described = (t: Tally) =>
  `${t.files.toLocaleString('en')} file${t.files === 1 ? '' : 's'} (${formatBytes(t.bytes)})`;

/** The report for people: one row per kind of file, what happened to it, then missing blobs. */
export function printGcReport(log: (line: string) => void, r: GcReport, grace: string): void {
  const gone = r.dryRun ? 'would be removed' : 'removed';
  const rows: [string, Tally, string][] = [
    ['referenced blobs', r.referenced, 'kept'],
    [`unreferenced, written in the last ${grace}`, r.recent, 'kept (grace period)'],
    ['unreferenced, older', r.orphans, gone],
    ['temporary files left by crashed writes', r.staleTemporary, gone],
    ['temporary files of writes in progress', r.recentTemporary, 'kept'],
  ];
  if (r.unknown.files) rows.push(['files the blob store did not write', r.unknown, 'left alone']);
  log(
    renderTable(
      ['files', 'count', 'size', ''],
      rows.map(([what, t, action]) => [what, t.files, formatBytes(t.bytes), action]),
    ),
  );
  const reclaimable = {
    files: r.orphans.files + r.staleTemporary.files,
    bytes: r.orphans.bytes + r.staleTemporary.bytes,
  };
  log(
    r.dryRun
      ? `dry run: ${described(reclaimable)} reclaimable; nothing was removed (run without --dry-run to remove them)`
      : `removed ${described(r.removed)}`,
  );
  if (r.missing.count) {
    log(
      `missing: ${r.missing.count.toLocaleString('en')} referenced blob${r.missing.count === 1 ? ' is' : 's are'} ` +
        'not in the store (lost before this gc; restore them from a backup):',
    );
    for (const m of r.missing.blobs) log(`  ${m.hash}  ${m.referencedBy}`);
    if (r.missing.count > r.missing.blobs.length)
      log(`  … and ${(r.missing.count - r.missing.blobs.length).toLocaleString('en')} more (see --json)`);
  }
}

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description(
      'Delete blobs nothing references any more (inputs of pruned predictions, leftovers of interrupted writes) once older than a grace period',
    )
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--grace <span>', 'keep unreferenced files written within this span (0, 30m, 24h, 7d)', '24h')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  loupe gc --dry-run          # what would go, and how much disk it frees
  loupe gc                    # remove unreferenced blobs older than 24 hours
  loupe gc --grace 7d --json  # for cron: only blobs unreferenced for a week; the report as JSON`,
    )
    .action(async (flags: GcFlags, command: Command) => {
      const graceMs = parseGrace(flags.grace);
      // With --json, stdout carries only the report.
      const log = (line: string) => (flags.json ? console.error(line) : console.log(line));
      if (graceMs < 3_600_000)
        console.error(
          `warning: a grace period of ${flags.grace} can delete the blobs of an ingest or upload still running; ` +
            'use it only when nothing else writes to the workspace',
        );
      await withWorkspace(command, (ws) =>
        interruptible(async (signal) => {
          const progress = stageProgress(log);
          let report: GcReport;
          try {
            report = await collectGarbage(ws, {
              graceMs,
              dryRun: flags.dryRun ?? false,
              signal,
              onProgress: progress.update,
            });
          } finally {
            progress.stop();
          }
          if (flags.json) console.log(JSON.stringify(report, null, 2));
          else printGcReport(log, report, flags.grace);
        }),
      );
    });
}

import type { Command } from 'commander';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import { runDriftCheck } from '../../monitor/drift/drift-check.js';
import type { DriftCheck } from '../../monitor/drift/drift-store.js';
import { buildDriftReport } from '../../monitor/drift/drift-report.js';
import { writeDriftReport } from '../../monitor/drift/write-drift-report.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { getVersion } from '../../registry/registry-store.js';
import { parseSpanMs } from '../../util/parse-span.js';
import { renderTable } from '../../util/render-table.js';
import { withStages } from '../stage-progress.js';

interface DriftFlags {
  window?: string;
  since?: string;
  out?: string;
  json?: boolean;
}

/** `--since`: an ISO 8601 time, or a span back from now (`90m`, `24h`, `7d`). */
export function parseSince(text: string, now = Date.now()): Date {
  const span = parseSpanMs(text);
  const at = span !== undefined ? new Date(now - span) : new Date(text);
  if (Number.isNaN(at.getTime()) || (span === undefined && !/^\d{4}-\d{2}-\d{2}/.test(text.trim())))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--since takes a time (2025-03-01, 2025-03-01T12:00:00Z) or a span back from now (90m, 24h, 7d), got "${text}"`,
    );
  return at;
}

function windowSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 10 || n > 5000)
    throw new LoupeError('INVALID_ARGUMENT', `--window takes a whole number from 10 to 5000, got "${text}"`);
  return n;
}

const num = (x: number) =>
  Number.isInteger(x) ? String(x) : Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toFixed(4);

/** The check for a terminal: one row per test, then the verdict. */
export function printDriftCheck(log: (line: string) => void, c: DriftCheck): void {
  if (c.tests.length)
    log(
      renderTable(
        ['verdict', 'test', 'statistic', 'p-value', 'level', 'detail'],
        c.tests.map((t) => [
          t.drift ? 'DRIFT' : 'ok',
          t.test,
          `${t.statisticName} ${num(t.statistic)}`,
          num(t.pValue),
          num(t.threshold),
          Object.entries(t.detail)
            .filter(([, v]) => typeof v === 'number')
            .map(([k, v]) => `${k} ${num(v as number)}`)
            .join(', '),
        ]),
      ),
    );
  for (const s of c.skipped) log(`skipped ${s.test}: ${s.reason}`);
  log(c.message);
}

export function registerDrift(program: Command): void {
  program
    .command('drift')
    .argument('<model>', 'a model (its served version) or name@version')
    .description(
      "Compare a model's latest served predictions with its reference; exits 6 on drift, 7 when there is not enough data",
    )
    .option('--window <n>', 'latest logged predictions to check (default: monitor.drift.window)')
    .option('--since <time>', 'only predictions at or after this time, or this span back (24h, 7d)')
    .option(
      '--out <dir>',
      'where to write drift_report.json and drift_report.html (default: .loupe/reports/drift-…)',
    )
    .option('--json', 'print the check as JSON instead of a table')
    .addHelpText(
      'after',
      `
Examples:
  loupe drift fashion                    # the served version's latest 200 predictions
  loupe drift fashion@3 --window 500 --since 24h
  loupe drift fashion --json --out reports/drift   # for CI: exit 6 means drift`,
    )
    .action(async (text: string, flags: DriftFlags, command: Command) => {
      const window = windowSize(flags.window);
      const since = flags.since === undefined ? undefined : parseSince(flags.since);
      const ref = parseModelRef(text);
      await withStages(command, async (ws, signal, progress) => {
        // A bare name checks whichever version is served now; name@N or name:alias pins one.
        const version = 'version' in ref || 'alias' in ref ? await getVersion(ws.db, ref) : undefined;
        const config = ws.config.monitor.drift;
        const outcome = await runDriftCheck(ws, {
          model: ref.model,
          ...(version ? { version: version.version } : {}),
          ...(window ? { window } : {}),
          ...(since ? { since } : {}),
          config,
          source: 'cli',
          signal,
          onProgress: progress,
        });
        const c = outcome.check;
        const stamp = c.at.replace(/[:.]/g, '-');
        const dir = path.resolve(flags.out ?? path.join(ws.stateDir, 'reports', `drift-${c.model}-${stamp}`));
        const files = await writeDriftReport(buildDriftReport(outcome, config.seed), dir);
        const log = (line: string) => (flags.json ? console.error(line) : console.log(line));
        if (flags.json) console.log(JSON.stringify(c, null, 2));
        else {
          const subject = c.version === null ? c.model : `${c.model}@${c.version}`;
          log(
            `drift check of ${subject}: ${c.windowSize} logged predictions` +
              (c.referenceSize
                ? ` against ${c.referenceSize} held-out items of ${c.datasetVersion?.slice(0, 12)}`
                : ''),
          );
          printDriftCheck(log, c);
        }
        log(`report: ${files.html} (${path.basename(files.json)} beside it)`);
        if (c.status === 'drift') throw new LoupeError('DRIFT_DETECTED', `${c.model}@${c.version} drifted`);
        if (c.status === 'insufficient') throw new LoupeError('NOT_ENOUGH_DATA', c.message);
      });
    });
}

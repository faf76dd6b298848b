import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import type { GateResult } from '../../registry/gate/run-gate.js';
import { runGate } from '../../registry/gate/run-gate.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { promote, rollback } from '../../registry/promote.js';
import { getVersion } from '../../registry/registry-store.js';
import { renderTable } from '../../util/render-table.js';
import { interruptible } from '../interrupt.js';
import { withWorkspace } from '../workspace-options.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skipped: 'skip' } as const;

export function printGate(log: (line: string) => void, g: GateResult): void {
  log(
    `gate for ${g.model} on ${g.datasetVersion.slice(0, 12)} ${g.split}` +
      (g.champion ? `, against ${g.champion}` : ', no champion to compare against'),
  );
  log(
    renderTable(
      ['verdict', 'rule', 'value', 'detail'],
      g.rules.map((r) => [
        MARK[r.verdict],
        r.rule,
        r.value === undefined ? '-' : r.value.toFixed(4),
        r.detail,
      ]),
    ),
  );
  log(g.passed ? 'gate passed' : 'gate FAILED');
}

/** A version reference with its number: promotion moves aliases to versions, not to other aliases' targets by surprise. */
function versionRef(text: string) {
  const ref = parseModelRef(text);
  if (!('version' in ref) && !('alias' in ref))
    throw new LoupeError('INVALID_ARGUMENT', `name the version: ${text}@N (see loupe models show ${text})`);
  return ref;
}

export function registerPromote(program: Command): void {
  program
    .command('gate')
    .argument('<model>', 'name@version (or name:alias)')
    .description("Judge a version against loupe.yaml's gate policy; exits 5 when a rule fails")
    .option('--data <ref>', 'judge on this dataset version instead of the one it was registered with')
    .addHelpText(
      'after',
      `
Examples:
  loupe gate fashion@4
  loupe gate fashion@4 --data fashion        # on the latest version of the dataset`,
    )
    .action(async (text: string, flags: { data?: string }, command: Command) => {
      await withWorkspace(command, (ws) =>
        interruptible(async (signal) => {
          const version = await getVersion(ws.db, versionRef(text));
          const result = await runGate(ws, version, ws.config.gate, {
            ...(flags.data ? { data: flags.data } : {}),
            signal,
          });
          printGate((l) => console.log(l), result);
          if (!result.passed) throw new LoupeError('GATE_FAILED', `${version.ref} fails its gate`);
        }),
      );
    });

  program
    .command('promote')
    .argument('<model>', 'name@version')
    .description('Point an alias (champion by default) at a version that passes its gate; audited')
    .option('--alias <alias>', 'the alias to move', 'champion')
    .option('--reason <text>', 'why, for the audit log (required with --force)')
    .option('--force', 'promote even though the gate fails (audited as forced)')
    .addHelpText(
      'after',
      `
Examples:
  loupe promote fashion@4 --reason "retrained on March data"
  loupe promote fashion@5 --alias challenger
  loupe promote fashion@6 --force --reason "hotfix: v5 mislabels boots"`,
    )
    .action(
      async (text: string, flags: { alias: string; reason?: string; force?: boolean }, command: Command) => {
        await withWorkspace(command, (ws) =>
          interruptible(async (signal) => {
            const log = (line: string) => console.log(line);
            try {
              const p = await promote(ws, versionRef(text), {
                alias: flags.alias,
                ...(flags.reason ? { reason: flags.reason } : {}),
                ...(flags.force ? { force: true } : {}),
                policy: ws.config.gate,
                signal,
              });
              printGate(log, p.gate);
              log(
                `${p.version.model}:${p.alias} → ${p.version.ref}` +
                  (p.from !== null ? ` (was ${p.version.model}@${p.from})` : '') +
                  (p.forced ? ' — FORCED past a failing gate' : ''),
              );
            } catch (e) {
              if (e instanceof LoupeError && e.code === 'GATE_FAILED' && e.details?.gate)
                printGate(log, e.details.gate as GateResult);
              throw e;
            }
          }),
        );
      },
    );

  program
    .command('rollback')
    .argument('<model>', 'model name')
    .description(
      'Move an alias (champion by default) back to the version it held before its latest promotion',
    )
    .option('--alias <alias>', 'the alias to move back', 'champion')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText(
      'after',
      '\nExample:\n  loupe rollback fashion --reason "v5 confuses shirts and T-shirts in production"',
    )
    .action(async (model: string, flags: { alias: string; reason?: string }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const r = await rollback(ws, model, {
          alias: flags.alias,
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        console.log(`${model}:${flags.alias} → ${r.to} (was ${r.from})`);
      });
    });
}

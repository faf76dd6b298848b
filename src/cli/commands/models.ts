import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { registerOnnx, registerRun, type Registered } from '../../registry/register-model.js';
import {
  auditLog,
  getVersion,
  listModels,
  listVersions,
  type ModelVersion,
} from '../../registry/registry-store.js';
import { renderTable } from '../../util/render-table.js';
import { withStages } from '../stage-progress.js';
import { withWorkspace } from '../workspace-options.js';
import { printEvaluation } from './eval.js';

const f3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3));
const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);

/** A labels file: a JSON array of names, or one name per line. */
async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw fsError(e, file, { what: 'labels file' });
  }
  if (text.trimStart().startsWith('[')) {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed) || !parsed.every((l) => typeof l === 'string'))
      throw new LoupeError('INVALID_ARGUMENT', `${file} must be a JSON array of class names`);
    return parsed as string[];
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (e) {
    if (e instanceof SyntaxError)
      throw new LoupeError('INVALID_ARGUMENT', `${file} is not valid JSON: ${e.message}`);
    throw fsError(e, file);
  }
}

function printVersion(log: (line: string) => void, v: ModelVersion): void {
  log(`${v.ref}${v.aliases.length ? `  (${v.aliases.join(', ')})` : ''}`);
  log(
    `  registered  ${when(v.createdAt)} by ${v.createdBy}, from ${v.source === 'run' ? `run ${v.runId}` : 'an ONNX file'}`,
  );
  log(
    `  classes     ${v.classes.length}: ${v.classes.slice(0, 12).join(', ')}${v.classes.length > 12 ? ', …' : ''}`,
  );
  const input =
    v.inputs.kind === 'image'
      ? `image ${v.inputs.preprocessing.width}×${v.inputs.preprocessing.height} ${v.inputs.preprocessing.channelOrder}`
      : `audio ${v.inputs.seconds}s at ${v.inputs.sampleRate} Hz, ${v.inputs.logMel.nMels} mels × ${v.inputs.frames} frames`;
  log(`  inputs      ${input}`);
  log(`  calibration temperature ${v.temperature.toFixed(3)}`);
  if (v.datasetVersion)
    log(
      `  evaluated   on ${v.datasetVersion.slice(0, 12)}: accuracy ${f3(v.metrics.accuracy)}, macro-F1 ${f3(v.metrics.macro_f1)}, ECE ${f3(v.metrics.ece)}, p95 ${f3(v.metrics.latency_p95_ms)} ms`,
    );
  log(
    `  lineage     ${Object.entries(v.lineage)
      .map(([k, x]) => `${k}=${String(x)}`)
      .join(' ')}`,
  );
  log(
    `  files       ${Object.entries(v.files)
      .map(([name, f]) => `${name} (${f.sha256.slice(0, 10)})`)
      .join(', ')}`,
  );
}

function printRegistered(log: (line: string) => void, r: Registered): void {
  if (r.evaluation) printEvaluation(log, r.evaluation.report);
  log('');
  log(`registered ${r.version.ref}${r.reportDir ? `; evaluation report: ${r.reportDir}/report.html` : ''}`);
  log(`promote it with: loupe promote ${r.version.ref} --reason "…"`);
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('The model registry: versions, aliases and their audit log');

  models
    .command('ls')
    .description('List registered models with their aliases')
    .action(async (_flags: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const list = await listModels(ws.db);
        if (!list.length) return console.log('no models yet; register a run with: loupe models register RUN');
        const rows = [];
        for (const m of list) {
          const shown = await getVersion(ws.db, { model: m.name });
          rows.push([
            m.name,
            m.versions,
            Object.entries(m.aliases)
              .map(([a, v]) => `${a}=${v}`)
              .join(' ') || '-',
            shown.ref,
            f3(shown.metrics.accuracy),
            f3(shown.metrics.macro_f1),
            when(m.createdAt),
          ]);
        }
        console.log(
          renderTable(['model', 'versions', 'aliases', 'serving', 'accuracy', 'macro-F1', 'created'], rows),
        );
      });
    });

  models
    .command('show')
    .argument('<model>', 'name (every version), name@3 or name:alias')
    .description("Show a model's versions (or one version), aliases and recent audit entries")
    .action(async (text: string, _flags: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const log = (line: string) => console.log(line);
        const ref = parseModelRef(text);
        const versions =
          'version' in ref || 'alias' in ref
            ? [await getVersion(ws.db, ref)]
            : await listVersions(ws.db, ref.model);
        versions.forEach((v) => {
          printVersion(log, v);
          log('');
        });
        const audit = (await auditLog(ws.db, ref.model)).slice(-10);
        log(
          renderTable(
            ['when', 'who', 'action', 'alias', 'from', 'to', 'forced', 'reason'],
            audit.map((a) => [
              when(a.at),
              a.actor,
              a.action,
              a.alias ?? '-',
              a.fromVersion ?? '-',
              a.toVersion ?? '-',
              a.forced ? 'yes' : '',
              a.reason,
            ]),
          ),
        );
      });
    });

  models
    .command('audit')
    .argument('[model]', 'only this model')
    .option('--json', 'as JSON lines, gate results included')
    .description('Every registration and alias move: who, when, why, and the gate result')
    .action(async (model: string | undefined, flags: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const entries = await auditLog(ws.db, model);
        if (flags.json) return entries.forEach((e) => console.log(JSON.stringify(e)));
        console.log(
          renderTable(
            ['#', 'when', 'who', 'model', 'action', 'alias', 'from', 'to', 'gate', 'forced', 'reason'],
            entries.map((a) => [
              a.id,
              when(a.at),
              a.actor,
              a.model,
              a.action,
              a.alias ?? '-',
              a.fromVersion ?? '-',
              a.toVersion ?? '-',
              a.gate ? ((a.gate as { passed: boolean }).passed ? 'passed' : 'FAILED') : '-',
              a.forced ? 'yes' : '',
              a.reason,
            ]),
          ),
        );
      });
    });

  models
    .command('register')
    .argument('[run]', 'a finished run to register')
    .description(
      'Register a run (or an ONNX classifier from elsewhere) as the next version of a model, calibrated and evaluated',
    )
    .option('--name <name>', "the model's name (default: the run's dataset name)")
    .option('--split <split>', 'split to evaluate on (default: test, else val)')
    .option('--reason <text>', 'why, for the audit log')
    .option('--onnx <file>', 'an ONNX image classifier trained elsewhere, instead of a run')
    .option('--labels <file>', 'with --onnx: class names, a JSON array or one per line, in output order')
    .option('--data <ref>', 'with --onnx: a dataset version to calibrate (val) and evaluate (test) on')
    .option('--scores <kind>', 'with --onnx: logits or probs, what its output holds', 'logits')
    .option('--output <name>', 'with --onnx: the output with the class scores, if it has several')
    .option(
      '--preprocessing <file>',
      "with --onnx: Loupe image preprocessing JSON, if neither the model's metadata nor a preprocessor_config.json says",
    )
    .addHelpText(
      'after',
      `
Examples:
  loupe models register 01jf3k2m                       # becomes <dataset>@1, @2, …
  loupe models register 01jf3k2m --name shoes --reason "bigger head"
  loupe models register --onnx resnet.onnx --labels labels.txt --name resnet --data birds --scores probs`,
    )
    .action(
      async (
        run: string | undefined,
        flags: {
          name?: string;
          split?: string;
          reason?: string;
          onnx?: string;
          labels?: string;
          data?: string;
          scores: string;
          output?: string;
          preprocessing?: string;
        },
        command: Command,
      ) => {
        const log = (line: string) => console.log(line);
        await withStages(command, async (ws, signal, progress) => {
          if (Boolean(run) === Boolean(flags.onnx))
            throw new LoupeError('INVALID_ARGUMENT', 'register takes either a run or --onnx FILE');
          if (run) {
            printRegistered(
              log,
              await registerRun(ws, run, {
                ...(flags.name ? { name: flags.name } : {}),
                ...(flags.split ? { split: flags.split } : {}),
                ...(flags.reason ? { reason: flags.reason } : {}),
                onProgress: progress,
                signal,
              }),
            );
            return;
          }
          if (!flags.labels || !flags.name)
            throw new LoupeError('INVALID_ARGUMENT', '--onnx needs --labels FILE and --name NAME');
          if (flags.scores !== 'logits' && flags.scores !== 'probs')
            throw new LoupeError('INVALID_ARGUMENT', `--scores is logits or probs, got "${flags.scores}"`);
          printRegistered(
            log,
            await registerOnnx(ws, flags.onnx!, {
              name: flags.name,
              labels: await readLabels(flags.labels),
              scores: flags.scores,
              ...(flags.data ? { data: flags.data } : {}),
              ...(flags.split ? { split: flags.split } : {}),
              ...(flags.output ? { output: flags.output } : {}),
              ...(flags.preprocessing ? { preprocessing: await readJson(flags.preprocessing) } : {}),
              ...(flags.reason ? { reason: flags.reason } : {}),
              onProgress: progress,
              signal,
            }),
          );
        });
      },
    );
}

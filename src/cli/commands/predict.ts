import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import { windowing, type WindowChoice } from '../../inference/audio-windows.js';
import { Classifier } from '../../inference/classifier.js';
import { listInputFiles, type SkippedFile } from '../../inference/input-files.js';
import { mergeWindows } from '../../inference/merge-windows.js';
import type { ModelInputs } from '../../inference/model-inputs.js';
import { predictFiles } from '../../inference/predict-files.js';
import { PRELABEL_FORMATS, type PrelabelFormat } from '../../inference/prelabel-formats.js';
import { prelabels } from '../../inference/prelabels.js';
import { audacityTargets, writePrelabels } from '../../inference/write-prelabels.js';
import { resolveModelTarget } from '../model-target.js';
import { withStages } from '../stage-progress.js';

interface PredictFlags {
  out?: string;
  format: string;
  topK: string;
  batch: string;
  window?: string;
  hop?: string;
  merge?: boolean;
}

function positive(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n))))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--${flag} takes a positive ${integer ? 'whole number' : 'number'}, got "${text}"`,
    );
  return n;
}

interface PredictOptions {
  format: PrelabelFormat;
  out?: string;
  topK: number;
  batch: number;
  windowing: WindowChoice;
  merge: boolean;
}

function parseFlags(flags: PredictFlags): PredictOptions {
  if (!(PRELABEL_FORMATS as readonly string[]).includes(flags.format))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `--format is one of ${PRELABEL_FORMATS.join(', ')}, got "${flags.format}"`,
    );
  return {
    format: flags.format as PrelabelFormat,
    ...(flags.out ? { out: flags.out } : {}),
    topK: positive(flags.topK, 'top-k', true)!,
    batch: positive(flags.batch, 'batch', true)!,
    windowing: { window: positive(flags.window, 'window', false), hop: positive(flags.hop, 'hop', false) },
    merge: flags.merge ?? false,
  };
}

/**
 * Refuses, before any file is decoded, options the model cannot honour: audio options for an
 * image model, a window longer than an audio model's clip, label files that would overwrite others.
 */
async function checkFlagsFit(
  inputs: ModelInputs,
  model: string,
  o: PredictOptions,
  files: readonly string[],
): Promise<void> {
  if (inputs.kind === 'image') {
    const audioOnly = [
      ...(o.windowing.window ? ['--window'] : []),
      ...(o.windowing.hop ? ['--hop'] : []),
      ...(o.merge ? ['--merge'] : []),
      ...(o.format === 'audacity' ? ['--format audacity'] : []),
    ];
    if (audioOnly.length)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${audioOnly.join(', ')}: for audio models; ${model} classifies images`,
      );
    return;
  }
  windowing(inputs, o.windowing);
  if (o.format === 'audacity')
    await audacityTargets(
      files.filter((f) => /\.wav$/i.test(f)),
      o.out,
    );
}

/** The first few skipped files on the console; the JSON lists them all. */
function printSkipped(skipped: readonly SkippedFile[], log: (line: string) => void, limit = 10): void {
  for (const s of skipped.slice(0, limit)) log(`  skipped ${s.path}: ${s.reason}`);
  if (skipped.length > limit) log(`  … and ${skipped.length - limit} more`);
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .argument('<model>', 'a registered model (name, name@3, name:alias) or a finished run id')
    .argument('<paths...>', 'image files, WAV recordings, or folders of them (searched recursively)')
    .description('Pre-label new data for review: top-k classes per image, or per window of a recording')
    .option('--out <path>', 'output file (default prelabels.json or .csv); for audacity, a folder')
    .option('--format <format>', `${PRELABEL_FORMATS.join(', ')}`, 'json')
    .option('--top-k <n>', 'most probable classes per item', '3')
    .option('--batch <n>', 'images or windows per inference call', '32')
    .option(
      '--window <seconds>',
      "audio: seconds per prediction (default and at most the model's clip length)",
    )
    .option('--hop <seconds>', 'audio: seconds between window starts (default the window: no overlap)')
    .option('--merge', 'audio: join consecutive windows with the same top class into segments')
    .addHelpText(
      'after',
      `
Examples:
  loupe predict fashion incoming/                         # champion (else latest) → prelabels.json
  loupe predict fashion@3 a.jpg b.png --format csv --out batch-7.csv --top-k 5
  loupe predict bursts field/ --merge --format audacity    # x.labels.txt beside each x.wav
  loupe predict bursts rec.wav --hop 0.25 --merge --out rec.json   # overlapping windows
  loupe predict 01jf3k2m new/                             # a run, before it is registered`,
    )
    .action(async (model: string, paths: string[], flags: PredictFlags, command: Command) => {
      const o = parseFlags(flags);
      const log = (line: string) => console.log(line);
      await withStages(command, async (ws, signal, progress) => {
        // Before the model: a mistyped path should not wait for a run to be packaged.
        const listing = await listInputFiles(paths);
        if (!listing.files.length)
          throw new LoupeError('INVALID_ARGUMENT', `no files to predict in ${paths.join(', ')}`);
        const target = await resolveModelTarget(ws, model, { signal, onProgress: progress });
        const classifier = await Classifier.open(target.onnx);
        try {
          await checkFlagsFit(classifier.inputs, target.label, o, listing.files);
          const result = await predictFiles(classifier, listing.files, {
            ...o.windowing,
            batch: o.batch,
            signal,
            onProgress: (done, total) => progress('predict', done, total),
          });
          const skipped = [...listing.skipped, ...result.skipped];
          if (!result.predictions.length) {
            log(`nothing ${target.label} can classify among ${listing.files.length} file(s):`);
            printSkipped(skipped, log);
            throw new LoupeError(
              'INVALID_ARGUMENT',
              `no ${classifier.inputs.kind === 'image' ? 'images' : 'WAV recordings'} to predict`,
            );
          }
          const doc = prelabels(
            target.label,
            classifier.classes,
            o.merge ? mergeWindows(result.predictions) : result.predictions,
            skipped,
            { topK: o.topK },
          );
          // The last moment Ctrl-C leaves nothing behind; the writes that follow take milliseconds.
          signal.throwIfAborted();
          const written = await writePrelabels(doc, o.format, o.out);
          const files = new Set(doc.items.map((i) => i.path)).size;
          log(
            `${doc.items.length} ${o.merge ? 'segments' : 'predictions'} for ${files} file(s) by ${target.label}` +
              ` → ${written.length === 1 ? written[0] : `${written.length} label files`}`,
          );
          if (skipped.length) {
            log(`${skipped.length} skipped:`);
            printSkipped(skipped, log);
          }
        } finally {
          await classifier.dispose();
        }
      });
    });
}

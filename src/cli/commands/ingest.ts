import type { Command } from 'commander';
import path from 'node:path';
import type { CandidateStream, IngestProgress, SourceResult } from '../../data/ingest/candidate.js';
import { audioCandidates } from '../../data/ingest/from-audio.js';
import { candidatesFromCsv } from '../../data/ingest/from-csv.js';
import { folderCandidates } from '../../data/ingest/from-folder.js';
import { idxCandidates } from '../../data/ingest/from-idx.js';
import { ingest, type IngestReport } from '../../data/ingest/ingest.js';
import { FASHION_MNIST_CLASSES } from '../../data/datasets/fashion-mnist.js';
import { formatAudioScanReport } from '../../data/sources/audio/audio-scan-report.js';
import type { AudioScanReport } from '../../data/sources/audio/audio-scan-report.js';
import { renderValidationTable } from '../../data/validate/render-validation-table.js';
import type { Split } from '../../data/versions/manifest.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Workspace } from '../../workspace/workspace.js';
import { downloadProgressBar, type DownloadProgressBar } from '../download-progress.js';
import { interruptible } from '../interrupt.js';
import { progressBar, type ProgressBar } from '../progress.js';
import { withWorkspace } from '../workspace-options.js';

interface CommonOptions {
  dataset?: string;
  replace?: boolean;
  json?: boolean;
}

/** One bar per stage ("copy", "download", "inspect", ...), replaced when the stage changes. */
function stageProgress(): { onProgress: IngestProgress; stop: () => void } {
  let bar: ProgressBar | undefined;
  let stage = '';
  return {
    onProgress: (name, done, total) => {
      if (name !== stage) {
        bar?.stop();
        stage = name;
        bar = progressBar(total, `items (${name})`);
      }
      bar?.update(done);
    },
    stop: () => bar?.stop(),
  };
}

function printReport(r: IngestReport, json: boolean | undefined): void {
  if (json) return console.log(JSON.stringify(r));
  const audio = r.sourceDetails.audio as AudioScanReport | undefined;
  if (audio) console.log(formatAudioScanReport(audio));
  if (r.rejectedBySource.count) {
    console.log(
      `source     ${r.rejectedBySource.count} not usable: ${Object.entries(r.rejectedBySource.byReason)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    for (const e of r.rejectedBySource.examples)
      console.log(`           ${e.source}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`);
  }
  if (r.validation) console.log(renderValidationTable(r.validation));
  const what = r.created ? 'new version' : 'unchanged: same items as version';
  console.log(
    `dataset    ${r.dataset}: ${what} ${r.version.slice(0, 12)}, ${r.items.after} items (${r.items.added} added, ${r.items.alreadyPresent} already there${r.items.relabelled ? `, ${r.items.relabelled} relabelled` : ''})${r.parent ? `, parent ${r.parent.slice(0, 12)}` : ''}`,
  );
  console.log(`report     ${path.relative(process.cwd(), r.reportFile)}`);
}

async function run(
  cmd: Command,
  o: CommonOptions,
  source: string,
  // A stream is consumed by ingest() as the source produces it, so memory does not grow with the
  // number of candidates; the CSV source collects first because its downloads own a progress bar.
  produce: (
    ws: Workspace,
    onProgress: IngestProgress,
    signal: AbortSignal,
  ) => Promise<SourceResult> | CandidateStream,
): Promise<void> {
  await withWorkspace(cmd, (ws) =>
    interruptible(async (signal) => {
      const progress = stageProgress();
      try {
        const found = await produce(ws, progress.onProgress, signal);
        const report = await ingest(ws, found, {
          dataset: o.dataset ?? ws.config.name,
          replace: o.replace,
          source,
          signal,
          onValidationProgress: (p) => progress.onProgress(p.phase, p.done, p.total),
        });
        progress.stop();
        printReport(report, o.json);
      } finally {
        progress.stop();
      }
    }),
  );
}

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const int = (v: string) => Number.parseInt(v, 10);

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('add labelled data to a dataset as a new, validated, immutable version');
  const common = (c: Command) =>
    c
      .option('--dataset <name>', 'dataset to add to (default: the workspace name)')
      .option('--replace', 'start the version from nothing instead of adding to the latest')
      .option('--json', 'print the report as JSON');

  common(
    cmd
      .command('folder')
      .argument('<dir>', 'a folder per class, optionally under train/ val/ test/')
      .description('images in class folders'),
  ).action(async (dir: string, o: CommonOptions, c: Command) =>
    run(c, o, `folder ${dir}`, (ws, p) => folderCandidates(path.resolve(dir), ws.blobs, p)),
  );

  common(
    cmd
      .command('idx')
      .description('an IDX image/label pair (MNIST, Fashion-MNIST), gzipped or not')
      .requiredOption('--images <file>')
      .requiredOption('--labels <file>')
      .option('--split <split>', 'these files are the train, val or test split')
      .option('--class-names <names>', 'comma-separated names for labels 0, 1, …, or "fashion-mnist"'),
  ).action(
    async (
      o: CommonOptions & { images: string; labels: string; split?: string; classNames?: string },
      c: Command,
    ) => {
      if (o.split && !['train', 'val', 'test'].includes(o.split))
        throw new LoupeError('INVALID_ARGUMENT', `--split must be train, val or test, not ${o.split}`);
      const classNames =
        o.classNames === 'fashion-mnist'
          ? [...FASHION_MNIST_CLASSES]
          : o.classNames
            ? list(o.classNames)
            : undefined;
      await run(c, o, `idx ${o.images}`, (ws, p) =>
        idxCandidates(
          {
            images: o.images,
            labels: o.labels,
            ...(o.split ? { split: o.split as Split } : {}),
            ...(classNames ? { classNames } : {}),
          },
          ws.blobs,
          p,
        ),
      );
    },
  );

  common(
    cmd
      .command('csv')
      .argument('<file>', 'an iNaturalist observations export, or any CSV of image URLs and labels')
      .description('images downloaded from a CSV of URLs (cached: a re-run downloads nothing twice)')
      .option('--image-column <name>', 'column of image URLs (default: image_url, then url, image)')
      .option('--label-column <name>', 'e.g. scientific_name (default), species_guess, iconic_taxon_name')
      .option('--group-column <name>', 'rows of one group stay in one split (default: id, the observation)')
      .option('--quality <grades>', 'keep these quality grades, e.g. research')
      .option('--license <licences>', 'keep these licences, e.g. cc0,cc-by')
      .option('--min-per-class <n>', 'drop classes with fewer rows', int)
      .option('--top <k>', 'keep the k most frequent classes', int),
  ).action(
    async (
      file: string,
      o: CommonOptions & {
        imageColumn?: string;
        labelColumn?: string;
        groupColumn?: string;
        quality?: string;
        license?: string;
        minPerClass?: number;
        top?: number;
      },
      c: Command,
    ) =>
      run(c, o, `csv ${file}`, async (ws, _p, signal) => {
        let bar: DownloadProgressBar | undefined;
        const found = await candidatesFromCsv(
          file,
          {
            imageColumn: o.imageColumn,
            labelColumn: o.labelColumn,
            groupColumn: o.groupColumn,
            ...(o.quality ? { qualityGrades: list(o.quality) } : {}),
            ...(o.license ? { licenses: list(o.license) } : {}),
            ...(o.minPerClass ? { minPerClass: o.minPerClass } : {}),
            ...(o.top ? { topK: o.top } : {}),
          },
          ws,
          (p) => (bar ??= downloadProgressBar(p.total)).onProgress(p),
          signal,
        ).finally(() => bar?.stop());
        return found;
      }),
  );

  common(
    cmd
      .command('audio')
      .argument('<dir>', 'WAV recordings with Audacity label files (x.wav + x.txt)')
      .description('labelled segments of recordings')
      .option('--min-duration <s>', 'skip shorter segments', Number.parseFloat)
      .option('--max-duration <s>', 'skip longer segments', Number.parseFloat),
  ).action(
    async (dir: string, o: CommonOptions & { minDuration?: number; maxDuration?: number }, c: Command) =>
      run(c, o, `audio ${dir}`, (ws, p) =>
        audioCandidates(
          path.resolve(dir),
          ws.blobs,
          {
            ...(o.minDuration ? { minDuration: o.minDuration } : {}),
            ...(o.maxDuration ? { maxDuration: o.maxDuration } : {}),
          },
          p,
        ),
      ),
  );
}

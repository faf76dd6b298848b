import type { Command } from 'commander';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { candidatesFromFolder } from '../../data/ingest/from-folder.js';
import { ingest } from '../../data/ingest/ingest.js';
import { readVersionItems, resolveVersion } from '../../data/versions/version-store.js';
import { OnnxSession } from '../../engine/onnx/onnx-session.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ImagePreprocessing } from '../../features/image/image-preprocessing.js';
import { trainConfigSchema } from '../../train/config/train-config.js';
import { trainingItems } from '../../train/data/training-items.js';
import { evaluate } from '../../train/fit.js';
import { loadTrainingImages } from '../../train/modes/image-sets.js';
import { trainModel, type TrainOutcome } from '../../train/train-run.js';
import { initWorkspace, openWorkspace } from '../../workspace/workspace.js';
import { interruptible } from '../interrupt.js';
import { pct, trainReporter } from '../train-reporter.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface DemoOptions {
  data: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** The demo's workspace (created if needed); the run goes to its .loupe/runs/. */
  workspace: string;
  log?: (line: string) => void;
  /** Aborting stops training after the batch in flight, leaving a resumable run. */
  signal?: AbortSignal;
}

export interface DemoResult {
  run: TrainOutcome;
  testAccuracy: number;
  onnxTestAccuracy: number;
  onnxFile: string;
}

/**
 * The loop as far as it exists: a workspace, the bundled sample ingested into a validated
 * version, a tracked from-scratch training run on its splits (checkpoints, metrics, artifacts),
 * and the exported ONNX model checked against libtorch on the test split.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? console.log;
  await initWorkspace(o.workspace, { name: 'loupe-demo' });
  const ws = await openWorkspace({ workspace: o.workspace, env: {} });
  try {
    const t0 = performance.now();
    const report = await ingest(ws, await candidatesFromFolder(path.resolve(o.data), ws.blobs), {
      dataset: 'fashion-sample',
      source: `folder ${o.data}`,
    });
    log(
      `dataset  ${report.dataset} @ ${report.version.slice(0, 12)} in ${path.relative(process.cwd(), ws.root) || '.'}: ${report.items.after} images ${report.created ? 'ingested and validated' : '(already ingested)'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const config = trainConfigSchema.parse({
      mode: 'scratch',
      data: report.version,
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      optimizer: { type: 'adam', lr: o.lr, weightDecay: 0 },
      schedule: { type: 'cosine', warmupEpochs: 1 },
      earlyStopping: { patience: 0 },
      trainMetricsSample: 512,
      scratch: {
        input: { size: 28, channels: 1 },
        filters: [32, 64],
        convsPerBlock: 1,
        classifier: [128],
        batchnorm: false,
        dropout: 0,
      },
    });
    const run = await trainModel(ws, {
      config,
      onEvent: trainReporter(log),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const testAccuracy = run.summary['test.accuracy'] ?? Number.NaN;
    log(`test     accuracy ${pct(testAccuracy)} on the held-out test split (libtorch)`);

    // From here on inference is ONNX Runtime's: the run's exported model must agree with it.
    const runDir = path.join(ws.stateDir, 'runs', run.runId);
    const onnxFile = path.join(runDir, 'model.onnx');
    const session = await OnnxSession.open(onnxFile);
    try {
      const inputs = JSON.parse(session.metadata.inputs ?? '{}') as { preprocessing?: ImagePreprocessing };
      if (!inputs.preprocessing)
        throw new LoupeError('CORRUPT_FILE', `${onnxFile} does not record its preprocessing`);
      const items = trainingItems(await readVersionItems(ws, await resolveVersion(ws.db, report.version)));
      const { test } = await loadTrainingImages(items, ws.blobs, inputs.preprocessing);
      if (!test) throw new LoupeError('NOT_FOUND', `${o.data} has no test images`);
      const ort = await evaluate(
        async (x, n) => (await session.run(x, n, { outputs: ['logits'] })).get('logits')!.data,
        test,
      );
      log(
        `onnx     accuracy ${pct(ort.accuracy)} with ONNX Runtime, ${Math.round(ort.imagesPerSecond).toLocaleString('en')} img/s`,
      );
      log(
        `run      ${run.runId}: loupe runs show ${run.runId} (weights, ONNX, curves.png, metadata.json in ${path.relative(process.cwd(), runDir)})`,
      );
      return { run, testAccuracy, onnxTestAccuracy: ort.accuracy, onnxFile };
    } finally {
      session.dispose();
    }
  } finally {
    await ws.close();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'ingest the bundled Fashion-MNIST sample into a workspace, train a tracked CNN run on it, check its ONNX export',
    )
    .option(
      '--data <dir>',
      'folder with train/ and test/ class folders',
      path.join(repoRoot, 'samples/fashion-mnist'),
    )
    .option('--epochs <n>', 'training epochs', (v) => Number.parseInt(v, 10), 8)
    .option('--batch-size <n>', 'batch size', (v) => Number.parseInt(v, 10), 64)
    .option('--lr <rate>', 'peak learning rate (Adam, cosine decay)', Number.parseFloat, 2e-3)
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 1)
    .option('--workspace-dir <dir>', 'the demo workspace (created if needed)', 'loupe-demo')
    .action(async (o: Omit<DemoOptions, 'workspace'> & { workspaceDir: string }) => {
      await interruptible((signal) => runDemo({ ...o, workspace: o.workspaceDir, signal }));
    });
}

import type { Command } from 'commander';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { folderCandidates } from '../../data/ingest/from-folder.js';
import { ingest } from '../../data/ingest/ingest.js';
import { trainConfigSchema, type TrainConfig } from '../../train/config/train-config.js';
import { trainModel, type TrainOutcome } from '../../train/train-run.js';
import { runGate } from '../../registry/gate/run-gate.js';
import { readModelFile } from '../../registry/model-files.js';
import { promote } from '../../registry/promote.js';
import { registerRun } from '../../registry/register-model.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { initWorkspace, openWorkspace, type Workspace } from '../../workspace/workspace.js';
import { createServer } from '../../serve/server.js';
import { demoAdmin } from '../demo/demo-admin.js';
import { runMonitoringLoop } from '../demo/demo-loop.js';
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
  /** Aborting stops training after the batch in flight, leaving a resumable run; it also stops serving. */
  signal?: AbortSignal;
  /** Serve the champion on this port once the loop has run, until the signal aborts (0: any free port). */
  servePort?: number;
}

/**
 * The demo's recipe: a small CNN on 28×28 grey images, Adam with cosine decay. The serving
 * benchmark trains the same model, so what it measures is what the demo serves.
 */
export function demoTrainConfig(
  data: string,
  o: { epochs: number; batchSize: number; lr: number; seed: number },
): TrainConfig {
  return trainConfigSchema.parse({
    mode: 'scratch',
    data,
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
}

export interface DemoResult {
  run: TrainOutcome;
  testAccuracy: number;
  onnxTestAccuracy: number;
  onnxFile: string;
}

/**
 * The whole loop: a workspace, the bundled sample ingested into a validated version, a tracked
 * from-scratch training run on its splits (checkpoints, metrics, artifacts), registered as a
 * calibrated ONNX model, evaluated with ONNX Runtime (agreeing with libtorch), judged by the
 * workspace's gate, promoted to champion when it passes, exported; then served, with traffic
 * (part of it shifted), a drift check, corrections and a gated retrain (serveUntilStopped).
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? console.log;
  await initWorkspace(o.workspace, { name: 'loupe-demo' });
  const ws = await openWorkspace({ workspace: o.workspace, env: {} });
  try {
    const t0 = performance.now();
    const report = await ingest(ws, folderCandidates(path.resolve(o.data), ws.blobs), {
      dataset: 'fashion-sample',
      source: `folder ${o.data}`,
    });
    log(
      `dataset  ${report.dataset} @ ${report.version.slice(0, 12)} in ${path.relative(process.cwd(), ws.root) || '.'}: ${report.items.after} images ${report.created ? 'ingested and validated' : '(already ingested)'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const config = demoTrainConfig(report.version, o);
    const run = await trainModel(ws, {
      config,
      onEvent: trainReporter(log),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const testAccuracy = run.summary['test.accuracy'] ?? Number.NaN;
    log(`test     accuracy ${pct(testAccuracy)} on the held-out test split (libtorch)`);

    log(
      `run      ${run.runId}: loupe runs show ${run.runId} (weights, ONNX, curves.png, metadata.json in ${path.relative(process.cwd(), path.join(ws.stateDir, 'runs', run.runId))})`,
    );

    // From here on inference is ONNX Runtime's, on the one packaged file that will be served.
    const registered = await registerRun(ws, run.runId, {
      reason: 'loupe demo',
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const evaluation = registered.evaluation!.report;
    const m = evaluation.metrics;
    const onnxTestAccuracy = m.accuracy;
    log(
      `model    ${registered.version.ref} registered: one ONNX file (calibrated probs + embedding), temperature ${registered.version.temperature.toFixed(2)}`,
    );
    log(
      `onnx     accuracy ${pct(onnxTestAccuracy)} with ONNX Runtime, macro-F1 ${pct(m.macro.f1)}, ECE ${m.ece.toFixed(3)}, p95 latency ${evaluation.latency!.p95.toFixed(1)} ms`,
    );
    log(`report   ${path.relative(process.cwd(), path.join(registered.reportDir!, 'report.html'))}`);
    const gate = await runGate(ws, registered.version, ws.config.gate);
    const verdicts = gate.rules.map(
      (r) => `${r.verdict === 'pass' ? '✓' : r.verdict === 'skipped' ? '–' : '✗'} ${r.rule}`,
    );
    log(
      `gate     ${gate.passed ? 'passed' : 'FAILED'}${gate.champion ? ` against ${gate.champion}` : ''}: ${verdicts.join('; ')}`,
    );
    if (gate.passed) {
      const promoted = await promote(
        ws,
        { model: registered.version.model, version: registered.version.version },
        {
          reason: 'loupe demo: passed its gate',
          policy: ws.config.gate,
        },
      );
      log(
        `promote  ${promoted.version.model}:champion → ${promoted.version.ref}${promoted.from !== null ? ` (was @${promoted.from})` : ''}`,
      );
    } else log(`promote  skipped: the champion stays (see loupe gate ${registered.version.ref})`);
    const onnxFile = path.join(ws.root, `${registered.version.model}.onnx`);
    await writeFileAtomic(onnxFile, await readModelFile(ws.blobs, registered.version));
    log(
      `export   ${path.relative(process.cwd(), onnxFile)}: runs in onnxruntime-node, onnxruntime-web or Python`,
    );
    if (o.servePort !== undefined)
      await serveUntilStopped(ws, {
        model: registered.version.model,
        port: o.servePort,
        dataDir: o.data,
        log,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    return { run, testAccuracy, onnxTestAccuracy, onnxFile };
  } finally {
    await ws.close();
  }
}

/**
 * The rest of the loop, behind the REST API and the web app: traffic, part of it shifted, a
 * drift check, people's corrections through POST /v1/feedback, a retrain that must pass its gate;
 * then the server keeps serving the champion until Ctrl-C. The demo keeps served inputs
 * (serve.predictionLog.storeInputs) so the web app can show them for review.
 */
async function serveUntilStopped(
  ws: Workspace,
  o: { model: string; port: number; dataDir: string; log: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  const { log } = o;
  const serve = ws.config.serve;
  const server = await createServer(ws, {
    config: { ...serve, predictionLog: { ...serve.predictionLog, storeInputs: true } },
    defaultModel: o.model,
    logger: { level: 'warn' },
  });
  try {
    const url = await server.app.listen({ host: serve.host, port: o.port });
    log(`serve    ${url} — the API (docs ${url}/docs), the web app, metrics ${url}/metrics`);
    await runMonitoringLoop(ws, {
      server,
      url,
      model: o.model,
      dataDir: o.dataDir,
      log,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const admin = await demoAdmin(ws.db);
    const sneakers = path.join(repoRoot, 'samples/fashion-mnist/test/Sneaker');
    const sample = path.join(sneakers, readdirSync(sneakers).sort()[0] ?? '');
    log(`web app  ${url} — sign in as ${admin.email} with the password ${admin.password}`);
    log(`serve    ${url} until Ctrl-C; docs ${url}/docs, metrics ${url}/metrics`);
    log(`         curl -F file=@${path.relative(process.cwd(), sample)} ${url}/predict`);
    await new Promise<void>((resolve) => {
      if (!o.signal || o.signal.aborted) return resolve();
      o.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await server.close();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole loop on the bundled Fashion-MNIST sample: ingest, train, evaluate, gate, promote, serve; then traffic, drift, corrections and a retrain',
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
    .option(
      '--port <port>',
      'serve the champion on this port at the end (0: any free port)',
      (v) => Number.parseInt(v, 10),
      8080,
    )
    .option('--no-serve', 'stop after exporting (before serving, traffic, drift and the retrain)')
    .action(
      async (
        o: Omit<DemoOptions, 'workspace' | 'servePort'> & {
          workspaceDir: string;
          port: number;
          serve: boolean;
        },
      ) => {
        const { port, serve, workspaceDir, ...rest } = o;
        await interruptible((signal) =>
          runDemo({ ...rest, workspace: workspaceDir, signal, ...(serve ? { servePort: port } : {}) }),
        );
      },
    );
}

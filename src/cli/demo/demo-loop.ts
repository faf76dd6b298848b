import { runDriftCheck } from '../../monitor/drift/drift-check.js';
import type { RetrainReport } from '../../monitor/retrain/retrain-report.js';
import { retrain } from '../../monitor/retrain/retrain.js';
import type { LoupeServer } from '../../serve/server.js';
import type { Workspace } from '../../workspace/workspace.js';
import { printRetrainResult, retrainPrinter } from '../commands/retrain.js';
import { stageProgress } from '../stage-progress.js';
import { pct } from '../train-reporter.js';
import { accuracy, demoImages, predictAll, sendVerdicts } from './demo-traffic.js';

/** Decisions that must be waiting before the demo's retrain runs (with drift, either is enough). */
const MIN_FEEDBACK = 50;
/** How long the server may take to load the new champion after its promotion. */
const RELOAD_WAIT_MS = 60_000;

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/** Waits until the server serves `ref` (its hot reload follows the alias). */
async function servedBy(server: LoupeServer, ref: string, signal?: AbortSignal): Promise<boolean> {
  const until = Date.now() + RELOAD_WAIT_MS;
  while (Date.now() < until && !signal?.aborted) {
    if (server.host.status().loaded.some((m) => m.version === ref)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * The monitoring half of the demo, against the running server: clients send the test images,
 * then images from a camera that inverts them; a drift check sees the shift; people's verdicts
 * arrive through POST /v1/feedback with the sample's true labels; `loupe retrain` turns them into
 * a new dataset version and a candidate that must pass its gate against the champion; the
 * server then serves the new champion, measured on shifted images none of the steps saw.
 */
export async function runMonitoringLoop(
  ws: Workspace,
  o: {
    server: LoupeServer;
    url: string;
    model: string;
    dataDir: string;
    log: (line: string) => void;
    signal?: AbortSignal;
  },
): Promise<RetrainReport> {
  const { url, model, log } = o;
  const images = await demoImages(o.dataDir);
  const plain = await predictAll(url, model, images.plain);
  log(`traffic  ${plain.length} test images as they are: ${pct(accuracy(plain))} right (${plain[0]?.model})`);
  const shifted = await predictAll(url, model, images.shifted);
  log(
    `traffic  ${shifted.length} more from a camera that inverts them (white on black): ${pct(accuracy(shifted))} right`,
  );
  await o.server.predictionLog.flush();
  const t0 = performance.now();
  const { check } = await runDriftCheck(ws, {
    model,
    config: ws.config.monitor.drift,
    source: 'cli',
    ...(o.signal ? { signal: o.signal } : {}),
  });
  log(
    `drift    ${check.message}: the latest ${check.windowSize} predictions of ${model}@${check.version} against ${check.referenceSize} held-out items (${seconds(t0)})`,
  );
  const heldOutBefore = await predictAll(url, model, images.heldOut);
  const verdicts = await sendVerdicts(url, shifted);
  log(
    `feedback ${shifted.length} verdicts through POST /v1/feedback with the sample's true labels: ${verdicts.corrections} corrections, ${verdicts.accepts} accepts`,
  );

  const progress = stageProgress(log);
  let report: RetrainReport;
  try {
    report = await retrain(ws, {
      model,
      ifDrift: true,
      minFeedback: MIN_FEEDBACK,
      startedBy: 'demo',
      ...(o.signal ? { signal: o.signal } : {}),
      onEvent: retrainPrinter(log, progress.update),
    });
  } finally {
    progress.stop();
  }
  printRetrainResult(log, report);
  if (report.outcome === 'promoted' && report.after && (await servedBy(o.server, report.after, o.signal))) {
    const heldOutAfter = await predictAll(url, model, images.heldOut);
    const plainAfter = await predictAll(url, model, images.plain);
    log(
      `serve    ${report.after} answers now: inverted images no step saw ${pct(accuracy(heldOutBefore))} → ${pct(accuracy(heldOutAfter))} right, test images ${pct(accuracy(plain))} → ${pct(accuracy(plainAfter))}`,
    );
  }
  return report;
}

import { DRIFT_TESTS, type DriftConfig } from '../monitor/drift/drift-config.js';
import type { DriftCheck } from '../monitor/drift/drift-store.js';
import type {
  DriftCheckRequest,
  DriftWorkerSetup,
  FromDriftWorker,
} from '../monitor/drift/drift-worker-protocol.js';
import { RequestWorker } from '../util/request-worker.js';
import { spawnModuleWorker } from '../util/spawn-worker.js';
import type { Workspace } from '../workspace/workspace.js';
import type { HostLog, ModelHost } from './model-host.js';
import type { ServeMetrics } from './serve-metrics.js';

/**
 * `loupe serve`'s drift checks: every `intervalMs`, each model the server has loaded is checked
 * (its served version's latest logged predictions against its reference) in a worker thread,
 * so the statistics and any reference computation never hold up a request, and a failing check
 * is logged and counted, never thrown at one. Each result is stored (by the worker), logged, and
 * published as Prometheus gauges.
 */
export class DriftSchedule {
  private timer: NodeJS.Timeout | undefined;
  private readonly worker: RequestWorker<DriftCheckRequest, FromDriftWorker>;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    ws: Workspace,
    private readonly config: DriftConfig,
    private readonly host: Pick<ModelHost, 'status'>,
    private readonly metrics: ServeMetrics,
    private readonly log: HostLog,
  ) {
    const setup: DriftWorkerSetup = { root: ws.root, profile: ws.profile };
    this.worker = new RequestWorker<DriftCheckRequest, FromDriftWorker>(
      () => {
        const worker = spawnModuleWorker(import.meta.url, '../monitor/drift/drift-worker');
        // spawnModuleWorker passes no workerData, so the setup goes as the first message's payload.
        worker.postMessage({ type: 'setup', ...setup });
        return worker;
      },
      (id, message) => ({ type: 'failed', id, error: { code: 'INTERNAL', message } }),
      'drift worker',
    );
  }

  /** Starts the timer; the first check runs one interval after start. intervalMs 0: never. */
  start(): void {
    if (!this.config.intervalMs || this.closed) return;
    this.timer = setInterval(() => {
      // A round still running (a slow reference computation) is not stacked on.
      this.running ??= this.runRound().finally(() => (this.running = undefined));
    }, this.config.intervalMs);
    this.timer.unref();
  }

  /** One check of every loaded model, one after another. */
  private async runRound(): Promise<void> {
    // A loaded version's ref is name@version, and names cannot hold an "@".
    const models = this.host.status().loaded.map((l) => l.version.slice(0, l.version.lastIndexOf('@')));
    for (const model of [...new Set(models)]) {
      if (this.closed) break;
      const reply = await this.ask(model);
      if (reply.type === 'done') {
        this.publish(reply.check);
      } else if (!this.closed) {
        this.metrics.driftChecks.inc({ model, status: 'failed' });
        this.log.warn({ model, err: reply.error.message, code: reply.error.code }, 'drift check failed');
      }
    }
  }

  private ask(model: string): Promise<FromDriftWorker> {
    return this.worker.ask((id) => ({ type: 'check', id, model, config: this.config }));
  }

  private publish(c: DriftCheck): void {
    const m = this.metrics;
    const model = c.model;
    m.driftChecks.inc({ model, status: c.status });
    m.driftWindowSize.set({ model }, c.windowSize);
    m.driftLastCheck.set({ model }, Date.parse(c.at) / 1000);
    for (const test of [...DRIFT_TESTS, 'combined']) {
      m.driftDetected.remove({ model, test });
      m.driftStatistic.remove({ model, test });
      m.driftPValue.remove({ model, test });
    }
    // Not enough data is no verdict either way: the series are absent rather than 0.
    if (c.status !== 'insufficient') {
      m.driftDetected.set({ model, test: 'combined' }, c.status === 'drift' ? 1 : 0);
      for (const t of c.tests) {
        m.driftDetected.set({ model, test: t.test }, t.drift ? 1 : 0);
        m.driftStatistic.set({ model, test: t.test }, t.statistic);
        m.driftPValue.set({ model, test: t.test }, t.pValue);
      }
    }
    const summary = {
      model,
      version: c.version,
      status: c.status,
      window: c.windowSize,
      tests: Object.fromEntries(
        c.tests.map((t) => [t.test, { statistic: t.statistic, p: t.pValue, drift: t.drift }]),
      ),
    };
    if (c.status === 'drift') this.log.warn(summary, `drift check: ${c.message}`);
    else this.log.info(summary, `drift check: ${c.message}`);
  }

  /**
   * Stops the timer and the worker: a check in flight may finish for CLOSE_GRACE_MS, then the
   * thread is stopped (its database writes are transactions, so a cut one leaves nothing).
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.worker.close({ type: 'close' }, CLOSE_GRACE_MS);
    await this.running;
  }
}

const CLOSE_GRACE_MS = 5000;

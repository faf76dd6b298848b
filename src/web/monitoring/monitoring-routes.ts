import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { latestDriftChecks } from '../../monitor/drift/drift-store.js';
import { listModels } from '../../registry/registry-store.js';
import { requireRole } from '../accounts/require-role.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { monitoringCharts } from './monitoring-charts.js';
import { monitoredModels, trafficQuerySchema, trafficStats } from './traffic-stats.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const driftQuery = z.object({
  model: z.string().min(1).max(100),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

/**
 * Monitoring from the prediction log: traffic, latency percentiles, class mix and confidence over
 * a time range, per model and version, with their charts; and the model's latest drift checks.
 */
export function registerMonitoringRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { db } = deps.ws;

  app.get('/api/monitoring/models', viewer, async () => {
    const logged = await monitoredModels(db);
    const registered = (await listModels(db)).map((m) => m.name);
    return {
      models: [
        ...logged,
        ...registered
          .filter((name) => !logged.some((l) => l.model === name))
          .map((name) => ({ model: name, versions: [], predictions: 0, last: null })),
      ],
    };
  });

  app.get('/api/monitoring/traffic', viewer, async (request) => {
    const stats = await trafficStats(db, parseInput(trafficQuerySchema, request.query, 'query'));
    return { ...stats, charts: monitoringCharts(stats) };
  });

  app.get('/api/monitoring/drift', viewer, async (request) => {
    const q = parseInput(driftQuery, request.query, 'query');
    return {
      // 0: `loupe serve` runs no checks of its own; `loupe drift` still can.
      intervalMs: deps.config.monitor.drift.intervalMs,
      checks: await latestDriftChecks(db, q.model, q.limit),
    };
  });
}

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { getRun, runArtifacts } from '../../track/run-store.js';
import { requireRole } from '../accounts/require-role.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { compareRuns, MAX_COMPARED } from './compare-runs.js';
import { runDetail } from './run-detail.js';
import { queryRuns, runsQuerySchema } from './runs-query.js';
import { isWithin } from '../../util/is-within.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };

const runParams = z.object({ id: z.string().min(4).max(64) });
const compareQuery = z.object({
  /** Comma-separated run ids or prefixes. */
  ids: z
    .string()
    .min(1)
    .max(MAX_COMPARED * 70),
});

/** What an artifact is sent as: the browser shows images and JSON, and downloads the rest. */
const ARTIFACT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
};

/** Training runs: the sortable, filterable list, one run's page, side-by-side comparison and artifacts. */
export function registerExperimentsRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { ws } = deps;

  app.get('/api/runs', viewer, async (request) =>
    queryRuns(ws.db, parseInput(runsQuerySchema, request.query, 'query')),
  );

  app.get('/api/runs/compare', viewer, async (request) => {
    const { ids } = parseInput(compareQuery, request.query, 'query');
    return compareRuns(
      ws.db,
      ids
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  });

  app.get('/api/runs/:id', viewer, async (request) =>
    runDetail(ws.db, parseInput(runParams, request.params, 'run').id),
  );

  app.get('/api/runs/:id/artifacts/:name', viewer, async (request, reply) => {
    const params = parseInput(
      runParams.extend({ name: z.string().min(1).max(500) }),
      request.params,
      'artifact',
    );
    const run = await getRun(ws.db, params.id);
    const artifact = (await runArtifacts(ws.db, run.id)).find((a) => a.name === params.name);
    if (!artifact) throw new LoupeError('NOT_FOUND', `run ${run.id} has no artifact "${params.name}"`);
    const file = path.resolve(ws.root, artifact.path);
    // Recorded paths are inside the workspace; a row edited to point elsewhere is not followed.
    if (!isWithin(ws.root, file))
      throw new LoupeError('NOT_FOUND', `artifact "${artifact.name}" is outside the workspace`);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (e) {
      throw fsError(e, file, { what: 'the artifact' });
    }
    const type = ARTIFACT_TYPES[path.extname(file).toLowerCase()];
    void reply
      .header('content-length', size)
      .header('x-content-type-options', 'nosniff')
      // An HTML report runs no script of its own: a sandbox keeps it from acting as the app.
      .header('content-security-policy', 'sandbox')
      .header(
        'content-disposition',
        `${type ? 'inline' : 'attachment'}; filename="${path.basename(file).replace(/[^\w.-]/g, '_')}"`,
      );
    return reply.type(type ?? 'application/octet-stream').send(createReadStream(file));
  });
}

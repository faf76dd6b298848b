import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkModelName } from '../../registry/model-ref.js';
import { promote, rollback } from '../../registry/promote.js';
import { auditLog, CHAMPION, getVersion, listModels, listVersions } from '../../registry/registry-store.js';
import { requireRole } from '../accounts/require-role.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { confusionCellItems, confusionCellQuerySchema } from './confusion-cell.js';
import { currentGatePolicy, gateVerdicts } from './current-gate.js';
import { versionReport } from './version-report.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const admin = { preHandler: requireRole('admin'), schema: { hide: true } };

const name = z.string().transform((s, ctx) => {
  try {
    return checkModelName(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
const modelParams = z.object({ model: name });
const versionParams = z.object({ model: name, version: z.coerce.number().int().min(1) });
const alias = z.string().min(1).max(100).default(CHAMPION);
/** Why, for the audit log: the page always asks, as a promotion from a browser is easy to make by mistake. */
const reason = z.string().trim().min(1, 'a reason is required; it goes in the audit log').max(2000);
const promoteBody = z.strictObject({ alias, reason, force: z.boolean().default(false) });
const rollbackBody = z.strictObject({ alias, reason });
const gateQuery = z.object({ alias: alias.optional() });

/**
 * The registry in the web app: models, versions with their evaluation (charts and the items of
 * each confusion cell), gate verdicts, and promotion and rollback for admins, through the same
 * functions as `loupe promote` and `loupe rollback`, so the gate, the audit row and the refusal
 * of a stale promotion (409) are the same.
 */
export function registerModelsRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { ws } = deps;

  app.get('/api/models', viewer, async () => ({ models: await listModels(ws.db) }));

  app.get('/api/models/:model', viewer, async (request) => {
    const { model } = parseInput(modelParams, request.params, 'model');
    const versions = await listVersions(ws.db, model);
    const summary = (await listModels(ws.db)).find((m) => m.name === model)!;
    return { model: summary, versions };
  });

  app.get('/api/models/:model/audit', viewer, async (request) => {
    const { model } = parseInput(modelParams, request.params, 'model');
    await listVersions(ws.db, model);
    return { entries: (await auditLog(ws.db, model)).reverse() };
  });

  app.get('/api/models/:model/versions/:version', viewer, async (request) => ({
    version: await getVersion(ws.db, parseInput(versionParams, request.params, 'version')),
  }));

  app.get('/api/models/:model/versions/:version/report', viewer, async (request) =>
    versionReport(ws, await getVersion(ws.db, parseInput(versionParams, request.params, 'version'))),
  );

  app.get('/api/models/:model/versions/:version/confusion', viewer, async (request) => {
    const version = await getVersion(ws.db, parseInput(versionParams, request.params, 'version'));
    return confusionCellItems(ws, version, parseInput(confusionCellQuerySchema, request.query, 'query'));
  });

  app.get('/api/models/:model/versions/:version/gate', viewer, async (request, reply) => {
    const ref = parseInput(versionParams, request.params, 'version');
    const { alias: against } = parseInput(gateQuery, request.query, 'query');
    // Judging against a champion may mean evaluating it afresh: not for a client that left.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    return gateVerdicts(ws, ref, { ...(against ? { alias: against } : {}), signal: gone.signal });
  });

  app.post('/api/models/:model/versions/:version/promote', admin, async (request) => {
    const ref = parseInput(versionParams, request.params, 'version');
    const body = parseInput(promoteBody, request.body, 'promotion');
    const p = await promote(ws, ref, {
      alias: body.alias,
      reason: body.reason,
      force: body.force,
      actor: request.user!.email,
      policy: await currentGatePolicy(ws),
    });
    return { version: p.version, alias: p.alias, from: p.from, forced: p.forced, gate: p.gate };
  });

  app.post('/api/models/:model/rollback', admin, async (request) => {
    const { model } = parseInput(modelParams, request.params, 'model');
    const body = parseInput(rollbackBody, request.body, 'rollback');
    return rollback(ws, model, { alias: body.alias, reason: body.reason, actor: request.user!.email });
  });
}

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../store/database.js';
import type { ModelHost } from '../model-host.js';

const readiness = z.object({
  ready: z.boolean(),
  database: z.enum(['ok', 'unreachable']),
  models: z.array(z.object({ selector: z.string(), version: z.string() })),
  refused: z.array(z.object({ version: z.string(), reason: z.string() })),
});

/** Liveness, readiness and the plain health check, for orchestrators and load balancers. */
export function registerHealthRoutes(app: FastifyInstance, db: Database, host: ModelHost): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const ready = async () => {
    const database = await sql`select 1`.execute(db).then(
      () => 'ok' as const,
      () => 'unreachable' as const,
    );
    const status = host.status();
    return {
      ready: database === 'ok' && status.loaded.length > 0,
      database,
      models: status.loaded,
      refused: status.refused,
    };
  };

  typed.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  typed.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: a model is loaded and the database answers; refused versions are listed',
        tags: ['health'],
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const r = await ready();
      return reply.code(r.ready ? 200 : 503).send(r);
    },
  );
  typed.get(
    '/health',
    {
      schema: {
        summary: 'Health in the plain form: ok when a model is loaded',
        tags: ['health'],
        response: {
          200: z.object({ status: z.string(), models: z.array(z.string()) }),
          503: z.object({ status: z.string(), models: z.array(z.string()) }),
        },
      },
    },
    async (_request, reply) => {
      const r = await ready();
      return reply
        .code(r.ready ? 200 : 503)
        .send({ status: r.ready ? 'ok' : 'unavailable', models: r.models.map((m) => m.version) });
    },
  );
}

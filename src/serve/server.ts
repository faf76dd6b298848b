import { randomUUID } from 'node:crypto';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { LoupeError } from '../errors/loupe-error.js';
import type { WebConfig } from '../web/web-config.js';
import { registerWebApp } from '../web/web-app.js';
import type { Workspace } from '../workspace/workspace.js';
import type { ApiKey } from './api-keys.js';
import { createAuthenticator } from './auth.js';
import { ModelHost } from './model-host.js';
import { PredictService } from './predict-service.js';
import { PredictionLog, type PredictionLogOptions } from './prediction-log.js';
import { RetrainSchedule } from './retrain-schedule.js';
import { installProblemHandlers } from './problem.js';
import { registerFeedbackRoutes } from './routes/feedback-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerPredictRoutes } from './routes/predict-routes.js';
import type { ServeConfig } from './serve-config.js';
import { createServeMetrics, type ServeMetrics } from './serve-metrics.js';
import { DriftSchedule } from './drift-schedule.js';

export interface ServerOptions {
  config: ServeConfig;
  /** The model `POST /predict` answers with; default the workspace's only registered model. */
  defaultModel?: string;
  /** pino options, or false for none (tests). */
  logger?: FastifyServerOptions['logger'];
  predictionLog?: PredictionLogOptions;
  /** ONNX Runtime threads per loaded model. */
  threads?: number;
  /** The web app's settings; default the workspace's `web:` section. */
  web?: WebConfig;
  /** The built web app to serve; default the checkout's web/dist. */
  webDist?: string;
}

export interface LoupeServer {
  app: FastifyInstance;
  host: ModelHost;
  metrics: ServeMetrics;
  predictionLog: PredictionLog;
  /** Starts `loupe retrain` when monitor.retrain's triggers fire. */
  retrainSchedule: RetrainSchedule;
  /** Stops accepting requests, finishes those in flight, flushes the prediction log, stops the workers. */
  close(): Promise<void>;
}

const IMAGE_TYPES = /^(image\/[\w.+-]+|application\/octet-stream)$/;

/**
 * The HTTP API of `loupe serve`: prediction routes backed by hot-reloaded models in worker
 * threads, health and readiness, Prometheus metrics, and an OpenAPI document with a docs page
 * generated from the same route schemas that validate requests.
 */
export async function createServer(ws: Workspace, o: ServerOptions): Promise<LoupeServer> {
  const c = o.config;
  const web = o.web ?? ws.config.web;
  const app = Fastify({
    trustProxy: web.trustProxy,
    logger: o.logger ?? { level: 'info' },
    bodyLimit: c.limits.bodyBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // One log line per request comes from the onResponse hook below, with the route's outcome.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
  });
  // A body that is raw image bytes, or absent (multipart is read from the stream), is not JSON to check.
  app.setValidatorCompiler((route) => {
    const check = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
    return route.httpPart === 'body'
      ? (data: unknown) =>
          data === undefined || data === null || Buffer.isBuffer(data) ? { value: data } : check(data)
      : check;
  });
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandlers(app);
  // Fastify reads text/plain bodies as strings by default: a text body would then fail schema
  // validation (400) instead of being refused as the wrong media type (415).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const metrics = createServeMetrics();
  // Clients name a prediction by its request id in feedback, so every answer says it.
  app.addHook('onRequest', async (request, reply) => void reply.header('x-request-id', request.id));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Loupe', description: 'Image classification API of a Loupe workspace', version: '1' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyMultipart, {
    limits: {
      fileSize: c.limits.bodyBytes,
      files: c.limits.batchItems,
      fields: 2 * c.limits.batchItems,
      parts: 3 * c.limits.batchItems,
    },
    throwFileSizeLimit: true,
  });
  // Per key: each key's own rate, one budget across every route (a limit configured per route
  // would get a store, and so a budget, per route); requests without a key are not limited here.
  // The predict routes authenticate in onRequest, before this preHandler looks the key up.
  const keyed = new WeakMap<FastifyRequest, ApiKey>();
  await app.register(fastifyRateLimit, {
    global: true,
    hook: 'preHandler',
    timeWindow: 60_000,
    max: (request: FastifyRequest) => keyed.get(request)?.ratePerMinute ?? c.auth.ratePerMinute,
    keyGenerator: (request: FastifyRequest) => keyed.get(request)?.id ?? 'anonymous',
    allowList: (request: FastifyRequest) => !keyed.get(request)?.ratePerMinute,
  });

  const host = new ModelHost(
    ws,
    {
      batching: c.batching,
      limits: { maxPixels: c.limits.maxPixels, timeoutMs: c.limits.decodeTimeoutMs },
      reloadIntervalMs: c.reload.intervalMs,
      ...(o.threads ? { threads: o.threads } : {}),
    },
    metrics,
    { info: (x, m) => app.log.info(x, m), warn: (x, m) => app.log.warn(x, m) },
  );
  const predictionLog = new PredictionLog(ws.dbFile, ws.blobs, c.predictionLog, {
    onError: (e) => app.log.warn({ err: e.message }, 'prediction log write failed'),
    onOutcome: (outcome, n) => metrics.predictionLog.inc({ outcome }, n),
    ...o.predictionLog,
  });
  const service = new PredictService(host, metrics, predictionLog, c.url);
  const authenticate = createAuthenticator(ws.db, c.auth.required);

  registerPredictRoutes(app, {
    service,
    topK: c.topK,
    maxItems: c.limits.batchItems,
    maxBytes: c.limits.bodyBytes,
    defaultModel: async () => {
      if (o.defaultModel) return o.defaultModel;
      const models = await ws.db.selectFrom('registered_models').select('name').execute();
      if (models.length === 1) return models[0]!.name;
      throw new LoupeError(
        models.length ? 'INVALID_ARGUMENT' : 'NOT_FOUND',
        models.length
          ? `several models are registered (${models.map((m) => m.name).join(', ')}); use /v1/models/{name}/predict or start loupe serve --model NAME`
          : 'no model is registered yet',
      );
    },
    authenticate: async (request) => {
      const key = await authenticate(request, 'predict');
      if (key) keyed.set(request, key);
      return key;
    },
  });
  registerHealthRoutes(app, ws.db, host);
  registerFeedbackRoutes(app, {
    db: ws.db,
    blobs: ws.blobs,
    maxBytes: c.limits.bodyBytes,
    flushLog: () => predictionLog.flush(),
    authenticate: async (request) => {
      const key = await authenticate(request, 'feedback');
      if (key) keyed.set(request, key);
      return key;
    },
  });
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['health'], hide: false } },
    async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await registerWebApp(app, {
    ws,
    config: { ...ws.config, serve: c, web },
    service,
    host,
    metrics,
    predictionLog,
    ...(o.webDist ? { webDist: o.webDist } : {}),
  });

  await host.start();
  const retrainSchedule = new RetrainSchedule(ws, ws.config.monitor.retrain, {
    info: (x, m) => app.log.info(x, m),
    warn: (x, m) => app.log.warn(x, m),
  });
  retrainSchedule.start();
  const driftSchedule = new DriftSchedule(ws, ws.config.monitor.drift, host, metrics, app.log);
  driftSchedule.start();
  return {
    app,
    host,
    metrics,
    predictionLog,
    retrainSchedule,
    async close() {
      await driftSchedule.close();
      await retrainSchedule.close();
      await app.close();
      await host.close();
      await predictionLog.close();
    },
  };
}

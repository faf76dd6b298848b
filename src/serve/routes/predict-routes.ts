import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import type { ApiKey } from '../api-keys.js';
import type { ClientInput, ItemOutcome, PredictService } from '../predict-service.js';
import { problemOf } from '../problem.js';

const labelProbability = z.object({ label: z.string(), probability: z.number() });
export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string(),
  code: z.string(),
  instance: z.string(),
  request_id: z.string(),
});
const imageRef = z.union([
  z.object({ url: z.string().describe('an http(s) URL of a JPEG, PNG, GIF, WebP, TIFF, BMP or AVIF image') }),
  z.object({ image_base64: z.string().describe('the image bytes, base64 (a data: URL prefix is accepted)') }),
]);
/**
 * JSON bodies; multipart/form-data (one or more image files) and raw image bytes (Content-Type
 * image/*) are accepted too and are not described by this schema.
 */
const predictBody = z.union([imageRef, z.object({ instances: z.array(imageRef).min(1) })]);
const topKQuery = z.object({ top_k: z.coerce.number().int().min(1).max(1000).optional() });
const single = z.object({
  model: z.string().describe('the version that answered, name@version'),
  predictions: z.array(labelProbability),
  latency_ms: z.number(),
});
const batch = z.object({
  model: z.string(),
  results: z.array(
    z.union([z.object({ predictions: z.array(labelProbability) }), z.object({ error: problem })]),
  ),
  latency_ms: z.number(),
});
const plain = z.object({
  label: z.string(),
  probability: z.number(),
  predictions: z.array(labelProbability),
  model: z.string(),
  latency_ms: z.number(),
});

export interface PredictRouteOptions {
  service: PredictService;
  topK: number;
  maxItems: number;
  /** limits.bodyBytes: for multipart, the total of the files. */
  maxBytes: number;
  /** The model `POST /predict` uses: the one named, else the workspace's only model. */
  defaultModel: () => Promise<string>;
  /** Checks the request's API key (throwing 401/403); runs in onRequest, before the rate limit. */
  authenticate: (request: FastifyRequest) => Promise<ApiKey | undefined>;
}

/** The client's images, whatever form they came in; `many` when the request is a batch. */
async function inputsOf(
  request: FastifyRequest,
  maxItems: number,
  maxBytes: number,
): Promise<{ inputs: ClientInput[]; many: boolean }> {
  if (request.isMultipart()) {
    const inputs: ClientInput[] = [];
    // Multipart bodies bypass Fastify's bodyLimit, and the plugin limits each file on its own:
    // without a total, one request could buffer batchItems × bodyBytes.
    let total = 0;
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        total += bytes.length;
        if (total > maxBytes)
          throw new LoupeError(
            'TOO_LARGE',
            `the request body is larger than the server accepts: its files total more than ${maxBytes} bytes`,
          );
        inputs.push({ bytes });
      } else if (part.fieldname === 'url') inputs.push({ url: String(part.value) });
      else if (part.fieldname === 'image_base64') inputs.push({ image_base64: String(part.value) });
    }
    if (inputs.length > maxItems) throw new LoupeError('TOO_LARGE', `at most ${maxItems} images per request`);
    return { inputs, many: inputs.length > 1 };
  }
  const body = request.body;
  if (Buffer.isBuffer(body)) return { inputs: [{ bytes: body }], many: false };
  const query = request.query as { url?: string };
  if (body === undefined || body === null) {
    if (query.url) return { inputs: [{ url: query.url }], many: false };
    throw new LoupeError(
      'INVALID_ARGUMENT',
      'no image in the request: upload a file, or send {"url": …} or {"image_base64": …}',
    );
  }
  const parsed = predictBody.parse(body);
  if ('instances' in parsed) {
    if (parsed.instances.length > maxItems)
      throw new LoupeError('TOO_LARGE', `at most ${maxItems} images per request`);
    return { inputs: parsed.instances, many: true };
  }
  return { inputs: [parsed], many: false };
}

function firstOrThrow(results: ItemOutcome[]) {
  const only = results[0]!;
  if ('error' in only) throw only.error;
  return only.predictions;
}

export function registerPredictRoutes(app: FastifyInstance, o: PredictRouteOptions): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  // Keys are checked before the body is read, and before the per-key rate limit (a preHandler)
  // looks the request's key up: checked in the handler, every request would pass the limit as
  // anonymous.
  const keys = new WeakMap<FastifyRequest, ApiKey>();
  const authenticate = async (request: FastifyRequest) => {
    const key = await o.authenticate(request);
    if (key) keys.set(request, key);
  };
  const run = async (request: FastifyRequest, model: string) => {
    const key = keys.get(request);
    const started = performance.now();
    const { inputs, many } = await inputsOf(request, o.maxItems, o.maxBytes);
    const topK = (request.query as { top_k?: number }).top_k ?? o.topK;
    const out = await o.service.predict(model, inputs, {
      topK,
      requestId: String(request.id),
      ...(key ? { caller: key.id } : {}),
    });
    return { out, many, latency: performance.now() - started };
  };

  typed.post(
    '/v1/models/:model/predict',
    {
      schema: {
        summary: 'Classify one image or a batch',
        description:
          'The model is `name` (its champion, else its latest version), `name@3` or `name:alias`. Send multipart/form-data with one or more image files, raw image bytes with an image/* content type, or JSON `{"url": …}`, `{"image_base64": …}` or `{"instances": [ … ]}`. One image gets `predictions`; several get `results`, one per image, each `predictions` or an `error`.',
        tags: ['predict'],
        consumes: [
          'application/json',
          'multipart/form-data',
          'image/jpeg',
          'image/png',
          'application/octet-stream',
        ],
        params: z.object({ model: z.string().describe('name, name@version or name:alias') }),
        querystring: topKQuery,
        body: predictBody.optional(),
        response: { 200: z.union([single, batch]), '4xx': problem, '5xx': problem },
      },
      onRequest: authenticate,
    },
    async (request) => {
      const { out, many, latency } = await run(request, request.params.model);
      if (!many) return { model: out.model, predictions: firstOrThrow(out.results), latency_ms: latency };
      return {
        model: out.model,
        results: out.results.map((r) => ('error' in r ? { error: problemOf(r.error, request) } : r)),
        latency_ms: latency,
      };
    },
  );

  typed.post(
    '/predict',
    {
      schema: {
        summary: 'Classify one image with the default model (the plain form)',
        description:
          'Upload a file (multipart/form-data), send raw image bytes, pass `?url=`, or JSON `{"url": …}` / `{"image_base64": …}`. Answers the top label and its probability.',
        tags: ['predict'],
        consumes: [
          'multipart/form-data',
          'application/json',
          'image/jpeg',
          'image/png',
          'application/octet-stream',
        ],
        querystring: topKQuery.extend({ url: z.string().optional() }),
        body: predictBody.optional(),
        response: { 200: plain, '4xx': problem, '5xx': problem },
      },
      onRequest: authenticate,
    },
    async (request) => {
      const { out, many, latency } = await run(request, await o.defaultModel());
      if (many)
        throw new LoupeError(
          'INVALID_ARGUMENT',
          '/predict takes one image; send batches to /v1/models/{name}/predict',
        );
      const predictions = firstOrThrow(out.results);
      return {
        label: predictions[0]!.label,
        probability: predictions[0]!.probability,
        predictions,
        model: out.model,
        latency_ms: latency,
      };
    },
  );
}

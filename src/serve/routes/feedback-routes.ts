import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import {
  recordPredictionVerdict,
  type PredictionVerdict,
} from '../../monitor/feedback/prediction-feedback.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import type { ApiKey } from '../api-keys.js';
import { decodeImageBase64 } from '../predict-service.js';
import { problem } from './predict-routes.js';

const feedbackBody = z
  .object({
    request_id: z.string().min(1).optional().describe('the X-Request-Id of the prediction request'),
    prediction_id: z.coerce.number().int().positive().optional().describe('the prediction’s id in the log'),
    label: z.string().min(1).describe('the right class'),
    action: z
      .enum(['accept', 'correct'])
      .optional()
      .describe('default: accept when label is what was predicted, correct otherwise'),
    image_base64: z
      .string()
      .optional()
      .describe('the image, when the server did not keep inputs (or to pick one image of a batch request)'),
    note: z.string().max(2000).optional(),
  })
  .strict();

const recorded = z.object({
  feedback_id: z.number(),
  model: z.string().describe('the version that made the prediction, name@version'),
  prediction_id: z.number(),
  request_id: z.string(),
  action: z.enum(['accept', 'correct']),
  label: z.string(),
  predicted: z.string(),
  confidence: z.number(),
});

export interface FeedbackRouteOptions {
  db: Database;
  blobs: BlobStore;
  /** limits.bodyBytes: the most a multipart image may be. */
  maxBytes: number;
  /** Writes what the prediction log still queues, so a verdict right after its prediction finds it. */
  flushLog: () => Promise<void>;
  /** Checks the API key for the "feedback" scope (throwing 401/403); runs in onRequest. */
  authenticate: (request: FastifyRequest) => Promise<ApiKey | undefined>;
}

/** The fields of a multipart form (the image as its file part), as the JSON body has them. */
async function fromMultipart(request: FastifyRequest, maxBytes: number): Promise<Record<string, unknown>> {
  const fields: Record<string, unknown> = {};
  let image: Uint8Array | undefined;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      if (image) throw new LoupeError('INVALID_ARGUMENT', 'send one image with a verdict');
      image = await part.toBuffer();
      if (image.length > maxBytes)
        throw new LoupeError('TOO_LARGE', `the image is larger than the server accepts (${maxBytes} bytes)`);
    } else fields[part.fieldname] = String(part.value);
  }
  return { ...fields, ...(image ? { image } : {}) };
}

function verdictOf(raw: Record<string, unknown>, actor: string): PredictionVerdict {
  const { image, ...rest } = raw;
  const parsed = feedbackBody.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `invalid feedback (${where}${issue.message}): send {"request_id" or "prediction_id", "label", "action"?, "image_base64"?}`,
    );
  }
  const b = parsed.data;
  const bytes =
    image instanceof Uint8Array ? image : b.image_base64 ? decodeImageBase64(b.image_base64) : undefined;
  return {
    ...(b.prediction_id !== undefined ? { predictionId: b.prediction_id } : {}),
    ...(b.request_id !== undefined ? { requestId: b.request_id } : {}),
    label: b.label,
    ...(b.action ? { action: b.action } : {}),
    ...(bytes ? { image: bytes } : {}),
    ...(b.note ? { note: b.note } : {}),
    actor,
  };
}

/** `POST /v1/feedback`: applications report whether a prediction was right, and the right class if not. */
export function registerFeedbackRoutes(app: FastifyInstance, o: FeedbackRouteOptions): void {
  const keys = new WeakMap<FastifyRequest, ApiKey>();
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/feedback',
    {
      schema: {
        summary: 'Report whether a prediction was right (and the right class if not)',
        description:
          'Names the prediction by `request_id` (the X-Request-Id of the prediction request) or `prediction_id`, and gives the right `label`. The decision keeps the prediction’s provenance and goes into the next dataset version at the next `loupe retrain`. When the server did not keep the input (serve.predictionLog.storeInputs off), send the image too, as `image_base64` or as the file of a multipart/form-data request with the same fields; its SHA-256 must be that of the image predicted on. Needs the `feedback` scope when keys are used.',
        tags: ['feedback'],
        consumes: ['application/json', 'multipart/form-data'],
        body: feedbackBody.optional(),
        response: { 201: recorded, '4xx': problem, '5xx': problem },
      },
      // Validation errors are turned into a message about this route's body, not the predict routes'.
      attachValidation: true,
      onRequest: async (request) => {
        const key = await o.authenticate(request);
        if (key) keys.set(request, key);
      },
    },
    async (request, reply) => {
      const actor = keys.get(request)?.id ?? 'anonymous';
      const body = request.body as unknown;
      if (!request.isMultipart() && (typeof body !== 'object' || body === null || Buffer.isBuffer(body)))
        throw new LoupeError(
          'INVALID_ARGUMENT',
          'send the verdict as JSON, or as multipart/form-data with the image as its file and the fields beside it',
        );
      const raw = request.isMultipart()
        ? await fromMultipart(request, o.maxBytes)
        : (body as Record<string, unknown>);
      const r = await recordPredictionVerdict({ db: o.db, blobs: o.blobs }, verdictOf(raw, actor), {
        flushLog: o.flushLog,
      });
      return reply.code(201).send({
        feedback_id: r.id,
        model: `${r.model}@${r.version}`,
        prediction_id: r.predictionId,
        request_id: r.requestId,
        action: r.action,
        label: r.label,
        predicted: r.predicted,
        confidence: r.confidence,
      });
    },
  );
}

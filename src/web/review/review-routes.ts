import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import { requireRole } from '../accounts/require-role.js';
import { previewQuery, sendPreview } from '../organiser/image-preview.js';
import { knownLabels } from '../organiser/model-labels.js';
import { organiserFor } from '../organiser/organiser-routes.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { decide, undo } from './review-decisions.js';
import { REVIEW_ORDERS, isReviewInput, reviewQueue } from './review-queue.js';
import { itemView, type DecisionView, type ReviewQueueView } from './review-view.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const annotator = { preHandler: requireRole('annotator'), schema: { hide: true } };

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex');
const queueQuery = z.object({
  order: z.enum(REVIEW_ORDERS).default('margin'),
  model: z.string().min(1).optional(),
  predicted: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});
const judged = { input_hash: hash, model: z.string().min(1).optional() };
const decisionBody = z.discriminatedUnion('action', [
  z.object({ ...judged, action: z.literal('accept') }),
  z.object({ ...judged, action: z.literal('skip') }),
  z.object({ ...judged, action: z.literal('correct'), label: z.string().min(1).max(500) }),
]);

/**
 * The review queue's API: the inputs the model is least sure of, a person's decision about each
 * (accept, correct, skip) recorded as feedback with its provenance, and undo.
 */
export async function registerReviewRoutes(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const { db, blobs } = deps.ws;
  const organiser = await organiserFor(deps);

  app.get('/api/review/queue', viewer, async (request): Promise<ReviewQueueView> => {
    const q = parseInput(queueQuery, request.query, 'query');
    const { total, items } = await reviewQueue(db, { ...q, actor: request.user!.email });
    const models = [...new Set(items.map((i) => i.model))];
    const labels = Object.fromEntries(
      await Promise.all(models.map(async (m) => [m, await knownLabels(db, m)])),
    );
    return { total, order: q.order, items: items.map(itemView), labels };
  });

  app.get('/api/review/items/:hash/image', viewer, async (request, reply) => {
    const params = parseInput(z.object({ hash }), request.params, 'input');
    const { size } = parseInput(previewQuery(640), request.query, 'query');
    if (!(await isReviewInput(db, params.hash)))
      throw new LoupeError('NOT_FOUND', `no stored input ${params.hash}`);
    return sendPreview(request, reply, blobs, {
      hash: params.hash,
      size,
      maxPixels: deps.config.serve.limits.maxPixels,
    });
  });

  app.post('/api/review/decisions', annotator, async (request, reply) => {
    const body = parseInput(decisionBody, request.body, 'decision');
    const decided = await decide(db, organiser, request.user!, {
      inputHash: body.input_hash,
      ...(body.model === undefined ? {} : { model: body.model }),
      action: body.action,
      ...('label' in body ? { label: body.label } : {}),
    });
    const decision: DecisionView = {
      id: decided.feedbackId,
      at: decided.at,
      actor: decided.actor,
      action: decided.action,
      label: decided.label,
      input_hash: decided.item.inputHash,
      model: decided.item.model,
      version: decided.item.version,
      prediction_id: decided.item.predictionId,
      predicted: decided.item.predicted,
      confidence: decided.item.confidence,
    };
    return reply.code(201).send({ decision });
  });

  app.delete('/api/review/decisions/:id', annotator, async (request, reply) => {
    const { id } = parseInput(
      z.object({ id: z.coerce.number().int().positive() }),
      request.params,
      'decision id',
    );
    await undo(db, organiser, request.user!, id);
    return reply.code(204).send();
  });
}

import type { LabelProbability } from '../../inference/top-k.js';
import type { ReviewAction, ReviewItem, ReviewOrder } from './review-queue.js';

/**
 * What the review queue's API answers. The web client and the tests import these types, so the
 * server's answer and what its readers expect are one definition.
 */

/** An input waiting for a decision, as the client sees it. */
export interface ReviewItemView {
  input_hash: string;
  prediction_id: number | null;
  organised_id: number | null;
  at: string;
  model: string;
  version: number;
  request_id: string;
  predicted: string;
  confidence: number;
  top_k: LabelProbability[];
  margin: number;
  entropy: number;
  skipped_at: string | null;
  /** Where to fetch the input's picture. */
  image: string;
}

/** GET /api/review/queue */
export interface ReviewQueueView {
  /** Inputs waiting, over all pages. */
  total: number;
  order: ReviewOrder;
  items: ReviewItemView[];
  /** The classes a correction may choose, by model. */
  labels: Record<string, string[]>;
}

/** A decision as POST /api/review/decisions recorded it. */
export interface DecisionView {
  /** The feedback row's id: what DELETE /api/review/decisions/:id undoes. */
  id: number;
  at: string;
  actor: string;
  action: ReviewAction;
  label: string | null;
  input_hash: string;
  model: string;
  version: number;
  prediction_id: number | null;
  predicted: string;
  confidence: number;
}

export function itemView(item: ReviewItem): ReviewItemView {
  return {
    input_hash: item.inputHash,
    prediction_id: item.predictionId,
    organised_id: item.organisedId,
    at: item.at,
    model: item.model,
    version: item.version,
    request_id: item.requestId,
    predicted: item.predicted,
    confidence: item.confidence,
    top_k: item.topK,
    margin: item.margin,
    entropy: item.entropy,
    skipped_at: item.skippedAt,
    image: `/api/review/items/${item.inputHash}/image`,
  };
}

import type { Kysely } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import {
  recordFeedback,
  type FeedbackInput,
  type FeedbackRecord,
} from '../../monitor/feedback/feedback-store.js';
import type { Database } from '../../store/database.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { DatabaseSchema } from '../../store/schema.js';
import { checkLabel } from '../organiser/model-labels.js';
import type { Actor, Organiser } from '../organiser/organiser.js';
import { reviewQueue, type ReviewAction, type ReviewItem } from './review-queue.js';

export interface Decision {
  inputHash: string;
  /** Which model's prediction is judged, when several models predicted the input. */
  model?: string;
  action: ReviewAction;
  /** The class chosen, for `correct`. */
  label?: string;
}

/** A decision made from the queue, as recorded. */
export interface Decided {
  feedbackId: number;
  at: string;
  actor: string;
  action: ReviewAction;
  label: string | null;
  item: ReviewItem;
}

async function itemOf(db: Database, d: Decision, actor: string): Promise<ReviewItem> {
  const { inputHash, model } = d;
  const { items } = await reviewQueue(db, {
    order: 'margin',
    actor,
    inputHash,
    ...(model === undefined ? {} : { model }),
    limit: 1,
    offset: 0,
  });
  if (!items[0]) throw new LoupeError('NOT_FOUND', `no stored input ${inputHash} to review`);
  return items[0];
}

/** Refuses a decision about an input someone has decided already (skips aside). */
async function checkUndecided(db: Kysely<DatabaseSchema>, inputHash: string): Promise<void> {
  const earlier = await db
    .selectFrom('feedback')
    .select(['actor', 'action', 'label', 'at'])
    .where('input_hash', '=', inputHash)
    .where('action', '!=', 'skip')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (earlier)
    throw new LoupeError(
      'CONFLICT',
      `${earlier.actor} decided this input already (${earlier.action}${earlier.label ? ` as ${JSON.stringify(earlier.label)}` : ''} at ${earlier.at})`,
    );
}

/**
 * Records a decision from the review queue as feedback with the provenance of the prediction
 * judged. Accepting takes the predicted class; a correction must name a class of the model. When
 * the input is an organised image, its label and class folder follow the decision.
 */
export async function decide(
  db: Database,
  organiser: Organiser,
  actor: Actor,
  d: Decision,
): Promise<Decided> {
  const item = await itemOf(db, d, actor.email);
  let action: ReviewAction = d.action;
  let label: string | null = null;
  if (action === 'correct') {
    if (!d.label) throw new LoupeError('INVALID_ARGUMENT', 'a correction needs the class it corrects to');
    await checkLabel(db, [item.model], d.label);
    label = d.label;
    if (label === item.predicted) action = 'accept';
  } else if (action === 'accept') label = item.predicted;
  const feedback: FeedbackInput = {
    actor: actor.email,
    channel: 'review',
    action,
    model: item.model,
    version: item.version,
    predictionId: item.predictionId,
    requestId: item.requestId,
    inputHash: item.inputHash,
    inputBlob: item.blob,
    media: 'image',
    predicted: item.predicted,
    confidence: item.confidence,
    label,
  };
  const record = async (trx: Kysely<DatabaseSchema>) => {
    if (action !== 'skip') await checkUndecided(trx, item.inputHash);
    return recordFeedback(trx, feedback);
  };
  const feedbackId =
    item.organisedId !== null && label !== null
      ? (await organiser.applyLabel(item.organisedId, { label, corrected: true }, async () => record)).result
      : await immediateTransaction(db, record);
  const row = await db
    .selectFrom('feedback')
    .select('at')
    .where('id', '=', feedbackId)
    .executeTakeFirstOrThrow();
  return { feedbackId, at: row.at, actor: actor.email, action, label, item };
}

/**
 * Takes back one of the user's own review decisions (the queue's undo): the feedback row is
 * removed, as a decision withdrawn within moments is a slip, not history, and an organised image
 * goes back to its predicted class. Refused once a dataset version has taken the decision, or once
 * someone decided about the input again after it.
 */
export async function undo(
  db: Database,
  organiser: Organiser,
  actor: Actor,
  feedbackId: number,
): Promise<FeedbackRecord['id']> {
  const row = await db.selectFrom('feedback').selectAll().where('id', '=', feedbackId).executeTakeFirst();
  if (!row || row.channel !== 'review' || row.actor !== actor.email)
    throw new LoupeError('NOT_FOUND', `no review decision ${feedbackId} of yours`);
  if (row.dataset_version !== null)
    throw new LoupeError(
      'CONFLICT',
      `decision ${feedbackId} is in dataset version ${row.dataset_version} already`,
    );
  const withdraw = async (trx: Kysely<DatabaseSchema>) => {
    const later = await trx
      .selectFrom('feedback')
      .select('actor')
      .where('input_hash', '=', row.input_hash)
      .where('id', '>', feedbackId)
      .where('action', '!=', 'skip')
      .executeTakeFirst();
    if (later) throw new LoupeError('CONFLICT', `${later.actor} decided about this input after you`);
    // The feedback store keeps history and has no delete; a slip taken back is the one exception.
    await trx.deleteFrom('feedback').where('id', '=', feedbackId).execute();
    return feedbackId;
  };
  const organised =
    row.label === null
      ? undefined
      : await db
          .selectFrom('organised_images')
          .select(['id', 'predicted'])
          .where('blob_hash', '=', row.input_hash)
          .executeTakeFirst();
  if (!organised) return immediateTransaction(db, withdraw);
  return (
    await organiser.applyLabel(
      organised.id,
      { label: organised.predicted, corrected: false },
      async () => withdraw,
    )
  ).result;
}

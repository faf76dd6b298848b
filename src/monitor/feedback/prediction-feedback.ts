import { LoupeError } from '../../errors/loupe-error.js';
import { sha256, type BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import type { FeedbackChannel, PredictionsTable } from '../../store/schema.js';
import { recordFeedback } from './feedback-store.js';

/** A client's verdict on one served prediction. */
export interface PredictionVerdict {
  /** Which prediction: its id in the log, or the request that made it. */
  predictionId?: number;
  requestId?: string;
  label: string;
  /** Default: accept when the label is what was predicted, correct otherwise. */
  action?: 'accept' | 'correct';
  /** The input itself, for when the server did not keep it (or to say which image of a batch). */
  image?: Uint8Array;
  note?: string;
  actor: string;
  channel?: FeedbackChannel;
}

export interface RecordedVerdict {
  id: number;
  model: string;
  version: number;
  predictionId: number;
  requestId: string;
  action: 'accept' | 'correct';
  label: string;
  predicted: string;
  confidence: number;
  inputHash: string;
}

type Prediction = Pick<
  PredictionsTable,
  'model' | 'version' | 'input_hash' | 'input_blob' | 'predicted' | 'confidence' | 'request_id'
> & { id: number };

async function predictionsOf(db: Database, v: PredictionVerdict): Promise<Prediction[]> {
  const q = db
    .selectFrom('predictions')
    .select(['id', 'model', 'version', 'input_hash', 'input_blob', 'predicted', 'confidence', 'request_id']);
  if (v.predictionId !== undefined) return q.where('id', '=', v.predictionId).execute();
  return q.where('request_id', '=', v.requestId!).orderBy('id').execute();
}

/** The one prediction the verdict is about; a batch request's is told apart by the image sent. */
function pick(rows: Prediction[], v: PredictionVerdict, imageHash: string | undefined): Prediction {
  const which =
    v.predictionId !== undefined ? `prediction ${v.predictionId}` : `request ${JSON.stringify(v.requestId)}`;
  if (!rows.length)
    throw new LoupeError(
      'NOT_FOUND',
      `no ${which} in the prediction log (it may have been sampled out by serve.predictionLog.sample, or pruned)`,
    );
  if (rows.length === 1) return rows[0]!;
  const matching = imageHash ? rows.filter((r) => r.input_hash === imageHash) : [];
  if (matching.length) return matching[0]!;
  throw new LoupeError(
    'INVALID_ARGUMENT',
    imageHash
      ? `none of the ${rows.length} images of ${which} is the image sent`
      : `${which} classified ${rows.length} images; say which with prediction_id (${rows.map((r) => r.id).join(', ')}) or send the image`,
  );
}

/**
 * Records a client's verdict on a served prediction as feedback, with the prediction's
 * provenance (model, version, what it predicted and how sure it was, the input's hash). The
 * label must be one of that version's classes. The decision needs the input's bytes to become a
 * dataset item: if the server did not keep them, the client sends the image, which must be the
 * one predicted on (same SHA-256), and it is stored.
 */
export async function recordPredictionVerdict(
  ws: { db: Database; blobs: BlobStore },
  v: PredictionVerdict,
  o: {
    /** Called when the prediction is not found, before giving up: writes what the log still queues. */
    flushLog?: () => Promise<void>;
  } = {},
): Promise<RecordedVerdict> {
  if (v.predictionId === undefined && v.requestId === undefined)
    throw new LoupeError('INVALID_ARGUMENT', 'say which prediction: request_id or prediction_id');
  const imageHash = v.image ? sha256(v.image) : undefined;
  let rows = await predictionsOf(ws.db, v);
  if (!rows.length && o.flushLog) {
    // The log writes in the background; a verdict right after the prediction can beat it.
    await o.flushLog();
    rows = await predictionsOf(ws.db, v);
  }
  const p = pick(rows, v, imageHash);
  const row = await ws.db
    .selectFrom('model_versions')
    .select('classes')
    .where('model', '=', p.model)
    .where('version', '=', p.version)
    .executeTakeFirst();
  const classes = row ? (JSON.parse(row.classes) as string[]) : [];
  const ref = `${p.model}@${p.version}`;
  if (!classes.includes(v.label))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `"${v.label}" is not a class of ${ref}; its classes: ${classes.join(', ')}`,
    );
  const action = v.action ?? (v.label === p.predicted ? 'accept' : 'correct');
  if (action === 'accept' && v.label !== p.predicted)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `accept says the prediction was right, but it was "${p.predicted}", not "${v.label}"; send action "correct"`,
    );
  if (action === 'correct' && v.label === p.predicted)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the prediction already was "${v.label}"; a correction names another class (or send action "accept")`,
    );
  if (imageHash && imageHash !== p.input_hash)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the image sent is not the one ${ref} classified in ${p.request_id} (its SHA-256 differs)`,
    );
  let blob = p.input_blob ?? ((await ws.blobs.has(p.input_hash)) ? p.input_hash : null);
  if (!blob && v.image) blob = await ws.blobs.put(v.image);
  if (!blob)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the server did not keep the input of this prediction (serve.predictionLog.storeInputs is off); send the image with the feedback (a multipart file or image_base64) so it can become a dataset item`,
    );
  const id = await recordFeedback(ws.db, {
    actor: v.actor,
    channel: v.channel ?? 'api',
    action,
    model: p.model,
    version: p.version,
    predictionId: p.id,
    requestId: p.request_id,
    inputHash: p.input_hash,
    inputBlob: blob,
    predicted: p.predicted,
    confidence: p.confidence,
    label: v.label,
    ...(v.note ? { note: v.note } : {}),
  });
  return {
    id,
    model: p.model,
    version: p.version,
    predictionId: p.id,
    requestId: p.request_id,
    action,
    label: v.label,
    predicted: p.predicted,
    confidence: p.confidence,
    inputHash: p.input_hash,
  };
}

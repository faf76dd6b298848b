import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';
import type { FeedbackAction, FeedbackChannel, FeedbackTable } from '../../store/schema.js';

/** One decision as a caller hands it over (see FeedbackTable for what each field means). */
export interface FeedbackInput {
  at?: Date | string;
  actor: string;
  channel: FeedbackChannel;
  action: FeedbackAction;
  model?: string | null;
  version?: number | null;
  predictionId?: number | null;
  requestId?: string | null;
  inputHash: string;
  inputBlob?: string | null;
  media?: 'image' | 'audio';
  segment?: { start: number; end: number } | null;
  predicted?: string | null;
  confidence?: number | null;
  label?: string | null;
  note?: string | null;
}

export interface FeedbackRecord {
  id: number;
  at: string;
  actor: string;
  channel: FeedbackChannel;
  action: FeedbackAction;
  model: string | null;
  version: number | null;
  predictionId: number | null;
  requestId: string | null;
  inputHash: string;
  inputBlob: string | null;
  media: 'image' | 'audio';
  segment: { start: number; end: number } | null;
  predicted: string | null;
  confidence: number | null;
  label: string | null;
  note: string | null;
  datasetVersion: string | null;
}

/** Records one decision; returns its id. Accept and correct need a label, skip and delete none. */
export async function recordFeedback(db: Database, f: FeedbackInput): Promise<number> {
  const labelled = f.action === 'accept' || f.action === 'correct';
  if (labelled && !f.label) {
    throw new LoupeError('INVALID_ARGUMENT', `feedback "${f.action}" needs a label`);
  }
  if (f.segment && !(f.segment.start >= 0 && f.segment.end > f.segment.start)) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `a segment must end after it starts (got ${f.segment.start}–${f.segment.end} s)`,
    );
  }
  const at = f.at === undefined ? new Date() : new Date(f.at);
  const row = await db
    .insertInto('feedback')
    .values({
      at: at.toISOString(),
      actor: f.actor,
      channel: f.channel,
      action: f.action,
      model: f.model ?? null,
      version: f.version ?? null,
      prediction_id: f.predictionId ?? null,
      request_id: f.requestId ?? null,
      input_hash: f.inputHash,
      input_blob: f.inputBlob ?? null,
      media: f.media ?? 'image',
      segment_start: f.segment?.start ?? null,
      segment_end: f.segment?.end ?? null,
      predicted: f.predicted ?? null,
      confidence: f.confidence ?? null,
      label: labelled ? f.label! : null,
      note: f.note ?? null,
      dataset_version: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

type Row = Omit<FeedbackTable, 'id'> & { id: number };

function toRecord(r: Row): FeedbackRecord {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    channel: r.channel,
    action: r.action,
    model: r.model,
    version: r.version,
    predictionId: r.prediction_id,
    requestId: r.request_id,
    inputHash: r.input_hash,
    inputBlob: r.input_blob,
    media: r.media,
    segment:
      r.segment_start === null || r.segment_end === null
        ? null
        : { start: r.segment_start, end: r.segment_end },
    predicted: r.predicted,
    confidence: r.confidence,
    label: r.label,
    note: r.note,
    datasetVersion: r.dataset_version,
  };
}

/**
 * Labelled decisions no dataset version has taken yet, oldest first. When one input (or one
 * segment of it) was decided several times, only the latest decision counts, and a later delete
 * withdraws it.
 */
export async function pendingFeedback(
  db: Database,
  options: { model?: string } = {},
): Promise<FeedbackRecord[]> {
  let q = db.selectFrom('feedback').selectAll().where('dataset_version', 'is', null).orderBy('id');
  if (options.model !== undefined) q = q.where('model', '=', options.model);
  const latest = new Map<string, FeedbackRecord>();
  for (const row of await q.execute()) {
    const r = toRecord(row as Row);
    if (r.action === 'skip') continue;
    const key = `${r.inputHash}|${r.segment?.start ?? ''}|${r.segment?.end ?? ''}`;
    latest.delete(key); // re-inserted so the map keeps the order of latest decisions
    if (r.action !== 'delete') latest.set(key, r);
  }
  return [...latest.values()];
}

/** Marks decisions as taken into a dataset version, so the next retrain does not count them again. */
export async function markConsumed(
  db: Database,
  ids: readonly number[],
  datasetVersion: string,
): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    await db
      .updateTable('feedback')
      .set({ dataset_version: datasetVersion })
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
  }
}

/** Decisions, newest first, for audit pages and provenance. */
export async function listFeedback(
  db: Database,
  options: { model?: string; actor?: string; inputHash?: string; limit?: number; beforeId?: number } = {},
): Promise<FeedbackRecord[]> {
  let q = db
    .selectFrom('feedback')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(options.limit ?? 100);
  if (options.model !== undefined) q = q.where('model', '=', options.model);
  if (options.actor !== undefined) q = q.where('actor', '=', options.actor);
  if (options.inputHash !== undefined) q = q.where('input_hash', '=', options.inputHash);
  if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
  return (await q.execute()).map((r) => toRecord(r as Row));
}

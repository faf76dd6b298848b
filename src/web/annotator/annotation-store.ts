import type { Kysely, Selectable } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import { formatRef } from '../../registry/model-ref.js';
import type { Database } from '../../store/database.js';
import type {
  DatabaseSchema,
  FeedbackAction,
  RecordingsTable,
  SegmentStatus,
  SegmentsTable,
} from '../../store/schema.js';
import type { LabelProbability } from '../../inference/top-k.js';

/** A recording in the annotator, as the API shows it. */
export interface Recording {
  id: number;
  name: string;
  /** SHA-256 of the WAV bytes: the feedback rows' input hash and blob. */
  blob: string;
  bytes: number;
  duration: number;
  sampleRate: number;
  channels: number;
  model: string;
  version: number;
  /** `model@version`, the version that pre-labelled it. */
  modelRef: string;
  /** What a segment may be labelled with: the model's classes. */
  classes: string[];
  window: number;
  hop: number;
  uploadedBy: string;
  uploadedAt: string;
  /** Live segments by status. */
  counts: Record<Exclude<SegmentStatus, 'deleted'>, number>;
}

/** One entry of a segment's history: a feedback row its edits wrote. */
export interface SegmentEvent {
  feedbackId: number;
  at: string;
  actor: string;
  action: FeedbackAction;
  label: string | null;
  start: number | null;
  end: number | null;
  note: string | null;
}

export interface Segment {
  id: number;
  recordingId: number;
  start: number;
  end: number;
  label: string;
  status: SegmentStatus;
  revision: number;
  /** The model's original guess for this stretch; null when a person added the segment. */
  prediction: {
    label: string;
    probability: number;
    top: LabelProbability[];
    start: number;
    end: number;
    model: string;
  } | null;
  createdBy: string;
  createdAt: string;
  editedBy: string | null;
  editedAt: string | null;
  history: SegmentEvent[];
}

export type RecordingRow = Selectable<RecordingsTable>;
export type SegmentRow = Selectable<SegmentsTable>;
type Db = Kysely<DatabaseSchema>;

const EMPTY_COUNTS = { pending: 0, accepted: 0, corrected: 0 };

async function countsOf(db: Db, ids: number[]): Promise<Map<number, Recording['counts']>> {
  const out = new Map<number, Recording['counts']>();
  if (!ids.length) return out;
  const rows = await db
    .selectFrom('segments')
    .select((eb) => ['recording_id', 'status', eb.fn.countAll<number>().as('n')])
    .where('recording_id', 'in', ids)
    .where('status', '!=', 'deleted')
    .groupBy(['recording_id', 'status'])
    .execute();
  for (const r of rows) {
    const c = out.get(r.recording_id) ?? { ...EMPTY_COUNTS };
    c[r.status as keyof Recording['counts']] = Number(r.n);
    out.set(r.recording_id, c);
  }
  return out;
}

function toRecording(r: RecordingRow, counts: Recording['counts'] | undefined): Recording {
  return {
    id: r.id,
    name: r.name,
    blob: r.blob,
    bytes: r.bytes,
    duration: r.duration,
    sampleRate: r.sample_rate,
    channels: r.channels,
    model: r.model,
    version: r.version,
    modelRef: formatRef(r.model, r.version),
    classes: JSON.parse(r.classes) as string[],
    window: r.window,
    hop: r.hop,
    uploadedBy: r.uploaded_by,
    uploadedAt: r.uploaded_at,
    counts: counts ?? { ...EMPTY_COUNTS },
  };
}

export async function recordingRow(db: Db, id: number): Promise<RecordingRow> {
  const row = await db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new LoupeError('NOT_FOUND', `no recording ${id}`);
  return row;
}

export async function getRecording(db: Db, id: number): Promise<Recording> {
  return toRecording(await recordingRow(db, id), (await countsOf(db, [id])).get(id));
}

export async function recordingByBlob(db: Db, blob: string): Promise<Recording | undefined> {
  const row = await db.selectFrom('recordings').selectAll().where('blob', '=', blob).executeTakeFirst();
  return row && toRecording(row, (await countsOf(db, [row.id])).get(row.id));
}

/** Newest first. */
export async function listRecordings(
  db: Db,
  o: { limit?: number; beforeId?: number } = {},
): Promise<Recording[]> {
  let q = db
    .selectFrom('recordings')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(o.limit ?? 100);
  if (o.beforeId !== undefined) q = q.where('id', '<', o.beforeId);
  const rows = await q.execute();
  const counts = await countsOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toRecording(r, counts.get(r.id)));
}

export type NewRecording = Omit<RecordingsTable, 'id'>;
export type NewSegment = Omit<SegmentsTable, 'id' | 'recording_id' | 'revision'>;

/** Stores a recording and its pre-labels at once: a recording never shows up half labelled. */
export async function insertRecording(
  db: Database,
  r: NewRecording,
  segments: NewSegment[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto('recordings').values(r).returning('id').executeTakeFirstOrThrow();
    for (let i = 0; i < segments.length; i += 200)
      await trx
        .insertInto('segments')
        .values(segments.slice(i, i + 200).map((s) => ({ ...s, recording_id: id })))
        .execute();
    return id;
  });
}

/** The segments not deleted, in time order, each with its history. */
export async function liveSegments(db: Db, recordingId: number): Promise<Segment[]> {
  const rows = await db
    .selectFrom('segments')
    .selectAll()
    .where('recording_id', '=', recordingId)
    .where('status', '!=', 'deleted')
    .orderBy('start')
    .orderBy('end')
    .orderBy('id')
    .execute();
  const history = await historyOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toSegment(r, history.get(r.id) ?? []));
}

async function historyOf(db: Db, ids: number[]): Promise<Map<number, SegmentEvent[]>> {
  const out = new Map<number, SegmentEvent[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('segment_feedback as l')
      .innerJoin('feedback as f', 'f.id', 'l.feedback_id')
      .select([
        'l.segment_id',
        'f.id',
        'f.at',
        'f.actor',
        'f.action',
        'f.label',
        'f.segment_start',
        'f.segment_end',
        'f.note',
      ])
      .where('l.segment_id', 'in', ids.slice(i, i + 500))
      .orderBy('f.id')
      .execute();
    for (const r of rows) {
      const list = out.get(r.segment_id) ?? [];
      list.push({
        feedbackId: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        label: r.label,
        start: r.segment_start,
        end: r.segment_end,
        note: r.note,
      });
      out.set(r.segment_id, list);
    }
  }
  return out;
}

export function toSegment(r: SegmentRow, history: SegmentEvent[]): Segment {
  return {
    id: r.id,
    recordingId: r.recording_id,
    start: r.start,
    end: r.end,
    label: r.label,
    status: r.status,
    revision: r.revision,
    prediction:
      r.predicted_label === null
        ? null
        : {
            label: r.predicted_label,
            probability: r.predicted_probability!,
            top: JSON.parse(r.predicted_top ?? '[]') as LabelProbability[],
            start: r.predicted_start!,
            end: r.predicted_end!,
            model: formatRef(r.model!, r.version!),
          },
    createdBy: r.created_by,
    createdAt: r.created_at,
    editedBy: r.edited_by,
    editedAt: r.edited_at,
    history,
  };
}

import type { Kysely } from 'kysely';
import { roundTime } from '../../data/sources/audio/audio-items.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { recordFeedback } from '../../monitor/feedback/feedback-store.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { Database } from '../../store/database.js';
import type { DatabaseSchema, FeedbackAction, SegmentStatus } from '../../store/schema.js';
import { recordingRow, type RecordingRow, type SegmentRow } from './annotation-store.js';

/**
 * What people do to a recording's segments, each edit in one transaction with the feedback rows
 * it writes, so the segment and its provenance never disagree.
 *
 * The feedback table keeps, per recording and exact [start, end], the latest decision, and a
 * `delete` withdraws it (see pendingFeedback). So:
 * - deciding a class (accept, change it, add a segment) writes `accept` (the model's class) or
 *   `correct` (another) at the segment's bounds;
 * - moving or splitting a decided segment withdraws the decision at the old bounds (`delete`) and
 *   writes it again at the new ones; moving an undecided one writes `skip` (looked at, class not
 *   yet decided), which retraining ignores;
 * - deleting writes `delete`.
 * Every row carries the original prediction (`predicted`, `confidence`, model and version), the
 * recording's blob, the bounds, who and when, and a note saying what the edit was.
 */

type Trx = Kysely<DatabaseSchema>;

export interface EditContext {
  /** The signed-in person (their email). */
  actor: string;
  /** The revision the person saw; a different current one means someone edited since (409). */
  revision?: number;
}

export type SegmentEdit =
  | { kind: 'accept' }
  | { kind: 'update'; label?: string; start?: number; end?: number }
  | { kind: 'split'; at: number }
  | { kind: 'delete' };

const DECIDED: readonly SegmentStatus[] = ['accepted', 'corrected'];
const span = (start: number, end: number) => `${start}–${end} s`;

function checkLabel(rec: RecordingRow, label: string): string {
  const classes = JSON.parse(rec.classes) as string[];
  if (!classes.includes(label))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(label)} is not a class of ${rec.model}@${rec.version}; its classes are ${classes.join(', ')}`,
    );
  return label;
}

/** Times to the microsecond, inside the recording, start before end. */
function checkBounds(rec: RecordingRow, start: number, end: number): { start: number; end: number } {
  if (!Number.isFinite(start) || !Number.isFinite(end))
    throw new LoupeError('INVALID_ARGUMENT', 'a segment’s start and end are numbers of seconds');
  const [s, e] = [roundTime(start), roundTime(end)];
  if (s < 0 || e > rec.duration)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `a segment must lie inside the recording (0–${rec.duration} s); got ${span(s, e)}`,
    );
  if (!(s < e))
    throw new LoupeError('INVALID_ARGUMENT', `a segment must end after it starts; got ${span(s, e)}`);
  return { start: s, end: e };
}

/**
 * Two live segments of a recording never share exact bounds: feedback is keyed by them, so the
 * second one's decision would silently replace the first's.
 */
async function checkFree(trx: Trx, rec: RecordingRow, start: number, end: number, except: number[]) {
  const twin = await trx
    .selectFrom('segments')
    .select(['id', 'label'])
    .where('recording_id', '=', rec.id)
    .where('status', '!=', 'deleted')
    .where('start', '=', start)
    .where('end', '=', end)
    .where('id', 'not in', except.length ? except : [-1])
    .executeTakeFirst();
  if (twin)
    throw new LoupeError(
      'CONFLICT',
      `segment ${twin.id} (${twin.label}) already spans ${span(start, end)}; edit that one instead`,
    );
}

interface Written {
  action: FeedbackAction;
  start: number;
  end: number;
  label?: string;
  note: string;
}

/** Writes one feedback row about `seg` (its original prediction as provenance) and links it to `links`. */
async function write(
  trx: Trx,
  rec: RecordingRow,
  seg: Pick<SegmentRow, 'predicted_label' | 'predicted_probability'>,
  w: Written,
  actor: string,
  at: Date,
  links: number[],
): Promise<void> {
  const id = await recordFeedback(trx, {
    at,
    actor,
    channel: 'annotator',
    action: w.action,
    model: rec.model,
    version: rec.version,
    inputHash: rec.blob,
    inputBlob: rec.blob,
    media: 'audio',
    segment: { start: w.start, end: w.end },
    predicted: seg.predicted_label,
    confidence: seg.predicted_probability,
    label: w.label ?? null,
    note: w.note,
  });
  await trx
    .insertInto('segment_feedback')
    .values(links.map((segment_id) => ({ segment_id, feedback_id: id })))
    .execute();
}

/** A segment row a person made (a split's second half, an added segment): made and last edited by them, now. */
const madeBy = (actor: string, at: Date) => ({
  created_by: actor,
  created_at: at.toISOString(),
  edited_by: actor,
  edited_at: at.toISOString(),
});

/** `accept` when the class is the model's, `correct` when a person chose another (or there was no prediction). */
const decision = (seg: Pick<SegmentRow, 'predicted_label'>, label: string) =>
  label === seg.predicted_label
    ? { action: 'accept' as const, status: 'accepted' as const }
    : { action: 'correct' as const, status: 'corrected' as const };

async function liveSegment(trx: Trx, rec: RecordingRow, id: number, ctx: EditContext): Promise<SegmentRow> {
  const seg = await trx
    .selectFrom('segments')
    .selectAll()
    .where('id', '=', id)
    .where('recording_id', '=', rec.id)
    .executeTakeFirst();
  if (!seg || seg.status === 'deleted')
    throw new LoupeError(
      'NOT_FOUND',
      `recording ${rec.id} has no segment ${id}${seg ? ' (it was deleted)' : ''}`,
    );
  if (ctx.revision !== undefined && ctx.revision !== seg.revision)
    throw new LoupeError(
      'CONFLICT',
      `segment ${id} changed since you loaded it (${seg.edited_by ?? 'someone'} edited it at ${seg.edited_at ?? '?'}); reload the recording and try again`,
    );
  return seg;
}

/** Applies one edit to one segment of a recording. */
export async function editSegment(
  db: Database,
  recordingId: number,
  segmentId: number,
  edit: SegmentEdit,
  ctx: EditContext,
): Promise<void> {
  await immediateTransaction(db, async (trx) => {
    const rec = await recordingRow(trx, recordingId);
    const seg = await liveSegment(trx, rec, segmentId, ctx);
    const at = new Date();
    const touched = { revision: seg.revision + 1, edited_by: ctx.actor, edited_at: at.toISOString() };
    const wasDecided = DECIDED.includes(seg.status);
    const put = (w: Written, links = [seg.id]) => write(trx, rec, seg, w, ctx.actor, at, links);
    const update = (values: Partial<SegmentRow>) =>
      trx
        .updateTable('segments')
        .set({ ...values, ...touched })
        .where('id', '=', seg.id)
        .execute();

    if (edit.kind === 'accept') {
      // Accepting what is already decided changes nothing and writes nothing.
      if (wasDecided) return;
      const d = decision(seg, seg.label);
      await put({ action: d.action, start: seg.start, end: seg.end, label: seg.label, note: 'accepted' });
      await update({ status: d.status });
      return;
    }

    if (edit.kind === 'delete') {
      await put({ action: 'delete', start: seg.start, end: seg.end, note: 'deleted' });
      await update({ status: 'deleted' });
      return;
    }

    if (edit.kind === 'update') {
      const label = edit.label === undefined ? seg.label : checkLabel(rec, edit.label);
      const { start, end } = checkBounds(rec, edit.start ?? seg.start, edit.end ?? seg.end);
      const moved = start !== seg.start || end !== seg.end;
      // Choosing a class is a decision even when it is the one shown.
      const decides = edit.label !== undefined || wasDecided;
      if (!moved && (edit.label === undefined || (wasDecided && label === seg.label))) return;
      if (moved) await checkFree(trx, rec, start, end, [seg.id]);
      const note = [
        moved ? `moved from ${span(seg.start, seg.end)}` : '',
        label !== seg.label ? `class changed from ${seg.label}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      if (moved && wasDecided)
        await put({ action: 'delete', start: seg.start, end: seg.end, note: `moved to ${span(start, end)}` });
      if (decides) {
        const d = decision(seg, label);
        await put({ action: d.action, start, end, label, note: note || 'class chosen' });
        await update({ start, end, label, status: d.status });
      } else {
        await put({ action: 'skip', start, end, note: `${note}; class not reviewed yet` });
        await update({ start, end });
      }
      return;
    }

    const cut = roundTime(edit.at);
    if (!(Number.isFinite(edit.at) && cut > seg.start && cut < seg.end))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `a split point must lie strictly inside the segment (${span(seg.start, seg.end)}); got ${edit.at} s`,
      );
    await checkFree(trx, rec, seg.start, cut, [seg.id]);
    await checkFree(trx, rec, cut, seg.end, [seg.id]);
    const { id: _id, recording_id: _r, revision: _v, ...copied } = seg;
    const { id: second } = await trx
      .insertInto('segments')
      .values({
        ...copied,
        recording_id: rec.id,
        start: cut,
        ...madeBy(ctx.actor, at),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const note = `split from ${span(seg.start, seg.end)} at ${cut} s`;
    const halves: [number, number, number][] = [
      [seg.id, seg.start, cut],
      [second, cut, seg.end],
    ];
    if (wasDecided)
      await put({ action: 'delete', start: seg.start, end: seg.end, note: `split at ${cut} s` }, [
        seg.id,
        second,
      ]);
    for (const [id, start, end] of halves)
      await put(
        wasDecided
          ? { action: decision(seg, seg.label).action, start, end, label: seg.label, note }
          : { action: 'skip', start, end, note: `${note}; class not reviewed yet` },
        [id],
      );
    await update({ end: cut });
  });
}

/** A segment a person adds (an event the model missed): its class is their decision. */
export async function addSegment(
  db: Database,
  recordingId: number,
  s: { start: number; end: number; label: string },
  ctx: EditContext,
): Promise<number> {
  return immediateTransaction(db, async (trx) => {
    const rec = await recordingRow(trx, recordingId);
    const label = checkLabel(rec, s.label);
    const { start, end } = checkBounds(rec, s.start, s.end);
    await checkFree(trx, rec, start, end, []);
    const at = new Date();
    const unpredicted = { predicted_label: null, predicted_probability: null };
    const { id } = await trx
      .insertInto('segments')
      .values({
        recording_id: rec.id,
        start,
        end,
        label,
        status: 'corrected',
        ...unpredicted,
        predicted_top: null,
        predicted_start: null,
        predicted_end: null,
        model: null,
        version: null,
        ...madeBy(ctx.actor, at),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const w: Written = { action: 'correct', start, end, label, note: 'added' };
    await write(trx, rec, unpredicted, w, ctx.actor, at, [id]);
    return id;
  });
}

/** Accepts every segment still pending as the model labelled it; returns how many. */
export async function acceptAll(db: Database, recordingId: number, ctx: EditContext): Promise<number> {
  return immediateTransaction(db, async (trx) => {
    const rec = await recordingRow(trx, recordingId);
    const pending = await trx
      .selectFrom('segments')
      .selectAll()
      .where('recording_id', '=', rec.id)
      .where('status', '=', 'pending')
      .orderBy('start')
      .execute();
    const at = new Date();
    for (const seg of pending) {
      const d = decision(seg, seg.label);
      await write(
        trx,
        rec,
        seg,
        { action: d.action, start: seg.start, end: seg.end, label: seg.label, note: 'accepted (accept all)' },
        ctx.actor,
        at,
        [seg.id],
      );
      await trx
        .updateTable('segments')
        .set({
          status: d.status,
          revision: seg.revision + 1,
          edited_by: ctx.actor,
          edited_at: at.toISOString(),
        })
        .where('id', '=', seg.id)
        .execute();
    }
    return pending.length;
  });
}

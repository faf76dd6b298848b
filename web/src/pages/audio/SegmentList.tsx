import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { classColour, formatTime, formatWhen, type Segment } from './annotator-api';
import { SecondsInput } from './SecondsInput';

export interface SegmentActions {
  select: (s: Segment) => void;
  play: (s: Segment) => void;
  relabel: (s: Segment, label: string) => void;
  accept: (s: Segment) => void;
  move: (s: Segment, start: number, end: number) => void;
  split: (s: Segment) => void;
  remove: (s: Segment) => void;
}

const STATUS_TEXT = {
  pending: 'to review',
  accepted: 'accepted',
  corrected: 'corrected',
  deleted: 'deleted',
} as const;
const percent = (p: number) => `${Math.round(p * 100)}%`;

/** Where a segment came from and what became of it: the model's guess beside the current state. */
function Provenance({ s }: { s: Segment }) {
  const p = s.prediction;
  return (
    <div className="provenance">
      {p ? (
        <p>
          <span className="muted">Model:</span> {p.label} {percent(p.probability)}
          {p.top.length > 1 && (
            <span className="muted">
              {' '}
              (then{' '}
              {p.top
                .slice(1)
                .map((t) => `${t.label} ${percent(t.probability)}`)
                .join(', ')}
              )
            </span>
          )}{' '}
          at {formatTime(p.start)}–{formatTime(p.end)}, by {p.model}
        </p>
      ) : (
        <p>
          <span className="muted">Added by</span> {s.createdBy} on {formatWhen(s.createdAt)}; the model had no
          segment here
        </p>
      )}
      {s.editedBy && s.editedAt && (
        <p>
          <span className="muted">Last edit:</span> {s.editedBy}, {formatWhen(s.editedAt)}
        </p>
      )}
      {s.history.length > 0 && (
        <details>
          <summary>History ({s.history.length})</summary>
          <ol className="history">
            {s.history.map((h) => (
              <li key={h.feedbackId}>
                {formatWhen(h.at)} · {h.actor} · <strong>{h.action}</strong>
                {h.label && ` ${h.label}`}
                {h.start !== null && h.end !== null && ` at ${formatTime(h.start)}–${formatTime(h.end)}`}
                {h.note && <span className="muted"> ({h.note})</span>}
              </li>
            ))}
          </ol>
        </details>
      )}
    </div>
  );
}

/** Start and end typed in: the keyboard's way to move boundaries. */
function TimesForm({
  s,
  n,
  duration,
  onMove,
}: {
  s: Segment;
  n: number;
  duration: number;
  onMove: SegmentActions['move'];
}) {
  const [start, setStart] = useState(String(s.start));
  const [end, setEnd] = useState(String(s.end));
  useEffect(() => {
    setStart(String(s.start));
    setEnd(String(s.end));
  }, [s.start, s.end]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onMove(s, Number(start), Number(end));
  };
  return (
    <form className="times" onSubmit={submit}>
      <SecondsInput label="Start (s)" value={start} max={duration} onChange={setStart} />
      <SecondsInput label="End (s)" value={end} max={duration} onChange={setEnd} />
      <button type="submit" className="secondary" aria-label={`Save the times of segment ${n}`}>
        Save times
      </button>
    </form>
  );
}

function SegmentItem(props: {
  s: Segment;
  n: number;
  classes: string[];
  duration: number;
  selected: boolean;
  editable: boolean;
  actions: SegmentActions;
}) {
  const { s, n, classes, selected, editable, actions } = props;
  const item = useRef<HTMLLIElement>(null);
  const selectId = useId();
  useEffect(() => {
    if (selected) item.current?.scrollIntoView({ block: 'nearest' });
  }, [selected]);
  return (
    <li
      ref={item}
      className={`segment status-${s.status}${selected ? ' selected' : ''}`}
      aria-current={selected ? 'true' : undefined}
      aria-label={`Segment ${n}: ${s.label}, ${formatTime(s.start)} to ${formatTime(s.end)}, ${STATUS_TEXT[s.status]}`}
    >
      <div className="segment-head">
        <span className="swatch" style={{ background: classColour(classes, s.label) }} aria-hidden="true" />
        <button type="button" className="link" onClick={() => actions.select(s)}>
          Segment {n}: {formatTime(s.start)}–{formatTime(s.end)}
        </button>
        <span className={`status-badge ${s.status}`}>{STATUS_TEXT[s.status]}</span>
      </div>
      <div className="segment-controls">
        <label htmlFor={selectId}>Class</label>
        <select
          id={selectId}
          aria-label={`Class of segment ${n}`}
          value={s.label}
          disabled={!editable}
          onChange={(e) => actions.relabel(s, e.target.value)}
        >
          {classes.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="secondary"
          onClick={() => actions.play(s)}
          aria-label={`Play segment ${n}`}
        >
          Play
        </button>
        {editable && (
          <>
            <button
              type="button"
              onClick={() => actions.accept(s)}
              disabled={s.status !== 'pending'}
              aria-label={`Accept segment ${n}`}
            >
              Accept
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => actions.split(s)}
              aria-label={`Split segment ${n} at the playhead`}
            >
              Split
            </button>
            <button
              type="button"
              className="secondary danger"
              onClick={() => actions.remove(s)}
              aria-label={`Delete segment ${n}`}
            >
              Delete
            </button>
          </>
        )}
      </div>
      {editable && (
        <details className="edit-times">
          <summary>Edit times</summary>
          <TimesForm s={s} n={n} duration={props.duration} onMove={actions.move} />
        </details>
      )}
      <Provenance s={s} />
    </li>
  );
}

/** Every segment with its controls and provenance: the whole annotator, operable without a mouse. */
export function SegmentList(props: {
  segments: Segment[];
  classes: string[];
  duration: number;
  selectedId: number | null;
  editable: boolean;
  actions: SegmentActions;
}) {
  return (
    <ol className="segment-list">
      {props.segments.map((s, i) => (
        <SegmentItem
          key={s.id}
          s={s}
          n={i + 1}
          classes={props.classes}
          duration={props.duration}
          selected={s.id === props.selectedId}
          editable={props.editable}
          actions={props.actions}
        />
      ))}
    </ol>
  );
}

import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useParams } from 'react-router-dom';
import { ErrorAlert } from '../../components/ErrorAlert';
import { usePageTitle } from '../../components/usePageTitle';
import { roleAtLeast, useSession } from '../../session';
import '../../styles/audio.css';
import {
  acceptAll,
  acceptSegment,
  addSegment,
  changeSegment,
  deleteSegment,
  formatTime,
  formatWhen,
  getRecording,
  recordingUrls,
  splitSegment,
  type Detail,
  type Segment,
} from './annotator-api';
import { SecondsInput } from './SecondsInput';
import { SegmentList, type SegmentActions } from './SegmentList';
import { SHORTCUTS, shortcutFor } from './shortcuts';
import { WaveformView, type WaveformHandle } from './WaveformView';

const ZOOM = { min: 20, max: 400, step: 20, initial: 100 };

/** A segment the model missed, typed in: from the playhead, one model window long by default. */
function AddSegment(props: {
  classes: string[];
  duration: number;
  window: number;
  playhead: () => number;
  onAdd: (s: { start: number; end: number; label: string }) => void;
}) {
  const id = useId();
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  const [label, setLabel] = useState(props.classes[0] ?? '');
  const fromPlayhead = () => {
    const t = props.playhead();
    setStart(t.toFixed(3));
    setEnd(Math.min(props.duration, t + props.window).toFixed(3));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onAdd({ start: Number(start), end: Number(end), label });
  };
  return (
    <form className="card add-segment" onSubmit={submit}>
      <h2>Add a segment the model missed</h2>
      <div className="times">
        <SecondsInput label="Start (s)" value={start} max={props.duration} onChange={setStart} />
        <SecondsInput label="End (s)" value={end} max={props.duration} onChange={setEnd} />
        <label htmlFor={`${id}-class`}>Class</label>
        <select id={`${id}-class`} value={label} onChange={(e) => setLabel(e.target.value)}>
          {props.classes.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </div>
      <div className="actions">
        <button type="button" className="secondary" onClick={fromPlayhead}>
          From the playhead
        </button>
        <button type="submit">Add segment</button>
      </div>
    </form>
  );
}

/**
 * One recording in the annotator: waveform and spectrogram with the segments as regions, the list
 * of segments with their controls and provenance, keyboard shortcuts, and the exports.
 */
export function AnnotatorPage() {
  const recordingId = Number(useParams().id);
  const location = useLocation();
  const { user } = useSession();
  const editable = !!user && roleAtLeast(user.role, 'annotator');
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState(
    (location.state as { created?: boolean } | null)?.created === false
      ? 'This recording was uploaded before: here it is, with the decisions made on it so far.'
      : '',
  );
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [zoom, setZoom] = useState(ZOOM.initial);
  const [playing, setPlaying] = useState(false);
  const wave = useRef<WaveformHandle>(null);
  usePageTitle(detail ? detail.recording.name : 'Recording');

  const load = useCallback(() => getRecording(recordingId).then(setDetail, setError), [recordingId]);
  useEffect(() => void load(), [load]);

  const segments = detail?.segments ?? [];
  const numberOf = (s: Segment) => segments.findIndex((x) => x.id === s.id) + 1;
  const span = (s: { start: number; end: number }) => `${formatTime(s.start)}–${formatTime(s.end)}`;

  const edits = useRef({ pending: 0, overlapped: false });
  /**
   * One edit: the server answers with the recording as it now is; on refusal, reload what it has.
   * Edits can overlap (keys pressed in quick succession) and their answers come back in any order,
   * each the recording as it was after that one edit: shown as it came, a late one would undo the
   * others on screen (and leave their segments at old revisions, so the next edit is refused). So
   * an answer is shown only when no other edit is on its way; after overlapping edits, the last
   * to finish reloads the recording instead.
   */
  const run = async <D extends Detail>(work: () => Promise<D>, done: string | ((d: D) => string)) => {
    setError(null);
    const e = edits.current;
    e.overlapped ||= e.pending > 0;
    e.pending++;
    let answer: D | null = null;
    let said = '';
    try {
      answer = await work();
      said = typeof done === 'string' ? done : done(answer);
    } catch (err) {
      setError(err);
    }
    if (--e.pending > 0) {
      if (said) setMessage(said);
      return;
    }
    if (answer && !e.overlapped) setDetail(answer);
    else {
      e.overlapped = false;
      await load();
    }
    setMessage(said);
  };

  const actions: SegmentActions = {
    select: (s) => {
      setSelectedId(s.id);
      wave.current?.seek(s.start);
    },
    play: (s) => {
      setSelectedId(s.id);
      wave.current?.playSegment(s);
    },
    relabel: (s, label) =>
      void run(() => changeSegment(s, { label }), `Segment ${numberOf(s)} is now ${label}.`),
    accept: (s) => void run(() => acceptSegment(s), `Segment ${numberOf(s)} accepted as ${s.label}.`),
    move: (s, start, end) =>
      void run(
        () => changeSegment(s, { start, end }),
        `Segment ${numberOf(s)} now spans ${span({ start, end })}.`,
      ),
    split: (s) => {
      const t = Math.round((wave.current?.currentTime() ?? 0) * 1000) / 1000;
      if (!(t > s.start && t < s.end)) {
        setError(new Error(`put the playhead inside segment ${numberOf(s)} (${span(s)}) to split it there`));
        return;
      }
      void run(() => splitSegment(s, t), `Segment ${numberOf(s)} split at ${formatTime(t)}.`);
    },
    remove: (s) => {
      if (!window.confirm(`Delete segment ${numberOf(s)} (${s.label}, ${span(s)})?`)) return;
      void run(() => deleteSegment(s), `Segment ${numberOf(s)} deleted.`);
    },
  };

  const acceptPending = () =>
    void run(
      () => acceptAll(recordingId),
      (d) => `${d.accepted} segment(s) accepted.`,
    );

  // Shortcuts read the page's latest state through this ref; the listener is set up once.
  const keys = useRef({ segments, selectedId, actions, acceptPending, editable, detail });
  keys.current = { segments, selectedId, actions, acceptPending, editable, detail };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      // Esc leaves a control, so the shortcuts work again.
      if (e.key === 'Escape' && target?.closest('.audio-page') && target !== document.body)
        return target.blur();
      // Typing, choosing and pressing buttons keep their own meaning of every key.
      if (target?.closest('input, select, textarea, button, a, summary, [contenteditable]')) return;
      const k = keys.current;
      const shortcut = shortcutFor(e, k.detail?.recording.classes.length ?? 0);
      if (!shortcut) return;
      const index = k.segments.findIndex((s) => s.id === k.selectedId);
      const selected = k.segments[index];
      e.preventDefault();
      switch (shortcut.kind) {
        case 'play-pause':
          return wave.current?.playPause();
        case 'previous':
        case 'next': {
          const next =
            k.segments[
              Math.min(k.segments.length - 1, Math.max(0, index + (shortcut.kind === 'next' ? 1 : -1)))
            ];
          if (next) k.actions.select(next);
          return;
        }
        case 'zoom-in':
          return setZoom((z) => Math.min(ZOOM.max, z + ZOOM.step));
        case 'zoom-out':
          return setZoom((z) => Math.max(ZOOM.min, z - ZOOM.step));
        case 'play-segment':
          return selected && k.actions.play(selected);
      }
      if (!k.editable) return;
      if (shortcut.kind === 'accept-all') return k.acceptPending();
      if (!selected) return;
      if (shortcut.kind === 'accept') return k.actions.accept(selected);
      if (shortcut.kind === 'split') return k.actions.split(selected);
      if (shortcut.kind === 'delete') return k.actions.remove(selected);
      if (shortcut.kind === 'class') {
        const label = k.detail!.recording.classes[shortcut.index];
        if (label && label !== selected.label) k.actions.relabel(selected, label);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (!detail)
    return (
      <section className="page audio-page">
        <h1>Recording</h1>
        <ErrorAlert error={error} />
        {!error && <p aria-live="polite">Loading…</p>}
      </section>
    );

  const r = detail.recording;
  const urls = recordingUrls(r.id);
  const pending = segments.filter((s) => s.status === 'pending').length;
  return (
    <section className="page audio-page">
      <p className="breadcrumb">
        <Link to="/audio">Audio</Link> / {r.name}
      </p>
      <h1>{r.name}</h1>
      <p className="muted">
        {formatTime(r.duration)}, {r.sampleRate} Hz, {r.channels === 1 ? 'mono' : `${r.channels} channels`} ·
        pre-labelled by {r.modelRef} in {r.window} s windows every {r.hop} s · uploaded by {r.uploadedBy},{' '}
        {formatWhen(r.uploadedAt)}
      </p>
      <div className="toolbar">
        <button type="button" onClick={() => wave.current?.playPause()} aria-keyshortcuts="Space">
          {playing ? 'Pause' : 'Play'}
        </button>
        <label className="zoom">
          Zoom
          <input
            type="range"
            min={ZOOM.min}
            max={ZOOM.max}
            step={ZOOM.step}
            value={zoom}
            aria-valuetext={`${zoom} pixels per second`}
            onChange={(e) => setZoom(Number(e.target.value))}
          />
        </label>
        {editable && (
          <button type="button" onClick={acceptPending} disabled={!pending} aria-keyshortcuts="Shift+A">
            Accept all {pending} pending
          </button>
        )}
        <a href={urls.labels} download>
          Download labels (.labels.txt)
        </a>
        <a href={urls.json} download={`${r.name.replace(/\.wav$/i, '')}.segments.json`}>
          JSON
        </a>
      </div>
      <div className="status-line" aria-live="polite">
        {message && <p className="alert success">{message}</p>}
      </div>
      <ErrorAlert error={error} />
      <WaveformView
        key={r.id}
        ref={wave}
        audioUrl={urls.audio}
        spectrogramUrl={urls.spectrogram}
        spectrogramAlt={`Log-mel spectrogram of ${r.name}, as ${r.modelRef} hears it: time left to right, pitch bottom to top`}
        duration={r.duration}
        classes={r.classes}
        segments={segments}
        selectedId={selectedId}
        zoom={zoom}
        editable={editable}
        onSelect={(id) => setSelectedId(id)}
        onBoundsChange={(id, start, end) => {
          const s = segments.find((x) => x.id === id);
          if (s) actions.move(s, Math.round(start * 1000) / 1000, Math.round(end * 1000) / 1000);
        }}
        onPlayingChange={setPlaying}
      />
      <details className="card shortcuts">
        <summary>Keyboard shortcuts</summary>
        <dl>
          {SHORTCUTS.filter((s) => editable || !s.edits).map((s) => (
            <div key={s.keys}>
              <dt>
                <kbd>{s.keys}</kbd>
              </dt>
              <dd>{s.does}</dd>
            </div>
          ))}
        </dl>
        <p className="hint">
          Shortcuts work when no field or button has the focus (press Esc, or click the waveform).
        </p>
      </details>
      <h2>
        Segments{' '}
        <span className="muted">
          ({segments.length}, {pending} to review)
        </span>
      </h2>
      <SegmentList
        segments={segments}
        classes={r.classes}
        duration={r.duration}
        selectedId={selectedId}
        editable={editable}
        actions={actions}
      />
      {editable && (
        <AddSegment
          classes={r.classes}
          duration={r.duration}
          window={r.window}
          playhead={() => wave.current?.currentTime() ?? 0}
          onAdd={(s) =>
            void run(
              () => addSegment(r.id, s),
              (d) => {
                setSelectedId(d.segmentId);
                return `Segment added: ${s.label}, ${span(s)}.`;
              },
            )
          }
        />
      )}
    </section>
  );
}

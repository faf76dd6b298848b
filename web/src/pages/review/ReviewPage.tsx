import { useCallback, useEffect, useId, useLayoutEffect, useState } from 'react';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { TopKBars } from '../../components/TopKBars';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { roleAtLeast, useSession } from '../../session';
import '../../styles/review.css';

/**
 * What the review API answers: the server's own types (src/web/review/review-view.ts), imported
 * for type-checking only, so no server code reaches the bundle.
 */
import type { ReviewOrder } from '../../../../src/web/review/review-queue.js';
import type { DecisionView, ReviewQueueView } from '../../../../src/web/review/review-view.js';

const time = (iso: string) => new Date(iso).toLocaleTimeString();

function describe(d: DecisionView): string {
  const what =
    d.action === 'skip'
      ? 'Skipped'
      : d.action === 'accept'
        ? `Accepted as ${d.label}`
        : `Corrected from ${d.predicted} to ${d.label}`;
  return `${what} by ${d.actor} at ${time(d.at)}.`;
}

/**
 * The review queue: the predictions the model is least sure of, one at a time, large, decided
 * from the keyboard — A or Enter accepts, 1–9 corrects to that class, S skips, U undoes the last
 * decision. Every decision is recorded with who made it and when, and shown.
 */
export function ReviewPage() {
  usePageTitle('Review');
  const { user } = useSession();
  const canDecide = !!user && roleAtLeast(user.role, 'annotator');
  const orderId = useId();
  const classId = useId();
  const [order, setOrder] = useState<ReviewOrder>('margin');
  const [predicted, setPredicted] = useState('');
  const [queue, setQueue] = useState<ReviewQueueView | null>(null);
  const [done, setDone] = useState<DecisionView[]>([]);
  const [last, setLast] = useState<string>('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [allLabels, setAllLabels] = useState<string[]>([]);
  // A change of filter while a decision's reload is on its way (or the reverse) must not let the
  // older queue land last.
  const nextLoad = useLatestRequest();

  const load = useCallback(async () => {
    const signal = nextLoad();
    try {
      const q = await api<ReviewQueueView>(
        `/api/review/queue?order=${order}&limit=10${predicted ? `&predicted=${encodeURIComponent(predicted)}` : ''}`,
        { signal },
      );
      setQueue(q);
      setAllLabels((known) => {
        const merged = new Set([...known, ...Object.values(q.labels).flat()]);
        return merged.size === known.length ? known : [...merged];
      });
      setError(null);
    } catch (e) {
      if (!signal.aborted) setError(e);
    }
  }, [order, predicted, nextLoad]);

  useEffect(() => {
    void load();
  }, [load]);

  const item = queue?.items[0];
  const labels = item ? (queue?.labels[item.model] ?? []) : [];

  // The next image is fetched while this one is judged, so the queue moves without waiting.
  useEffect(() => {
    const next = queue?.items[1];
    if (next) new Image().src = `${next.image}?size=640`;
  }, [queue]);

  const decide = useCallback(
    async (action: DecisionView['action'], label?: string) => {
      if (!item || busy || !canDecide) return;
      setBusy(true);
      try {
        const { decision } = await api<{ decision: DecisionView }>('/api/review/decisions', {
          json: { input_hash: item.input_hash, model: item.model, action, ...(label ? { label } : {}) },
        });
        await load();
        // Said only once the queue has moved and (in finally) the page is free again, in one
        // render: a key pressed on seeing the message must not land while the page is still busy.
        setDone((d) => [...d, decision]);
        setLast(describe(decision));
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
      }
    },
    [item, busy, canDecide, load],
  );

  const undo = useCallback(async () => {
    const previous = done.at(-1);
    if (!previous || busy) return;
    setBusy(true);
    try {
      await api(`/api/review/decisions/${previous.id}`, { method: 'DELETE' });
      await load();
      setDone((d) => d.slice(0, -1));
      setLast(`Undid: ${describe(previous)}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }, [done, busy, load]);

  // A layout effect, not a passive one: it swaps the handler in the same commit that shows the
  // new item (or frees the page), so a key pressed on seeing it reaches the handler that knows
  // it. A passive effect runs a moment later, and in between the old handler would act on the
  // previous item, or drop the key as busy.
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      // Typing in the filters (or any field) is not a decision.
      const target = e.target as HTMLElement | null;
      if (target?.closest('input, select, textarea, summary, a')) return;
      if (target?.closest('button') && (e.key === 'Enter' || e.key === ' ')) return;
      const key = e.key.toLowerCase();
      if (key === 'a' || e.key === 'Enter') void decide('accept');
      else if (key === 's') void decide('skip');
      else if (key === 'u') void undo();
      else if (/^[1-9]$/.test(key)) {
        const label = labels[Number(key) - 1];
        if (!label) return;
        void decide(label === item?.predicted ? 'accept' : 'correct', label);
      } else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [decide, undo, labels, item]);

  return (
    <section className="page review">
      <h1>Review</h1>
      <div className="review-filters">
        <div className="field">
          <label htmlFor={orderId}>Least sure by</label>
          <select id={orderId} value={order} onChange={(e) => setOrder(e.target.value as ReviewOrder)}>
            <option value="margin">margin (top two closest)</option>
            <option value="entropy">entropy (most spread out)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={classId}>Predicted class</label>
          <select id={classId} value={predicted} onChange={(e) => setPredicted(e.target.value)}>
            <option value="">any</option>
            {allLabels.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <p className="left" aria-live="polite">
          {queue ? `${queue.total} left` : ''}
        </p>
      </div>
      <ErrorAlert error={error} />
      <p className="decided" role="status">
        {last}
      </p>
      {!canDecide && (
        <p className="alert info">You can look at the queue; deciding needs the annotator role.</p>
      )}
      {queue && !item && <p className="empty">Nothing to review: every kept prediction has been decided.</p>}
      {item && (
        <div className="review-item">
          <figure>
            <img
              src={`${item.image}?size=640`}
              alt={`Input predicted as ${item.predicted}`}
              width={640}
              height={640}
            />
            <figcaption>
              {item.model}@{item.version}, {new Date(item.at).toLocaleString()}
              {item.skipped_at && ' — you skipped it before'}
            </figcaption>
          </figure>
          <div className="review-side">
            <h2>
              Predicted <span className="predicted">{item.predicted}</span>{' '}
              <span className="muted">{Math.round(item.confidence * 100)}%</span>
            </h2>
            <TopKBars topK={item.top_k} caption="The model's top guesses" />
            <p className="muted scores">
              margin {item.margin.toFixed(3)} · entropy {item.entropy.toFixed(3)}
            </p>
            <div className="review-actions" aria-label="Decide">
              <button type="button" disabled={!canDecide || busy} onClick={() => void decide('accept')}>
                Accept <kbd>A</kbd>
              </button>
              <button
                type="button"
                className="secondary"
                disabled={!canDecide || busy}
                onClick={() => void decide('skip')}
              >
                Skip <kbd>S</kbd>
              </button>
              <button
                type="button"
                className="secondary"
                disabled={!canDecide || busy || !done.length}
                onClick={() => void undo()}
              >
                Undo <kbd>U</kbd>
              </button>
            </div>
            <h3>Correct to</h3>
            <ol className="class-keys">
              {labels.map((l, i) => (
                <li key={l}>
                  <button
                    type="button"
                    className={l === item.predicted ? '' : 'secondary'}
                    disabled={!canDecide || busy}
                    aria-label={`${l === item.predicted ? 'Accept as' : 'Correct to'} ${l}${i < 9 ? ` (key ${i + 1})` : ''}`}
                    onClick={() => void decide(l === item.predicted ? 'accept' : 'correct', l)}
                  >
                    {i < 9 && <kbd>{i + 1}</kbd>} {l}
                  </button>
                </li>
              ))}
            </ol>
          </div>
        </div>
      )}
    </section>
  );
}

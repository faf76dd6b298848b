import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { duration, num, when } from '../../components/format';
import { useSession } from '../../session';
import type { Job, ProgressLine } from './job-types';

/** Output lines kept on the page, as the server keeps them. */
const TAIL = 200;

function ProgressBar({ p }: { p: ProgressLine }) {
  const rate = p.rate === null ? '' : `${num(p.rate, 3)} ${p.unit}/s`;
  const eta = p.eta === null || p.done >= p.total ? '' : `about ${duration(p.eta)} left`;
  const extra = p.fields ? Object.entries(p.fields).map(([k, v]) => `${k} ${v}`) : [];
  return (
    <div className="job-progress">
      <label>
        <span className="stage">{p.stage}</span>
        <progress max={p.total || 1} value={Math.min(p.done, p.total || 1)} />
      </label>
      <p className="muted">
        {[`${p.done.toLocaleString('en')} of ${p.total.toLocaleString('en')} ${p.unit}`, rate, eta, ...extra]
          .filter(Boolean)
          .join(' · ')}
      </p>
    </div>
  );
}

/**
 * One job, live: its progress bar with rate and ETA, and its output, as Server-Sent Events while
 * it runs; cancel (Ctrl-C for the command) while it runs, resume once it stopped.
 */
export function JobView({ id, onEnded }: { id: string; onEnded?: () => void }) {
  const { user } = useSession();
  const navigate = useNavigate();
  const [job, setJob] = useState<Job | null>(null);
  const [lines, setLines] = useState<string[]>([]);
  const [progress, setProgress] = useState<ProgressLine | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const log = useRef<HTMLPreElement>(null);
  const ended = useRef(onEnded);
  ended.current = onEnded;

  useEffect(() => {
    setJob(null);
    setLines([]);
    setProgress(null);
    const events = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
    const read = <T,>(e: Event) => JSON.parse((e as MessageEvent<string>).data) as T;
    events.addEventListener('job', (e) => {
      const j = read<Job>(e);
      setJob(j);
      setLines(j.logTail ? j.logTail.split('\n') : []);
      setProgress(j.progress);
    });
    events.addEventListener('progress', (e) => setProgress(read<ProgressLine>(e)));
    events.addEventListener('log', (e) =>
      setLines((l) => [...l, read<{ line: string }>(e).line].slice(-TAIL)),
    );
    events.addEventListener('end', (e) => {
      const j = read<Job>(e);
      setJob(j);
      setLines(j.logTail ? j.logTail.split('\n') : []);
      setProgress(j.progress);
      // The stream is over for good: without this EventSource would reconnect and replay it.
      events.close();
      ended.current?.();
    });
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED)
        setError(new Error('the live view of this job was lost; reload the page'));
    };
    return () => events.close();
  }, [id]);

  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const act = async (action: 'cancel' | 'resume') => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ job: Job }>(`/api/jobs/${id}/${action}`, { json: {} });
      if (action === 'resume') navigate(`/jobs/${r.job.id}`);
      else setJob(r.job);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (!job) return <p aria-live="polite">Loading the job…</p>;
  const mine = user && (user.email === job.startedBy || user.role === 'admin');
  const stopped = job.status === 'cancelled' || job.status === 'interrupted' || job.status === 'failed';
  return (
    <section className="job-view card" aria-labelledby="job-title">
      <h2 id="job-title">
        {job.kind} <span className="muted">{job.id}</span>{' '}
        <span className={`status status-${job.status}`} role="status">
          {job.status}
        </span>
      </h2>
      <p className="command">
        <code>loupe {job.argv.join(' ')}</code>
      </p>
      <p className="muted">
        Started {when(job.createdAt)} by {job.startedBy}
        {job.endedAt && `, ended ${when(job.endedAt)}`}
        {job.exitCode !== null && ` (exit code ${job.exitCode})`}
        {job.resumedFrom && (
          <>
            , resuming <Link to={`/jobs/${job.resumedFrom}`}>{job.resumedFrom}</Link>
          </>
        )}
      </p>
      {job.runId && (
        <p>
          Training run: <Link to={`/runs/${job.runId}`}>{job.runId}</Link>
        </p>
      )}
      {progress && <ProgressBar p={progress} />}
      <ErrorAlert error={error} />
      {mine && (
        <div className="actions">
          {job.status === 'running' && (
            <button type="button" className="secondary" disabled={busy} onClick={() => void act('cancel')}>
              Cancel
            </button>
          )}
          {stopped && job.kind !== 'tune' && (
            <button type="button" disabled={busy} onClick={() => void act('resume')}>
              Resume
            </button>
          )}
        </div>
      )}
      <h3>Output</h3>
      <pre ref={log} className="job-log" tabIndex={0} aria-label="Output of the job">
        {lines.join('\n') || '(nothing yet)'}
      </pre>
    </section>
  );
}

import { useEffect, useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { bytes, duration, num, when } from '../../components/format';
import { usePageTitle } from '../../components/usePageTitle';
import { VegaChart } from '../../components/VegaChart';
import '../../styles/runs.css';
import type { RunDetail } from './run-types';

/** Two columns, a name and its value, as the run page lists metrics and settings. */
function KeyValueTable({
  keyHeading,
  rows,
  className,
}: {
  keyHeading: string;
  rows: [string, ReactNode][];
  className?: string;
}) {
  return (
    <div className="table-scroll">
      <table className="compact settings">
        <thead>
          <tr>
            <th scope="col">{keyHeading}</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td className={className}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One run: how it went, its curves, what it was trained from, its files and what came of it. */
export function RunPage() {
  const { id = '' } = useParams();
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  usePageTitle(detail ? `Run ${detail.run.name}` : 'Run');

  useEffect(() => {
    const controller = new AbortController();
    setDetail(null);
    api<RunDetail>(`/api/runs/${encodeURIComponent(id)}`, { signal: controller.signal })
      .then(setDetail)
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, [id]);

  if (error)
    return (
      <section className="page">
        <h1>Run</h1>
        <ErrorAlert error={error} />
      </section>
    );
  if (!detail) return <p className="page">Loading…</p>;
  const { run, lineage } = detail;
  const facts: [string, ReactNode][] = [
    ['Status', <span className={`status status-${run.status}`}>{run.status}</span>],
    ['Started', when(run.started_at)],
    ['Duration', duration(run.duration_s)],
    ['Mode', `${run.mode} (${run.kind})`],
    [
      'Dataset',
      lineage.dataset
        ? `${lineage.dataset.name} @ ${lineage.dataset.id.slice(0, 12)}`
        : run.dataset_version.slice(0, 12),
    ],
    ['Backbone', run.backbone ?? '–'],
    ['Seed', String(run.seed)],
    ['Throughput', run.images_per_s === null ? '–' : `${num(run.images_per_s)} images/s`],
    ['Peak memory', run.peak_rss_mib === null ? '–' : `${Math.round(run.peak_rss_mib)} MiB`],
    [
      'Code',
      run.git_commit
        ? `${run.git_commit.slice(0, 12)}${run.git_dirty ? ' (uncommitted changes)' : ''}`
        : 'not in git',
    ],
  ];
  return (
    <section className="page run-page">
      <p className="breadcrumb">
        <Link to="/runs">Runs</Link> /
      </p>
      <h1>
        {run.name} <span className="run-id muted">{run.id}</span>
      </h1>
      {run.error && (
        <p className="alert error">
          {run.error.code}: {run.error.message}
        </p>
      )}
      <dl className="facts">
        {facts.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>

      <h2>Curves</h2>
      {detail.charts.length ? (
        <div className="charts">
          {detail.charts.map((c, i) => (
            <VegaChart key={i} spec={c} label={`${String(c.title)} per epoch`} />
          ))}
        </div>
      ) : (
        <p className="muted">No metrics were logged per epoch.</p>
      )}

      {run.summary && (
        <>
          <h2>Final metrics</h2>
          <KeyValueTable
            keyHeading="Metric"
            rows={Object.entries(run.summary).map(([k, v]) => [k, num(v)])}
            className="number"
          />
        </>
      )}

      <h2>Lineage</h2>
      <ul className="lineage">
        {lineage.parent && (
          <li>
            Fold of <Link to={`/runs/${lineage.parent.id}`}>{lineage.parent.name}</Link>
          </li>
        )}
        {lineage.study && <li>Trial of study {lineage.study.name}</li>}
        {lineage.children.map((c) => (
          <li key={c.id}>
            Fold <Link to={`/runs/${c.id}`}>{c.name}</Link> ({c.status})
          </li>
        ))}
        {lineage.models.map((m) => (
          <li key={`${m.model}@${m.version}`}>
            Registered as <Link to={`/models/${m.model}/${m.version}`}>{`${m.model}@${m.version}`}</Link>
            {m.aliases.length > 0 && ` (${m.aliases.join(', ')})`}
          </li>
        ))}
        {!lineage.parent && !lineage.study && !lineage.children.length && !lineage.models.length && (
          <li className="muted">Not registered as a model version yet.</li>
        )}
      </ul>

      <h2>Configuration</h2>
      <KeyValueTable
        keyHeading="Setting"
        rows={Object.entries(detail.settings).map(([k, v]) => [k, <code key={k}>{v}</code>])}
      />

      <h2>Artifacts</h2>
      {detail.artifacts.length ? (
        <ul className="artifacts">
          {detail.artifacts.map((a) => (
            <li key={a.name}>
              <a href={`/api/runs/${run.id}/artifacts/${encodeURIComponent(a.name)}`}>{a.name}</a>{' '}
              <span className="muted">
                {a.kind}, {bytes(a.bytes)}
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">None.</p>
      )}
    </section>
  );
}

import { useEffect, useId, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { num } from '../../components/format';
import { usePageTitle } from '../../components/usePageTitle';
import { VegaChart } from '../../components/VegaChart';
import '../../styles/runs.css';
import type { ComparedRow, RunComparison } from './run-types';

function CompareTable<T>({
  caption,
  rows,
  runs,
  show,
}: {
  caption: string;
  rows: ComparedRow<T>[];
  runs: RunComparison['runs'];
  show: (v: T | null) => string;
}) {
  return (
    <div className="table-scroll">
      <table className="compare-table">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{caption === 'Settings' ? 'Setting' : 'Metric'}</th>
            {runs.map((r) => (
              <th key={r.id} scope="col">
                {r.name}
                <div className="run-id muted">{r.id}</div>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key} className={row.differs ? 'differs' : undefined}>
              <th scope="row">
                {row.key}
                {row.differs && <span className="visually-hidden"> (differs)</span>}
              </th>
              {row.values.map((v, i) => (
                <td key={i}>{show(v)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** 2–4 runs side by side: the settings that differ highlighted, final metrics, curves overlaid. */
export function ComparePage() {
  usePageTitle('Compare runs');
  const [params] = useSearchParams();
  const ids = params.get('ids') ?? '';
  const [data, setData] = useState<RunComparison | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [onlyDiffering, setOnlyDiffering] = useState(true);
  const toggleId = useId();

  useEffect(() => {
    const controller = new AbortController();
    api<RunComparison>(`/api/runs/compare?ids=${encodeURIComponent(ids)}`, { signal: controller.signal })
      .then(setData)
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, [ids]);

  return (
    <section className="page compare-page">
      <p className="breadcrumb">
        <Link to="/runs">Runs</Link> /
      </p>
      <h1>Compare runs</h1>
      <ErrorAlert error={error} />
      {data && (
        <>
          <ul className="compared-runs">
            {data.runs.map((r) => (
              <li key={r.id}>
                <Link to={`/runs/${r.id}`}>{r.name}</Link> <span className="muted">({r.status})</span>
              </li>
            ))}
          </ul>
          <h2>Curves</h2>
          <div className="charts">
            {data.charts.map((c, i) => (
              <VegaChart key={i} spec={c} label={`${String(c.title)}, one line per run`} />
            ))}
          </div>
          <h2>What differs</h2>
          <p className="field checkbox">
            <input
              id={toggleId}
              type="checkbox"
              checked={onlyDiffering}
              onChange={(e) => setOnlyDiffering(e.target.checked)}
            />
            <label htmlFor={toggleId}>Only the settings that differ</label>
          </p>
          <CompareTable
            caption="Settings"
            rows={onlyDiffering ? data.settings.filter((s) => s.differs) : data.settings}
            runs={data.runs}
            show={(v) => v ?? '–'}
          />
          <CompareTable caption="Final metrics" rows={data.metrics} runs={data.runs} show={(v) => num(v)} />
        </>
      )}
    </section>
  );
}

import { useEffect, useId, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { duration, pct, when } from '../../components/format';
import { usePageTitle } from '../../components/usePageTitle';
import '../../styles/runs.css';
import type { RunsPage as RunsPageData } from './run-types';

const PAGE_SIZE = 25;
const MAX_COMPARED = 4;

/** Sortable columns: [sort key, heading]. */
const COLUMNS = [
  ['name', 'Run'],
  ['status', 'Status'],
  ['mode', 'Mode'],
  ['val_f1', 'Val F1'],
  ['val_accuracy', 'Val acc.'],
  ['test_accuracy', 'Test acc.'],
  ['duration', 'Duration'],
  ['started', 'Started'],
] as const;
type SortKey = (typeof COLUMNS)[number][0];

const FILTERS = ['status', 'dataset', 'mode', 'q'] as const;

function SortHeader({
  column,
  label,
  sort,
  order,
  onSort,
}: {
  column: SortKey;
  label: string;
  sort: string;
  order: 'asc' | 'desc';
  onSort: (column: SortKey) => void;
}) {
  const active = sort === column;
  return (
    <th scope="col" aria-sort={active ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" onClick={() => onSort(column)}>
        {label}
        <span aria-hidden="true" className="sort-mark">
          {active ? (order === 'asc' ? '▲' : '▼') : '↕'}
        </span>
      </button>
    </th>
  );
}

/** A filter of the runs table: "any", or one of the values the runs have. */
function FilterSelect({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string | null;
  options: readonly string[] | undefined;
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => onChange(e.target.value)}>
        <option value="">any</option>
        {options?.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </div>
  );
}

/** Every training run: sortable columns, filters, pages, and a pick of 2–4 to compare. */
export function RunsPage() {
  usePageTitle('Runs');
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const [data, setData] = useState<RunsPageData | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const searchId = useId();
  const sort = params.get('sort') ?? 'started';
  const order = (params.get('order') ?? 'desc') as 'asc' | 'desc';
  const offset = Number(params.get('offset') ?? 0);
  const [text, setText] = useState(params.get('q') ?? '');

  useEffect(() => {
    const controller = new AbortController();
    const query = new URLSearchParams({ sort, order, limit: String(PAGE_SIZE), offset: String(offset) });
    for (const f of FILTERS) {
      const v = params.get(f);
      if (v) query.set(f, v);
    }
    api<RunsPageData>(`/api/runs?${query}`, { signal: controller.signal })
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, [params, sort, order, offset]);

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!('offset' in changes)) next.delete('offset');
    setParams(next);
  };
  const onSort = (column: SortKey) =>
    update({ sort: column, order: sort === column && order === 'desc' ? 'asc' : 'desc' });
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    update({ q: text.trim() || null });
  };
  const toggle = (id: string) =>
    setSelected((s) =>
      s.includes(id) ? s.filter((x) => x !== id) : s.length < MAX_COMPARED ? [...s, id] : s,
    );

  const facets = data?.facets;
  return (
    <section className="page runs-page">
      <h1>Runs</h1>
      <form className="run-filters" role="search" aria-label="Filter runs" onSubmit={onSearch}>
        <FilterSelect
          label="Status"
          value={params.get('status')}
          options={facets?.statuses}
          onChange={(v) => update({ status: v })}
        />
        <FilterSelect
          label="Dataset"
          value={params.get('dataset')}
          options={facets?.datasets}
          onChange={(v) => update({ dataset: v })}
        />
        <FilterSelect
          label="Mode"
          value={params.get('mode')}
          options={facets?.modes}
          onChange={(v) => update({ mode: v })}
        />
        <div className="field search">
          <label htmlFor={searchId}>Name, backbone or id</label>
          <div className="search-row">
            <input id={searchId} type="search" value={text} onChange={(e) => setText(e.target.value)} />
            <button type="submit" className="secondary">
              Search
            </button>
          </div>
        </div>
      </form>
      <ErrorAlert error={error} />
      <div className="compare-bar" aria-live="polite">
        <span>
          {selected.length
            ? `${selected.length} selected for comparison`
            : `Select 2 to ${MAX_COMPARED} runs to compare them`}
        </span>
        <button
          type="button"
          disabled={selected.length < 2}
          onClick={() => navigate(`/runs/compare?ids=${selected.join(',')}`)}
        >
          Compare selected
        </button>
      </div>
      {data && (
        <>
          <div className="table-scroll">
            <table className="runs-table">
              <caption>
                {data.total === 0
                  ? 'No runs match'
                  : `Runs ${data.offset + 1}–${data.offset + data.runs.length} of ${data.total}`}
              </caption>
              <thead>
                <tr>
                  <th scope="col">
                    <span className="visually-hidden">Compare</span>
                  </th>
                  {COLUMNS.map(([column, label]) => (
                    <SortHeader
                      key={column}
                      column={column}
                      label={label}
                      sort={sort}
                      order={order}
                      onSort={onSort}
                    />
                  ))}
                  <th scope="col">Dataset</th>
                </tr>
              </thead>
              <tbody>
                {data.runs.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Compare ${r.name} (${r.id})`}
                        checked={selected.includes(r.id)}
                        disabled={!selected.includes(r.id) && selected.length >= MAX_COMPARED}
                        onChange={() => toggle(r.id)}
                      />
                    </td>
                    <th scope="row">
                      <Link to={`/runs/${r.id}`}>{r.name}</Link>
                      <div className="run-id muted">{r.id}</div>
                    </th>
                    <td>
                      <span className={`status status-${r.status}`}>{r.status}</span>
                    </td>
                    <td>{r.mode}</td>
                    <td className="number">{pct(r.summary?.['val.macro_f1'])}</td>
                    <td className="number">{pct(r.summary?.['val.accuracy'])}</td>
                    <td className="number">{pct(r.summary?.['test.accuracy'])}</td>
                    <td className="number">{duration(r.durationS)}</td>
                    <td>{when(r.startedAt)}</td>
                    <td>{r.dataset ?? r.datasetVersion.slice(0, 12)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of runs">
            <button
              type="button"
              className="secondary"
              disabled={offset === 0}
              onClick={() => update({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}
            >
              Previous
            </button>
            <button
              type="button"
              className="secondary"
              disabled={offset + PAGE_SIZE >= data.total}
              onClick={() => update({ offset: String(offset + PAGE_SIZE) })}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

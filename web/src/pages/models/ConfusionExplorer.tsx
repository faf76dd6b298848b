import { useEffect, useRef, useState } from 'react';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { pct } from '../../components/format';
import { VegaChart, type ChartSpec } from '../../components/VegaChart';
import type { CellItem, ConfusionCell } from './model-types';

const PAGE = 24;

interface Cell {
  trueLabel: string;
  predicted: string;
}

function CellPanel({ path, cell }: { path: string; cell: Cell }) {
  const [items, setItems] = useState<CellItem[]>([]);
  const [count, setCount] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  const load = async (offset: number, signal?: AbortSignal) => {
    const q = new URLSearchParams({
      true: cell.trueLabel,
      predicted: cell.predicted,
      offset: String(offset),
      limit: String(PAGE),
    });
    try {
      const page = await api<ConfusionCell>(`${path}/confusion?${q}`, signal ? { signal } : {});
      setCount(page.count);
      setItems((have) => (offset ? [...have, ...page.items] : page.items));
    } catch (e) {
      if ((e as Error).name !== 'AbortError') setError(e);
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    setItems([]);
    setCount(null);
    setError(null);
    heading.current?.focus();
    void load(0, controller.signal);
    return () => controller.abort();
    // A new cell starts over; load itself changes on every render and is not a reason to.
  }, [path, cell.trueLabel, cell.predicted]);

  const title =
    cell.trueLabel === cell.predicted
      ? `${cell.trueLabel}, predicted right`
      : `${cell.trueLabel} predicted as ${cell.predicted}`;
  return (
    <section className="cell-panel card" aria-labelledby="cell-panel-title">
      <h3 id="cell-panel-title" ref={heading} tabIndex={-1}>
        {title}
        {count !== null && (
          <span className="muted">
            {' '}
            — {count} {count === 1 ? 'item' : 'items'}
          </span>
        )}
      </h3>
      <ErrorAlert error={error} />
      {count === 0 && <p className="muted">No items in this cell.</p>}
      <ul className="cell-items">
        {items.map((item) => (
          <li key={item.id}>
            <figure>
              {item.thumbnail ? (
                <img src={item.thumbnail} alt={`${item.label}: ${item.source}`} width={112} height={112} />
              ) : (
                <div className="no-thumbnail">no picture</div>
              )}
              <figcaption>
                <span className="source" title={item.source}>
                  {item.source}
                </span>
                <span>{pct(item.confidence)} sure</span>
              </figcaption>
            </figure>
          </li>
        ))}
      </ul>
      {count !== null && items.length < count && (
        <button type="button" className="secondary" onClick={() => void load(items.length)}>
          Show more ({count - items.length} left)
        </button>
      )}
    </section>
  );
}

/**
 * The confusion matrix of a version's evaluation: a click on a cell (in the chart, or a button in
 * its table form, for keyboards and screen readers) shows the items in it.
 */
export function ConfusionExplorer({
  path,
  spec,
  classes,
  confusion,
}: {
  /** /api/models/<model>/versions/<version> */
  path: string;
  spec: ChartSpec;
  classes: string[];
  confusion: number[][];
}) {
  const [cell, setCell] = useState<Cell | null>(null);
  return (
    <div className="confusion">
      <VegaChart
        spec={spec}
        label="Confusion matrix: items per true and predicted label; choose a cell to see its items"
        onSelect={(d) => {
          if (typeof d.row === 'string' && typeof d.column === 'string')
            setCell({ trueLabel: d.row, predicted: d.column });
        }}
      />
      <details className="matrix-table">
        <summary>The matrix as a table</summary>
        <div className="table-scroll">
          <table>
            <caption>Rows: true label; columns: predicted label</caption>
            <thead>
              <tr>
                <th scope="col">True \ predicted</th>
                {classes.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {classes.map((t, i) => (
                <tr key={t}>
                  <th scope="row">{t}</th>
                  {classes.map((p, j) => (
                    <td key={p}>
                      <button
                        type="button"
                        className="cell-button secondary"
                        aria-label={`${confusion[i]?.[j] ?? 0} items of ${t} predicted as ${p}`}
                        onClick={() => setCell({ trueLabel: t, predicted: p })}
                      >
                        {confusion[i]?.[j] ?? 0}
                      </button>
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
      {cell && <CellPanel path={path} cell={cell} />}
    </div>
  );
}

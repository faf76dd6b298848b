import { useEffect, useId, useState } from 'react';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { num, pct, when } from '../../components/format';
import { usePageTitle } from '../../components/usePageTitle';
import { VegaChart, type ChartSpec } from '../../components/VegaChart';
import '../../styles/monitoring.css';

interface MonitoredModel {
  model: string;
  versions: number[];
  predictions: number;
  last: string | null;
}

interface Traffic {
  from: string;
  to: string;
  bucket: 'minute' | 'hour' | 'day';
  total: number;
  buckets: { p95: number | null; requests: number }[];
  classTotals: { label: string; count: number }[];
  charts: Record<'traffic' | 'latency' | 'classMix' | 'confidence' | 'confidenceTrend', ChartSpec>;
}

/** A drift check as src/monitor/drift/drift-store.ts records it. */
interface DriftCheck {
  id: number;
  at: string;
  version: number | null;
  status: 'ok' | 'drift' | 'insufficient';
  windowSize: number;
  referenceSize: number;
  tests: {
    test: string;
    statisticName: string;
    statistic: number;
    pValue: number;
    threshold: number;
    drift: boolean;
  }[];
  skipped: { test: string; reason: string }[];
  message: string;
}

interface Drift {
  intervalMs: number;
  checks: DriftCheck[];
}

const RANGES = [
  ['1h', 'Last hour', 3_600_000],
  ['6h', 'Last 6 hours', 6 * 3_600_000],
  ['24h', 'Last 24 hours', 86_400_000],
  ['7d', 'Last 7 days', 7 * 86_400_000],
  ['30d', 'Last 30 days', 30 * 86_400_000],
] as const;

const CHARTS: [keyof Traffic['charts'], string][] = [
  ['traffic', 'Requests over time'],
  ['latency', 'Latency percentiles over time'],
  ['classMix', 'Share of each predicted class over time'],
  ['confidence', 'Histogram of prediction confidence'],
  ['confidenceTrend', 'Mean confidence over time'],
];

const VERDICT = { ok: 'No drift', drift: 'Drift detected', insufficient: 'Not enough data' } as const;

function DriftStatus({ model }: { model: string }) {
  const [drift, setDrift] = useState<Drift | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    api<Drift>(`/api/monitoring/drift?model=${encodeURIComponent(model)}`, { signal: controller.signal })
      .then(setDrift)
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, [model]);
  const latest = drift?.checks[0];
  const schedule = drift
    ? drift.intervalMs
      ? `loupe serve checks every ${Math.round(drift.intervalMs / 60_000)} min`
      : 'loupe serve runs no scheduled checks (monitor.drift.intervalMs is 0)'
    : '';
  return (
    <section className="card drift" aria-labelledby="drift-title">
      <h2 id="drift-title">Drift</h2>
      <ErrorAlert error={error} />
      {drift && !latest && (
        <p className="muted">
          No drift check has run for {model} yet: <code>loupe drift {model}</code> runs one; {schedule}.
        </p>
      )}
      {latest && (
        <>
          <p className={`drift-verdict drift-${latest.status}`}>
            <strong>{VERDICT[latest.status]}</strong> — {latest.message}
          </p>
          <p className="muted">
            Checked {when(latest.at)}
            {latest.version !== null && ` on v${latest.version}`}: {latest.windowSize} recent predictions
            against {latest.referenceSize} reference items; {schedule}.
          </p>
          {latest.tests.length > 0 && (
            <div className="table-scroll">
              <table>
                <caption>Tests of the latest check</caption>
                <thead>
                  <tr>
                    <th scope="col">Test</th>
                    <th scope="col">Statistic</th>
                    <th scope="col">p-value</th>
                    <th scope="col">Level</th>
                    <th scope="col">Verdict</th>
                  </tr>
                </thead>
                <tbody>
                  {latest.tests.map((t) => (
                    <tr key={t.test}>
                      <th scope="row">{t.test}</th>
                      <td className="number">
                        {t.statisticName} {num(t.statistic, 3)}
                      </td>
                      <td className="number">{num(t.pValue, 3)}</td>
                      <td className="number">{num(t.threshold, 3)}</td>
                      <td>{t.drift ? 'drift' : 'no drift'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {drift.checks.length > 1 && (
            <p className="muted">
              Earlier:{' '}
              {drift.checks
                .slice(1)
                .map((c) => `${when(c.at)} ${VERDICT[c.status].toLowerCase()}`)
                .join('; ')}
            </p>
          )}
        </>
      )}
    </section>
  );
}

/** What the served models did: traffic, latency, class mix and confidence over time, and drift. */
export function MonitoringPage() {
  usePageTitle('Monitoring');
  const [models, setModels] = useState<MonitoredModel[] | null>(null);
  const [model, setModel] = useState('');
  const [version, setVersion] = useState('');
  const [range, setRange] = useState<(typeof RANGES)[number][0]>('24h');
  const [traffic, setTraffic] = useState<Traffic | null>(null);
  const [error, setError] = useState<unknown>(null);
  const ids = { model: useId(), version: useId(), range: useId() };

  useEffect(() => {
    api<{ models: MonitoredModel[] }>('/api/monitoring/models').then((r) => {
      setModels(r.models);
      setModel((m) => m || r.models[0]?.model || '');
    }, setError);
  }, []);

  useEffect(() => {
    if (!model) return;
    const controller = new AbortController();
    const span = RANGES.find((r) => r[0] === range)![2];
    const q = new URLSearchParams({ model, from: new Date(Date.now() - span).toISOString() });
    if (version) q.set('version', version);
    api<Traffic>(`/api/monitoring/traffic?${q}`, { signal: controller.signal })
      .then((t) => {
        setTraffic(t);
        setError(null);
      })
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, [model, version, range]);

  const chosen = models?.find((m) => m.model === model);
  const worstP95 = traffic ? Math.max(0, ...traffic.buckets.map((b) => b.p95 ?? 0)) : 0;
  return (
    <section className="page monitoring-page">
      <h1>Monitoring</h1>
      <ErrorAlert error={error} />
      {models && !models.length && <p className="muted">No model is registered or served yet.</p>}
      {models && models.length > 0 && (
        <form className="monitoring-filters" aria-label="What to show" onSubmit={(e) => e.preventDefault()}>
          <div className="field">
            <label htmlFor={ids.model}>Model</label>
            <select
              id={ids.model}
              value={model}
              onChange={(e) => {
                setModel(e.target.value);
                setVersion('');
              }}
            >
              {models.map((m) => (
                <option key={m.model} value={m.model}>
                  {m.model}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.version}>Version</label>
            <select id={ids.version} value={version} onChange={(e) => setVersion(e.target.value)}>
              <option value="">all</option>
              {chosen?.versions.map((v) => (
                <option key={v} value={v}>
                  v{v}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.range}>Time range</label>
            <select id={ids.range} value={range} onChange={(e) => setRange(e.target.value as typeof range)}>
              {RANGES.map(([key, label]) => (
                <option key={key} value={key}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        </form>
      )}
      {traffic && (
        <>
          <ul className="headline" aria-label="Summary of the range">
            <li>
              <span className="metric-label">Predictions</span>
              <span className="metric-value">{num(traffic.total)}</span>
            </li>
            <li>
              <span className="metric-label">Worst p95 per {traffic.bucket}</span>
              <span className="metric-value">{traffic.total ? `${num(worstP95, 3)} ms` : '–'}</span>
            </li>
            <li>
              <span className="metric-label">Most predicted</span>
              <span className="metric-value">
                {traffic.classTotals[0]
                  ? `${traffic.classTotals[0].label} (${pct(traffic.classTotals[0].count / traffic.total)})`
                  : '–'}
              </span>
            </li>
            <li>
              <span className="metric-label">Last prediction</span>
              <span className="metric-value">{when(chosen?.last)}</span>
            </li>
          </ul>
          {traffic.total === 0 && <p className="muted">No predictions were logged in this range.</p>}
          <div className="charts">
            {CHARTS.map(([name, label]) => (
              <VegaChart key={name} spec={traffic.charts[name]} label={label} />
            ))}
          </div>
        </>
      )}
      {model && <DriftStatus model={model} />}
    </section>
  );
}

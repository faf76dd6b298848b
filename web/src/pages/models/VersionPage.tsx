import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { num, pct, when } from '../../components/format';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { VegaChart } from '../../components/VegaChart';
import { useSession } from '../../session';
import '../../styles/models.css';
import { PromoteButton, RollbackButton } from './AliasDialogs';
import { AuditLog } from './AuditLog';
import { ConfusionExplorer } from './ConfusionExplorer';
import { GateVerdicts } from './GateVerdicts';
import type { AuditEntry, GateResult, ModelVersion, VersionReport } from './model-types';

/** The headline figures a version keeps: [metric, label, how to show it]. */
const HEADLINE: [string, string, (v: number) => string][] = [
  ['accuracy', 'Accuracy', pct],
  ['macro_f1', 'Macro-F1', pct],
  ['weighted_f1', 'Weighted F1', pct],
  ['ece', 'ECE', (v) => v.toFixed(3)],
  ['nll', 'Log loss', (v) => num(v)],
  ['latency_p95_ms', 'Latency p95', (v) => `${num(v, 3)} ms`],
];

/**
 * A model version: its metrics, the evaluation's charts (the confusion matrix opens the items of
 * a cell), the gate's verdict per rule, promotion and rollback for admins, and the audit log.
 */
export function VersionPage() {
  const { model = '', version = '' } = useParams();
  const ref = `${model}@${version}`;
  usePageTitle(ref);
  const { user } = useSession();
  const admin = user?.role === 'admin';
  const path = `/api/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`;
  const [v, setV] = useState<ModelVersion | null>(null);
  const [report, setReport] = useState<VersionReport | null>(null);
  const [reportError, setReportError] = useState<unknown>(null);
  const [gate, setGate] = useState<GateResult | null>(null);
  const [gateError, setGateError] = useState<unknown>(null);
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  // A promotion and then a rollback each reload the state and the gate's verdict: the first
  // reload's answers must not land after the second's (a stale verdict next to the buttons).
  const nextLoad = useLatestRequest();

  const loadState = useCallback(async () => {
    const signal = nextLoad();
    try {
      const [got, log] = await Promise.all([
        api<{ version: ModelVersion }>(path, { signal }),
        api<{ entries: AuditEntry[] }>(`/api/models/${encodeURIComponent(model)}/audit`, { signal }),
      ]);
      setV(got.version);
      setAudit(log.entries);
    } catch (e) {
      if (!signal.aborted) setError(e);
    }
    if (signal.aborted) return;
    setGate(null);
    api<GateResult>(`${path}/gate`, { signal }).then(setGate, (e: unknown) => {
      if (!signal.aborted) setGateError(e);
    });
  }, [path, model, nextLoad]);

  useEffect(() => {
    void loadState();
    // Another version's page reuses this one: its report must not be replaced by this one's.
    const controller = new AbortController();
    setReport(null);
    api<VersionReport>(`${path}/report`, { signal: controller.signal }).then(setReport, (e: unknown) => {
      if (!controller.signal.aborted) setReportError(e);
    });
    return () => controller.abort();
  }, [path, loadState]);

  const done = (message: string) => {
    setNotice(message);
    void loadState();
  };

  if (error)
    return (
      <section className="page">
        <h1>{ref}</h1>
        <ErrorAlert error={error} />
      </section>
    );
  return (
    <section className="page version-page">
      <p className="breadcrumb">
        <Link to="/models">Models</Link> / <Link to={`/models/${encodeURIComponent(model)}`}>{model}</Link> /
      </p>
      <h1>
        {ref}{' '}
        {v?.aliases.map((a) => (
          <span key={a} className="alias-badge">
            {a}
          </span>
        ))}
      </h1>
      <p role="status" className={notice ? 'alert success' : undefined}>
        {notice}
      </p>
      {v && (
        <>
          <dl className="facts">
            <div>
              <dt>Registered</dt>
              <dd>
                {when(v.createdAt)} by {v.createdBy}
              </dd>
            </div>
            <div>
              <dt>From</dt>
              <dd>
                {v.runId ? <Link to={`/runs/${v.runId}`}>run {v.runId}</Link> : 'an imported ONNX file'}
              </dd>
            </div>
            <div>
              <dt>Dataset</dt>
              <dd>{v.datasetVersion ? v.datasetVersion.slice(0, 12) : '–'}</dd>
            </div>
            <div>
              <dt>Classes</dt>
              <dd>{v.classes.length}</dd>
            </div>
            <div>
              <dt>Temperature</dt>
              <dd>{v.temperature.toFixed(2)}</dd>
            </div>
          </dl>
          <ul className="headline" aria-label="Headline metrics">
            {HEADLINE.filter(([k]) => v.metrics[k] !== undefined).map(([k, label, show]) => (
              <li key={k}>
                <span className="metric-label">{label}</span>
                <span className="metric-value">{show(v.metrics[k]!)}</span>
              </li>
            ))}
          </ul>
        </>
      )}

      <h2>Gate</h2>
      <ErrorAlert error={gateError} />
      {gate ? <GateVerdicts gate={gate} /> : !gateError && <p aria-live="polite">Judging the version…</p>}
      {admin && v && (
        <div className="actions">
          <PromoteButton refName={ref} path={path} gateFailed={gate ? !gate.passed : false} onDone={done} />
          {v.aliases.map((a) => (
            <RollbackButton key={a} model={model} alias={a} onDone={done} />
          ))}
        </div>
      )}

      <h2>Evaluation</h2>
      <ErrorAlert error={reportError} />
      {report && (
        <>
          <p className="muted">
            {report.summary.n} items of the {report.summary.split} split, evaluated {when(report.createdAt)}.
          </p>
          <ConfusionExplorer
            path={path}
            spec={report.charts.confusion_matrix}
            classes={report.classes}
            confusion={report.confusion}
          />
          <div className="charts">
            <VegaChart spec={report.charts.pr_curves} label="Precision–recall curve of each class" />
            <VegaChart
              spec={report.charts.reliability}
              label="Reliability diagram: accuracy against confidence"
            />
          </div>
        </>
      )}

      <h2>History</h2>
      <AuditLog entries={audit} />
    </section>
  );
}

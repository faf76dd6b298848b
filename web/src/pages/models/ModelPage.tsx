import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { pct, when } from '../../components/format';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { useSession } from '../../session';
import '../../styles/models.css';
import { RollbackButton } from './AliasDialogs';
import { AuditLog } from './AuditLog';
import type { AuditEntry, ModelSummary, ModelVersion } from './model-types';

/** One model: its versions with their headline metrics and aliases, rollback, and its audit log. */
export function ModelPage() {
  const { model = '' } = useParams();
  usePageTitle(`Model ${model}`);
  const { user } = useSession();
  const [data, setData] = useState<{ model: ModelSummary; versions: ModelVersion[] } | null>(null);
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const base = `/api/models/${encodeURIComponent(model)}`;

  // A rollback reloads what the page shows: an earlier load's answer must not land after it.
  const nextLoad = useLatestRequest();
  const load = useCallback(async () => {
    const signal = nextLoad();
    try {
      const [m, a] = await Promise.all([
        api<{ model: ModelSummary; versions: ModelVersion[] }>(base, { signal }),
        api<{ entries: AuditEntry[] }>(`${base}/audit`, { signal }),
      ]);
      setData(m);
      setAudit(a.entries);
    } catch (e) {
      if (!signal.aborted) setError(e);
    }
  }, [base, nextLoad]);
  useEffect(() => void load(), [load]);

  const done = (message: string) => {
    setNotice(message);
    void load();
  };

  return (
    <section className="page model-page">
      <p className="breadcrumb">
        <Link to="/models">Models</Link> /
      </p>
      <h1>{model}</h1>
      <ErrorAlert error={error} />
      <p role="status" className={notice ? 'alert success' : undefined}>
        {notice}
      </p>
      {data && (
        <>
          {user?.role === 'admin' && Object.keys(data.model.aliases).length > 0 && (
            <div className="actions">
              {Object.keys(data.model.aliases).map((alias) => (
                <RollbackButton key={alias} model={model} alias={alias} onDone={done} />
              ))}
            </div>
          )}
          <div className="table-scroll">
            <table>
              <caption>Versions</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Aliases</th>
                  <th scope="col">Accuracy</th>
                  <th scope="col">Macro-F1</th>
                  <th scope="col">ECE</th>
                  <th scope="col">From</th>
                  <th scope="col">Registered</th>
                </tr>
              </thead>
              <tbody>
                {data.versions.map((v) => (
                  <tr key={v.version}>
                    <th scope="row">
                      <Link to={`/models/${encodeURIComponent(model)}/${v.version}`}>{v.ref}</Link>
                    </th>
                    <td>{v.aliases.join(', ') || '–'}</td>
                    <td className="number">{pct(v.metrics.accuracy)}</td>
                    <td className="number">{pct(v.metrics.macro_f1)}</td>
                    <td className="number">{v.metrics.ece === undefined ? '–' : v.metrics.ece.toFixed(3)}</td>
                    <td>{v.runId ? <Link to={`/runs/${v.runId}`}>run {v.runId}</Link> : 'imported ONNX'}</td>
                    <td>
                      {when(v.createdAt)} by {v.createdBy}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <AuditLog entries={audit} />
        </>
      )}
    </section>
  );
}

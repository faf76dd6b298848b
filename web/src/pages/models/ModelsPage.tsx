import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { when } from '../../components/format';
import { usePageTitle } from '../../components/usePageTitle';
import '../../styles/models.css';
import type { ModelSummary } from './model-types';

/** The registry: every model with its versions and where its aliases point. */
export function ModelsPage() {
  usePageTitle('Models');
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const controller = new AbortController();
    api<{ models: ModelSummary[] }>('/api/models', { signal: controller.signal })
      .then((r) => setModels(r.models))
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      });
    return () => controller.abort();
  }, []);

  return (
    <section className="page models-page">
      <h1>Models</h1>
      <ErrorAlert error={error} />
      {models && !models.length && (
        <p className="muted">
          No model is registered yet: <code>loupe models register RUN</code> registers a run.
        </p>
      )}
      {models && models.length > 0 && (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Versions</th>
                <th scope="col">Aliases</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.name}>
                  <th scope="row">
                    <Link to={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>
                  </th>
                  <td className="number">{m.versions}</td>
                  <td>
                    {Object.entries(m.aliases).map(([alias, v]) => (
                      <Link key={alias} className="alias" to={`/models/${encodeURIComponent(m.name)}/${v}`}>
                        {alias} → v{v}
                      </Link>
                    ))}
                  </td>
                  <td>{when(m.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

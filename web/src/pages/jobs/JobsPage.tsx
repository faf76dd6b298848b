import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { when } from '../../components/format';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { roleAtLeast, useSession } from '../../session';
import '../../styles/jobs.css';
import { JobForm } from './JobForm';
import { JobView } from './JobView';
import type { Job, JobKindInfo } from './job-types';

/** Long commands from the page: the form to start one, the recent ones, and one followed live. */
export function JobsPage() {
  const { id } = useParams();
  usePageTitle(id ? `Job ${id}` : 'Jobs');
  const { user } = useSession();
  const [kinds, setKinds] = useState<JobKindInfo[] | null>(null);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<{ kinds: JobKindInfo[] }>('/api/jobs/kinds').then((r) => setKinds(r.kinds), setError);
  }, []);
  // Opening a job and its end both reload the list: the earlier answer must not land last and
  // show an ended job as still running.
  const nextLoad = useLatestRequest();
  const loadJobs = useCallback(() => {
    const signal = nextLoad();
    api<{ jobs: Job[] }>('/api/jobs?limit=20', { signal }).then(
      (r) => setJobs(r.jobs),
      (e: unknown) => {
        if (!signal.aborted) setError(e);
      },
    );
  }, [nextLoad]);
  useEffect(loadJobs, [id, loadJobs]);

  const startable = (kinds ?? []).filter((k) => k.available && user && roleAtLeast(user.role, k.role));
  return (
    <section className="page jobs-page">
      <h1>Jobs</h1>
      <ErrorAlert error={error} />
      {id && <JobView id={id} onEnded={loadJobs} />}
      {!id &&
        kinds &&
        (startable.length ? (
          <JobForm kinds={startable} />
        ) : (
          <p className="muted">Your role may follow jobs but not start them.</p>
        ))}
      <h2>Recent jobs</h2>
      {jobs && !jobs.length && <p className="muted">No job has been started from the web app yet.</p>}
      {jobs && jobs.length > 0 && (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Status</th>
                <th scope="col">Command</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.id} aria-current={j.id === id ? 'page' : undefined}>
                  <th scope="row">
                    <Link to={`/jobs/${j.id}`}>
                      {j.kind} {j.id}
                    </Link>
                  </th>
                  <td>
                    <span className={`status status-${j.status}`}>{j.status}</span>
                  </td>
                  <td>
                    <code>{j.argv.join(' ')}</code>
                  </td>
                  <td>
                    {when(j.createdAt)} by {j.startedBy}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {id && (
        <p>
          <Link to="/jobs">Start another job</Link>
        </p>
      )}
    </section>
  );
}

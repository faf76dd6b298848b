import { when } from '../../components/format';
import type { AuditEntry } from './model-types';

const move = (e: AuditEntry) =>
  e.action === 'register'
    ? `registered v${e.toVersion}`
    : `${e.alias}: ${e.fromVersion === null ? 'none' : `v${e.fromVersion}`} → v${e.toVersion}`;

/** Every registration and alias move of a model, newest first: who, when, what and why. */
export function AuditLog({ entries }: { entries: AuditEntry[] }) {
  return (
    <div className="table-scroll">
      <table className="audit-log">
        <caption>Audit log</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Change</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id}>
              <td>{when(e.at)}</td>
              <td>{e.actor}</td>
              <td>
                {e.action}
                {e.forced && <strong className="forced"> forced</strong>}
              </td>
              <td>{move(e)}</td>
              <td>{e.reason || <span className="muted">–</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Field } from '../../components/Field';
import { useLatestRequest } from '../../components/useLatestRequest';
import { usePageTitle } from '../../components/usePageTitle';
import { ROLES, useSession, type Role } from '../../session';
import '../../styles/account.css';

interface Account {
  id: number;
  email: string;
  role: Role;
  createdAt: string;
  lastLoginAt: string | null;
  disabledAt: string | null;
}

interface Invitation {
  id: number;
  role: Role;
  email: string | null;
  expiresAt: string;
}

const day = (iso: string | null) => (iso ? new Date(iso).toLocaleDateString() : 'never');

function UserRow({ account, self, onChanged }: { account: Account; self: boolean; onChanged: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const change = async (body: { role?: Role; disabled?: boolean }) => {
    setError(null);
    try {
      await api(`/api/admin/users/${account.id}`, { method: 'PATCH', json: body });
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <tr className={account.disabledAt ? 'disabled' : undefined}>
      <th scope="row">
        {account.email}
        {self && <span className="muted"> (you)</span>}
        <ErrorAlert error={error} />
      </th>
      <td>
        <select
          aria-label={`Role of ${account.email}`}
          value={account.role}
          onChange={(e) => void change({ role: e.target.value as Role })}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td>{account.disabledAt ? 'disabled' : 'active'}</td>
      <td>{day(account.lastLoginAt)}</td>
      <td>
        {!self && (
          <button
            type="button"
            className="secondary"
            aria-label={`${account.disabledAt ? 'Enable' : 'Disable'} ${account.email}`}
            onClick={() => void change({ disabled: !account.disabledAt })}
          >
            {account.disabledAt ? 'Enable' : 'Disable'}
          </button>
        )}
      </td>
    </tr>
  );
}

function InviteForm({ onCreated }: { onCreated: () => void }) {
  const roleId = useId();
  const [role, setRole] = useState<Role>('annotator');
  const [email, setEmail] = useState('');
  const [link, setLink] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const linkInput = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setCopied(false);
    try {
      const r = await api<{ path: string }>('/api/admin/invitations', {
        json: { role, email: email.trim() || null },
      });
      setLink(`${window.location.origin}${r.path}`);
      setEmail('');
      onCreated();
    } catch (err) {
      setError(err);
    }
  };

  const copy = async () => {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      // No clipboard access (a plain-http address other than localhost): select it for Ctrl-C.
      linkInput.current?.select();
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} className="card" aria-labelledby="invite-heading">
      <h2 id="invite-heading">Invite someone</h2>
      <div className="field">
        <label htmlFor={roleId}>Role</label>
        <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <Field
        label="Email (optional)"
        type="email"
        hint="When given, only this address can use the invitation."
        value={email}
        onChange={(e) => setEmail(e.target.value)}
      />
      <ErrorAlert error={error} />
      <button type="submit">Create invitation link</button>
      {link && (
        <div className="invite-link" role="status">
          <label htmlFor="invite-link">Invitation link: send it to the person (it is shown only now)</label>
          <div className="row">
            <input
              id="invite-link"
              ref={linkInput}
              readOnly
              value={link}
              onFocus={(e) => e.target.select()}
            />
            <button type="button" onClick={() => void copy()}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
        </div>
      )}
    </form>
  );
}

/** Admins: every account with its role and state, invitations, and making new ones. */
export function UsersPage() {
  usePageTitle('Users');
  const { user } = useSession();
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [error, setError] = useState<unknown>(null);
  // Every change reloads the table: two changes in a row must not end with the first one's answer.
  const nextLoad = useLatestRequest();

  const load = useCallback(async () => {
    const signal = nextLoad();
    try {
      const [u, i] = await Promise.all([
        api<{ users: Account[] }>('/api/admin/users', { signal }),
        api<{ invitations: Invitation[] }>('/api/admin/invitations', { signal }),
      ]);
      setAccounts(u.users);
      setInvitations(i.invitations);
      setError(null);
    } catch (e) {
      if (!signal.aborted) setError(e);
    }
  }, [nextLoad]);

  useEffect(() => {
    void load();
  }, [load]);

  const withdraw = async (id: number) => {
    try {
      await api(`/api/admin/invitations/${id}`, { method: 'DELETE' });
      await load();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section className="page">
      <h1>Users</h1>
      <ErrorAlert error={error} />
      {accounts && (
        <div className="table-scroll">
          <table>
            <caption>Accounts ({accounts.length})</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => (
                <UserRow key={a.id} account={a} self={a.id === user?.id} onChanged={() => void load()} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="columns">
        <InviteForm onCreated={() => void load()} />
        <section className="card" aria-labelledby="pending-heading">
          <h2 id="pending-heading">Pending invitations</h2>
          {invitations.length ? (
            <ul className="plain">
              {invitations.map((i) => (
                <li key={i.id}>
                  <span>
                    <strong>{i.role}</strong>
                    {i.email ? ` for ${i.email}` : ' for anyone with the link'}, until {day(i.expiresAt)}
                  </span>
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`Withdraw the ${i.role} invitation${i.email ? ` for ${i.email}` : ''}`}
                    onClick={() => void withdraw(i.id)}
                  >
                    Withdraw
                  </button>
                </li>
              ))}
            </ul>
          ) : (
            <p>None.</p>
          )}
        </section>
      </div>
    </section>
  );
}

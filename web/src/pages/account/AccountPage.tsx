import { startTransition, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Field } from '../../components/Field';
import { usePageTitle } from '../../components/usePageTitle';
import { useSession } from '../../session';
import { PASSWORD_MIN } from './SignUpPage';
import '../../styles/account.css';

function ChangePassword({ email }: { email: string }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    if (next !== confirm) {
      setError(new Error('the two new passwords differ'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ endedSessions: number }>('/api/account/password', {
        json: { currentPassword: current, newPassword: next },
      });
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(
        `Password changed.${r.endedSessions ? ` ${r.endedSessions} other sign-in${r.endedSessions > 1 ? 's were' : ' was'} ended.` : ''}`,
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} aria-labelledby="password-heading" className="card">
      <h2 id="password-heading">Change your password</h2>
      {/* Password managers file the new password under this account's name. */}
      <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
      <Field
        label="Current password"
        type="password"
        autoComplete="current-password"
        required
        value={current}
        onChange={(e) => setCurrent(e.target.value)}
      />
      <Field
        label="New password"
        type="password"
        autoComplete="new-password"
        required
        minLength={PASSWORD_MIN}
        hint={`At least ${PASSWORD_MIN} characters. Your other sign-ins end when it changes.`}
        value={next}
        onChange={(e) => setNext(e.target.value)}
      />
      <Field
        label="Repeat the new password"
        type="password"
        autoComplete="new-password"
        required
        value={confirm}
        onChange={(e) => setConfirm(e.target.value)}
      />
      <ErrorAlert error={error} />
      {done && (
        <p className="alert success" role="status">
          {done}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Changing…' : 'Change password'}
      </button>
    </form>
  );
}

/** A person's own account: who they are, their password, and ending every sign-in. */
export function AccountPage() {
  usePageTitle('Account');
  const { user, refresh, adopt } = useSession();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  if (!user) return null;

  const logOutEverywhere = async () => {
    try {
      await api('/api/account/logout-all', { method: 'POST' });
      // As signing out does (App.tsx): both in one transition.
      startTransition(() => {
        adopt({ user: null, csrf: '' });
        navigate('/signin');
      });
      await refresh();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section className="page narrow">
      <h1>Your account</h1>
      <dl className="facts">
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>
          <span className="role-badge">{user.role}</span>
        </dd>
      </dl>
      <ChangePassword email={user.email} />
      <section className="card" aria-labelledby="everywhere-heading">
        <h2 id="everywhere-heading">Sign out everywhere</h2>
        <p>Ends every sign-in of this account, on every browser and device, including this one.</p>
        <ErrorAlert error={error} />
        <button type="button" className="secondary" onClick={() => void logOutEverywhere()}>
          Log out everywhere
        </button>
      </section>
    </section>
  );
}

import { useEffect, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Field } from '../../components/Field';
import { usePageTitle } from '../../components/usePageTitle';
import { useSession, type Role, type User } from '../../session';
import '../../styles/account.css';

export const PASSWORD_MIN = 10;

interface InvitationInfo {
  role: Role;
  email: string | null;
  expiresAt: string;
}

export function SignUpPage() {
  usePageTitle('Sign up');
  const { user, adopt, needsFirstAccount, registration } = useSession();
  const [params] = useSearchParams();
  const code = params.get('invite') ?? undefined;
  const navigate = useNavigate();
  const [invitation, setInvitation] = useState<InvitationInfo | null>(null);
  const [invitationError, setInvitationError] = useState<unknown>(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!code) return;
    const controller = new AbortController();
    api<InvitationInfo>(`/api/invitations/${encodeURIComponent(code)}`, { signal: controller.signal }).then(
      (i) => {
        setInvitation(i);
        if (i.email) setEmail(i.email);
      },
      (e: unknown) => {
        if ((e as Error).name !== 'AbortError') setInvitationError(e);
      },
    );
    return () => controller.abort();
  }, [code]);

  if (user) return <Navigate to="/" replace />;

  const closed = !needsFirstAccount && registration === 'invite' && !code;
  if (closed)
    return (
      <section className="page narrow auth">
        <h1>Sign up</h1>
        <p>
          This Loupe server takes new accounts by invitation only. Ask an admin for an invitation link, or{' '}
          <Link to="/signin">sign in</Link> if you have an account.
        </p>
      </section>
    );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password !== confirm) {
      setError(new Error('the two passwords differ'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const s = await api<{ user: User; csrf: string }>('/api/register', {
        json: { email, password, ...(code ? { invitation: code } : {}) },
      });
      adopt(s);
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section className="page narrow auth">
      <h1>{needsFirstAccount ? 'Create the first account' : 'Sign up'}</h1>
      {needsFirstAccount && (
        <p className="alert info">This first account will be the admin: it manages the others.</p>
      )}
      {invitation && (
        <p className="alert info">
          You are invited as <strong>{invitation.role}</strong>
          {invitation.email ? (
            <>
              {' '}
              for <strong>{invitation.email}</strong>
            </>
          ) : null}
          .
        </p>
      )}
      <ErrorAlert error={invitationError} />
      <form onSubmit={(e) => void submit(e)}>
        <Field
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          readOnly={Boolean(invitation?.email)}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label="Password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          required
          minLength={PASSWORD_MIN}
          hint={`At least ${PASSWORD_MIN} characters.`}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <Field
          label="Repeat the password"
          type="password"
          name="confirm-password"
          autoComplete="new-password"
          required
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
        />
        <ErrorAlert error={error} />
        <button type="submit" disabled={busy || Boolean(invitationError)}>
          {busy ? 'Creating the account…' : 'Create the account'}
        </button>
      </form>
      <p className="aside">
        Have an account? <Link to="/signin">Sign in</Link>.
      </p>
    </section>
  );
}

import { useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Field } from '../../components/Field';
import { usePageTitle } from '../../components/usePageTitle';
import { useSession, type User } from '../../session';
import '../../styles/account.css';

/** Only paths inside this app: `next` comes from the address bar, so never send people elsewhere. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function SignInPage() {
  usePageTitle('Sign in');
  const { user, adopt, needsFirstAccount, registration } = useSession();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get('next'));

  if (user) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api<{ user: User; csrf: string }>('/api/session', { json: { email, password } });
      adopt(s);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section className="page narrow auth">
      <h1>Sign in to Loupe</h1>
      {needsFirstAccount && (
        <p className="alert info">
          Nobody has an account yet. <Link to="/signup">Create the first account</Link>: it will be the admin.
        </p>
      )}
      <form onSubmit={(e) => void submit(e)} noValidate={false}>
        <Field
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <ErrorAlert error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {!needsFirstAccount && (
        <p className="aside">
          {registration === 'open' ? (
            <>
              No account? <Link to="/signup">Sign up</Link>.
            </>
          ) : (
            <>New here? Accounts are by invitation: ask an admin for an invitation link.</>
          )}
        </p>
      )}
    </section>
  );
}

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, SESSION_ENDED, setCsrfToken } from './api';

export type Role = 'viewer' | 'annotator' | 'admin';
/** Ordered: each role may do everything the roles before it may (the server enforces the same). */
export const ROLES: readonly Role[] = ['viewer', 'annotator', 'admin'];

export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

export interface User {
  id: number;
  email: string;
  role: Role;
}

/** What GET /api/session answers. */
export interface SessionInfo {
  user: User | null;
  csrf: string;
  registration: 'open' | 'invite';
  /** Nobody has an account yet: the first to sign up becomes admin. */
  needsFirstAccount: boolean;
}

export interface Session {
  user: User | null;
  csrf: string;
  registration: 'open' | 'invite';
  needsFirstAccount: boolean;
  /** False until the first answer from the server. */
  loaded: boolean;
  /** Asks the server again (after signing in or out, or when a call says the session ended). */
  refresh: () => Promise<void>;
  /** Takes a session the server just handed out (sign-in, sign-up) without another round trip. */
  adopt: (s: { user: User | null; csrf: string }) => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [info, setInfo] = useState<SessionInfo>({
    user: null,
    csrf: '',
    registration: 'invite',
    needsFirstAccount: false,
  });
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const s = await api<SessionInfo>('/api/session');
      setCsrfToken(s.csrf);
      setInfo(s);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoaded(true);
    }
  }, []);

  const adopt = useCallback((s: { user: User | null; csrf: string }) => {
    setCsrfToken(s.csrf);
    setInfo((i) => ({ ...i, ...s, needsFirstAccount: i.needsFirstAccount && !s.user }));
  }, []);

  useEffect(() => {
    void refresh();
    const ended = () => void refresh();
    window.addEventListener(SESSION_ENDED, ended);
    return () => window.removeEventListener(SESSION_ENDED, ended);
  }, [refresh]);

  const value = useMemo(() => ({ ...info, loaded, refresh, adopt }), [info, loaded, refresh, adopt]);
  if (error && !info.csrf)
    return (
      <main className="page narrow">
        <h1>Loupe is unreachable</h1>
        <p role="alert">{error}</p>
        <button type="button" onClick={() => void refresh()}>
          Try again
        </button>
      </main>
    );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** Who is signed in, the CSRF token, and how to refresh them. */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession() outside <SessionProvider>');
  return s;
}

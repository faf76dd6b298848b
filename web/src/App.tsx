import { startTransition, Suspense, useEffect, useRef, useState, type ReactNode } from 'react';
import { Link, Navigate, NavLink, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { api } from './api';
import { usePageTitle } from './components/usePageTitle';
import { navRoutes, routes, type PageRoute } from './routes';
import { roleAtLeast, useSession, type Role } from './session';

function Guard({ route }: { route: PageRoute }) {
  const { user } = useSession();
  const location = useLocation();
  if (!route.minRole) return <>{route.element}</>;
  if (!user) {
    const next =
      location.pathname === '/' ? '' : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    return <Navigate to={`/signin${next}`} replace />;
  }
  if (!roleAtLeast(user.role, route.minRole)) return <Forbidden need={route.minRole} have={user.role} />;
  return <>{route.element}</>;
}

function Forbidden({ need, have }: { need: Role; have: Role }) {
  usePageTitle('Not allowed');
  return (
    <section className="page narrow">
      <h1>Not allowed</h1>
      <p>
        This page needs the <strong>{need}</strong> role; your account is <strong>{have}</strong>. An admin
        can change your role.
      </p>
      <p>
        <Link to="/">Back to the home page</Link>
      </p>
    </section>
  );
}

function NotFound() {
  usePageTitle('Not found');
  return (
    <section className="page narrow">
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. <Link to="/">Go to the home page</Link>.
      </p>
    </section>
  );
}

function Header() {
  const { user, refresh, adopt } = useSession();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  const navigate = useNavigate();
  const menuButton = useRef<HTMLButtonElement>(null);

  useEffect(() => setOpen(false), [location.pathname]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setOpen(false);
      menuButton.current?.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);

  const signOut = async () => {
    try {
      await api('/api/session', { method: 'DELETE' });
    } finally {
      // Signed out and on the sign-in page in one render: the router moves in a transition, so
      // the session must too, or the page guard would first see "signed out, still here" and
      // send the person to sign in with a `next` back to this page. Then a fresh signed-out token.
      startTransition(() => {
        adopt({ user: null, csrf: '' });
        navigate('/signin');
      });
      await refresh();
    }
  };

  return (
    <header className="app-header">
      <Link to="/" className="brand">
        <svg aria-hidden="true" viewBox="0 0 32 32" width="22" height="22">
          <circle cx="13" cy="13" r="9" fill="none" stroke="currentColor" strokeWidth="4" />
          <path d="M20 20l9 9" stroke="currentColor" strokeWidth="5" strokeLinecap="round" />
        </svg>
        Loupe
      </Link>
      {user && (
        <>
          <button
            ref={menuButton}
            type="button"
            className="menu-button"
            aria-expanded={open}
            aria-controls="main-nav"
            onClick={() => setOpen((o) => !o)}
          >
            Menu
          </button>
          <nav id="main-nav" aria-label="Main" className={open ? 'open' : undefined}>
            <ul>
              {navRoutes(user.role).map((r) => (
                <li key={r.path}>
                  <NavLink to={r.path} end={r.path === '/'}>
                    {r.label}
                  </NavLink>
                </li>
              ))}
            </ul>
            <div className="user-menu">
              <NavLink to="/account" className="account-link">
                <span className="email">{user.email}</span> <span className="role-badge">{user.role}</span>
              </NavLink>
              <button type="button" className="secondary" onClick={() => void signOut()}>
                Sign out
              </button>
            </div>
          </nav>
        </>
      )}
    </header>
  );
}

function Loading(): ReactNode {
  return (
    <p className="page" aria-live="polite">
      Loading…
    </p>
  );
}

/**
 * After moving to another page, keyboard and screen-reader users start at its content, as after a
 * page load, rather than wherever the control they used was (it is usually gone).
 */
function useFocusOnNavigation(): void {
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else document.getElementById('main')?.focus();
  }, [pathname]);
}

/** The layout: a header with the navigation the signed-in role allows, and the page. */
export function App() {
  const { loaded } = useSession();
  useFocusOnNavigation();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        {!loaded ? (
          <Loading />
        ) : (
          <Suspense fallback={<Loading />}>
            <Routes>
              {routes.map((r) => (
                <Route key={r.path} path={r.path} element={<Guard route={r} />} />
              ))}
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        )}
      </main>
    </>
  );
}

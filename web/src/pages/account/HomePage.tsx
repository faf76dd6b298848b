import { Link } from 'react-router-dom';
import { navRoutes } from '../../routes';
import { usePageTitle } from '../../components/usePageTitle';
import { useSession } from '../../session';
import '../../styles/account.css';

const WHAT_A_ROLE_DOES = {
  viewer: 'You can look at everything: models, runs, monitoring, the review queue and organised images.',
  annotator:
    'You can also upload images and recordings, review and correct predictions, and start training jobs.',
  admin: 'You can do everything, including promoting models and managing accounts.',
} as const;

/** Where a signed-in person lands: who they are, what they may do, and where to go next. */
export function HomePage() {
  usePageTitle('Home');
  const { user } = useSession();
  const areas = navRoutes(user?.role).filter((r) => r.path !== '/');
  if (!user) return null;
  return (
    <section className="page">
      <h1>Welcome to Loupe</h1>
      <p>
        Signed in as <strong>{user.email}</strong>, role <span className="role-badge">{user.role}</span>.{' '}
        {WHAT_A_ROLE_DOES[user.role]}
      </p>
      <h2>Where to go next</h2>
      {areas.length ? (
        <ul className="area-list">
          {areas.map((r) => (
            <li key={r.path}>
              <Link to={r.path}>{r.label}</Link>
              {r.description && <p>{r.description}</p>}
            </li>
          ))}
        </ul>
      ) : (
        <p>Nothing is open to your role yet: ask an admin for a role with more access.</p>
      )}
      <p className="aside">
        Your password and sign-ins are on your <Link to="/account">account page</Link>.
      </p>
    </section>
  );
}

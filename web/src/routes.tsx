import { lazy, type ReactNode } from 'react';
import { AccountPage } from './pages/account/AccountPage';
import { HomePage } from './pages/account/HomePage';
import { SignInPage } from './pages/account/SignInPage';
import { SignUpPage } from './pages/account/SignUpPage';
import { UsersPage } from './pages/account/UsersPage';
import { OrganisePage } from './pages/organise/OrganisePage';
import { ReviewPage } from './pages/review/ReviewPage';
import { roleAtLeast, type Role } from './session';

const AudioPage = lazy(() => import('./pages/audio/AudioPage').then((m) => ({ default: m.AudioPage })));
const AnnotatorPage = lazy(() =>
  import('./pages/audio/AnnotatorPage').then((m) => ({ default: m.AnnotatorPage })),
);
const RunsPage = lazy(() => import('./pages/runs/RunsPage').then((m) => ({ default: m.RunsPage })));
const RunPage = lazy(() => import('./pages/runs/RunPage').then((m) => ({ default: m.RunPage })));
const ComparePage = lazy(() => import('./pages/runs/ComparePage').then((m) => ({ default: m.ComparePage })));
const ModelsPage = lazy(() => import('./pages/models/ModelsPage').then((m) => ({ default: m.ModelsPage })));
const ModelPage = lazy(() => import('./pages/models/ModelPage').then((m) => ({ default: m.ModelPage })));
const VersionPage = lazy(() =>
  import('./pages/models/VersionPage').then((m) => ({ default: m.VersionPage })),
);
const MonitoringPage = lazy(() =>
  import('./pages/monitoring/MonitoringPage').then((m) => ({ default: m.MonitoringPage })),
);
const JobsPage = lazy(() => import('./pages/jobs/JobsPage').then((m) => ({ default: m.JobsPage })));

/**
 * Every page of the app. The router and the header's navigation are built from this list; each
 * area adds its own entries (keep large pages lazy, as the ones above).
 * The server enforces the same roles on every /api/ route; hiding a page here is only courtesy.
 */
export interface PageRoute {
  path: string;
  label: string;
  /** The lowest role that may open the page; null: anyone, signed in or not. */
  minRole: Role | null;
  element: ReactNode;
  /** In the header's navigation (default: yes, for pages that need a role). */
  nav?: boolean;
  /** One line for the home page's list of areas. */
  description?: string;
}

export const routes: PageRoute[] = [
  { path: '/', label: 'Home', minRole: 'viewer', element: <HomePage /> },
  { path: '/signin', label: 'Sign in', minRole: null, element: <SignInPage /> },
  { path: '/signup', label: 'Sign up', minRole: null, element: <SignUpPage /> },
  { path: '/account', label: 'Account', minRole: 'viewer', element: <AccountPage />, nav: false },
  {
    path: '/organise',
    label: 'Organise',
    minRole: 'viewer',
    element: <OrganisePage />,
    description:
      'Upload many photos, see them sorted into classes, correct, delete and download them as a zip.',
  },
  {
    path: '/review',
    label: 'Review',
    minRole: 'viewer',
    element: <ReviewPage />,
    description:
      'The predictions the model is least sure of, one at a time: accept, correct or skip from the keyboard.',
  },
  {
    path: '/audio',
    label: 'Audio',
    minRole: 'viewer',
    element: <AudioPage />,
    description:
      'Upload recordings, check the model’s segments on the waveform and spectrogram, correct them.',
  },
  { path: '/audio/:id', label: 'Recording', minRole: 'viewer', element: <AnnotatorPage />, nav: false },
  {
    path: '/runs',
    label: 'Runs',
    minRole: 'viewer',
    element: <RunsPage />,
    description:
      'Every training run: sort and filter them, open one’s curves and config, compare a few side by side.',
  },
  { path: '/runs/compare', label: 'Compare runs', minRole: 'viewer', element: <ComparePage />, nav: false },
  { path: '/runs/:id', label: 'Run', minRole: 'viewer', element: <RunPage />, nav: false },
  {
    path: '/models',
    label: 'Models',
    minRole: 'viewer',
    element: <ModelsPage />,
    description:
      'Registered versions, their evaluation and gate verdicts, promotion and rollback, the audit log.',
  },
  { path: '/models/:model', label: 'Model', minRole: 'viewer', element: <ModelPage />, nav: false },
  {
    path: '/models/:model/:version',
    label: 'Version',
    minRole: 'viewer',
    element: <VersionPage />,
    nav: false,
  },
  {
    path: '/monitoring',
    label: 'Monitoring',
    minRole: 'viewer',
    element: <MonitoringPage />,
    description: 'Traffic, latency, class mix and confidence of the served models over time, and drift.',
  },
  {
    path: '/jobs',
    label: 'Jobs',
    minRole: 'viewer',
    element: <JobsPage />,
    description: 'Start ingest, training, tuning and retraining from the page and follow them live.',
  },
  { path: '/jobs/:id', label: 'Job', minRole: 'viewer', element: <JobsPage />, nav: false },
  {
    path: '/admin/users',
    label: 'Users',
    minRole: 'admin',
    element: <UsersPage />,
    description: 'Accounts, roles and invitations: who may use this Loupe server, and for what.',
  },
];

/** The pages a role may open that belong in the navigation, in list order. */
export function navRoutes(role: Role | undefined): PageRoute[] {
  return routes.filter((r) => r.minRole && r.nav !== false && role && roleAtLeast(role, r.minRole));
}

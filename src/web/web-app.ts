import type { FastifyInstance } from 'fastify';
import type { LoupeConfig } from '../config/schema.js';
import type { ModelHost } from '../serve/model-host.js';
import type { PredictService } from '../serve/predict-service.js';
import type { PredictionLog } from '../serve/prediction-log.js';
import type { ServeMetrics } from '../serve/serve-metrics.js';
import type { Workspace } from '../workspace/workspace.js';
import { registerAccountRoutes } from './accounts/account-routes.js';
import { registerAdminRoutes } from './accounts/admin-routes.js';
import { enforceRoleDeclarations } from './accounts/require-role.js';
import { registerSessions } from './accounts/session-plugin.js';
import { DEFAULT_WEB_DIST, registerSpa } from './serve-spa.js';
import { registerOrganiserRoutes } from './organiser/organiser-routes.js';
import { registerReviewRoutes } from './review/review-routes.js';
import { registerAnnotatorRoutes } from './annotator/annotator-routes.js';
import { registerExperimentsRoutes } from './experiments/experiments-routes.js';
import { registerJobsRoutes } from './jobs/jobs-routes.js';
import { registerModelsRoutes } from './models/models-routes.js';
import { registerMonitoringRoutes } from './monitoring/monitoring-routes.js';

/** What every feature of the web app may use: the workspace and the serving machinery it runs beside. */
export interface WebDeps {
  ws: Workspace;
  /** The workspace's configuration, with the `serve:` and `web:` sections the server runs with. */
  config: LoupeConfig;
  service: PredictService;
  host: ModelHost;
  metrics: ServeMetrics;
  predictionLog: PredictionLog;
  /** The built app (web/dist of the checkout unless given). */
  webDist?: string;
}

type FeatureRoutes = (app: FastifyInstance, deps: WebDeps) => Promise<void> | void;

/** Each feature's routes, one line each; every /api/ route must declare its role (require-role.ts). */
const FEATURES: FeatureRoutes[] = [
  registerAccountRoutes,
  registerAdminRoutes,
  registerOrganiserRoutes,
  registerReviewRoutes,
  registerAnnotatorRoutes,
  registerExperimentsRoutes,
  registerModelsRoutes,
  registerMonitoringRoutes,
  registerJobsRoutes,
];

/**
 * The browser app on `loupe serve`'s port: cookies, sessions and CSRF for /api/, each feature's
 * JSON routes, then the built single-page app for every other page.
 */
export async function registerWebApp(app: FastifyInstance, deps: WebDeps): Promise<void> {
  await registerSessions(app, deps.ws.db, deps.config.web);
  enforceRoleDeclarations(app);
  for (const register of FEATURES) await register(app, deps);
  await registerSpa(app, deps.webDist ?? DEFAULT_WEB_DIST);
}

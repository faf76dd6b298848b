import type { Migration } from 'kysely';
import * as initial from './0001-initial.js';
import * as runs from './0002-runs.js';
import * as embeddings from './0003-embeddings.js';
import * as registry from './0004-registry.js';
import * as serving from './0006-serving.js';
import * as feedback from './0007-feedback.js';
import * as drift from './0008-drift.js';
import * as retrain from './0009-retrain.js';
import * as accounts from './0010-accounts.js';
import * as organiser from './0011-organiser.js';
import * as annotations from './0012-annotations.js';
import * as jobs from './0013-jobs.js';
import * as loginThrottle from './0014-login-throttle.js';

/** Every migration, in order. Names sort in the order they must run. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-runs': runs,
  '0003-embeddings': embeddings,
  '0004-registry': registry,
  '0006-serving': serving,
  '0007-feedback': feedback,
  '0008-drift': drift,
  '0009-retrain': retrain,
  '0010-accounts': accounts,
  '0011-organiser': organiser,
  '0012-annotations': annotations,
  '0013-jobs': jobs,
  '0014-login-throttle': loginThrottle,
};

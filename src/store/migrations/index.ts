import type { Migration } from 'kysely';
import * as initial from './0001-initial.js';
import * as runs from './0002-runs.js';
import * as embeddings from './0003-embeddings.js';
import * as registry from './0004-registry.js';
import * as serving from './0006-serving.js';
import * as feedback from './0007-feedback.js';

/** Every migration, in order. Names sort in the order they must run. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-runs': runs,
  '0003-embeddings': embeddings,
  '0004-registry': registry,
  '0006-serving': serving,
  '0007-feedback': feedback,
};

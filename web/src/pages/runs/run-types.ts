/**
 * The JSON of /api/runs…: the server's own types (src/web/experiments/), imported for
 * type-checking only, so no server code reaches the bundle.
 */

export type { RunsPage } from '../../../../src/web/experiments/runs-query.js';
export type { RunDetail } from '../../../../src/web/experiments/run-detail.js';
export type { ComparedRow, RunComparison } from '../../../../src/web/experiments/compare-runs.js';

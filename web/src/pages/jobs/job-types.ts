/**
 * The JSON of /api/jobs…: the server's own types (src/web/jobs/job-store.ts, and the progress
 * lines of src/cli/progress.ts), imported for type-checking only, so no server code reaches the
 * bundle.
 */

export type { Job, JobKind, JobKindInfo } from '../../../../src/web/jobs/job-store.js';
export type { ProgressLine } from '../../../../src/cli/progress.js';

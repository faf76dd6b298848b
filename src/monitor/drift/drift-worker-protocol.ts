import type { DriftConfig } from './drift-config.js';
import type { DriftCheck } from './drift-store.js';

/** What the server asks its drift worker: one check of one model. */
export interface DriftCheckRequest {
  type: 'check';
  id: number;
  model: string;
  config: DriftConfig;
}

/** The worker's first message (as `{ type: 'setup', ... }`). */
export interface DriftWorkerSetup {
  /** The workspace folder and profile the server runs in; the worker opens its own connection. */
  root: string;
  profile: string | undefined;
}

export type FromDriftWorker =
  | { type: 'done'; id: number; check: DriftCheck }
  | { type: 'failed'; id: number; error: { code: string; message: string } };

import type { Generated } from 'kysely';

/**
 * The tables of a workspace database, typed for Kysely. Each store module owns its tables and
 * the migration that creates them (src/store/migrations/).
 */
export interface DownloadsTable {
  /** The URL as requested (the cache key alongside the content hash). */
  url: string;
  /** 'ok' once the bytes are in the blob store; 'failed' with the last error otherwise. */
  status: 'ok' | 'failed';
  blob_hash: string | null;
  content_type: string | null;
  bytes: number | null;
  final_url: string | null;
  error: string | null;
  attempts: number;
  updated_at: string;
}

export interface DatasetVersionsTable {
  /** The manifest's hash: the same items give the same id on any machine. */
  id: string;
  dataset: string;
  parent: string | null;
  /** The manifest (JSON lines) in the blob store. */
  manifest_blob: string;
  item_count: number;
  class_count: number;
  /** JSON: class counts per split, sources, the ingest report's summary. */
  summary: string;
  created_at: string;
  seq: Generated<number>;
}

export type StudyDirection = 'maximize' | 'minimize';
export type StudyStatus = 'running' | 'finished' | 'failed' | 'killed';

/** A hyperparameter search: its trials are runs with this study_id. */
export interface StudiesTable {
  id: string;
  name: string;
  created_at: string;
  direction: StudyDirection;
  /** The summary metric trials are ranked by, e.g. 'val.macro_f1'. */
  metric: string;
  /** JSON: the search space. */
  space: string;
  sampler: string;
  status: StudyStatus;
  best_run_id: string | null;
}

/** retrain: one `loupe retrain`; retrain-step: one of its steps (src/monitor/retrain/). */
export type RunKind = 'train' | 'trial' | 'cv' | 'cv-fold' | 'retrain' | 'retrain-step';
export const RUN_STATUSES = ['running', 'finished', 'failed', 'killed', 'pruned'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export type RunMode = 'probe' | 'finetune' | 'scratch' | 'audio';

/** One training run and everything needed to reproduce or explain it (src/track/). */
export interface RunsTable {
  /** Time-ordered base32 (src/track/run-id.ts), so sorting by id sorts by start time. */
  id: string;
  name: string;
  kind: RunKind;
  /** The cross-validation run a fold belongs to. */
  parent_id: string | null;
  study_id: string | null;
  status: RunStatus;
  mode: RunMode;
  /** JSON: the resolved training configuration. */
  config: string;
  dataset_version: string;
  backbone: string | null;
  seed: number;
  git_commit: string | null;
  /** 0 or 1; null when the code is not in a git checkout. */
  git_dirty: number | null;
  /** JSON: LibraryVersions. */
  versions: string;
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  ended_at: string | null;
  duration_s: number | null;
  /** JSON: { code, message }. */
  error: string | null;
  /** JSON: final metrics by name. */
  summary: string | null;
  peak_rss_mib: number | null;
  images_per_s: number | null;
}

export interface RunMetricsTable {
  run_id: string;
  /** The epoch (or step) the value belongs to. */
  step: number;
  name: string;
  /** Null for a non-finite value: SQLite has no NaN. */
  value: number | null;
  at: string;
}

export type ArtifactKind = 'weights' | 'onnx' | 'checkpoint' | 'plot' | 'metadata' | 'report';

export interface RunArtifactsTable {
  run_id: string;
  name: string;
  /** Relative to the workspace root, so a copied workspace keeps its artifacts. */
  path: string;
  kind: ArtifactKind;
  bytes: number;
  sha256: string;
}

/** Feature vectors of items under one extractor, reused by every probe run and tuning trial. */
export interface EmbeddingsTable {
  /** The extractor's id: backbone, weights, tap and preprocessing. */
  extractor: string;
  /** '' for the item as it is; otherwise the augmentation and view that produced it. */
  variant: string;
  /** The item's id in the dataset (the image's hash). */
  item: string;
  dim: number;
  /** float32 little-endian. */
  data: Uint8Array;
}

export interface RegisteredModelsTable {
  name: string;
  created_at: string;
  description: Generated<string>;
}

export type ModelSource = 'run' | 'onnx';

/** An immutable model version: its files live in the blob store, named by their SHA-256. */
export interface ModelVersionsTable {
  model: string;
  /** 1, 2, 3… per model. */
  version: number;
  created_at: string;
  created_by: string;
  source: ModelSource;
  run_id: string | null;
  dataset_version: string | null;
  /** JSON: file name → { sha256, bytes }. */
  files: string;
  /** JSON: class names in output order. */
  classes: string;
  /** JSON: how inputs become the model's tensor (image preprocessing or the audio front end). */
  inputs: string;
  temperature: number;
  /** JSON: the headline figures of the version's evaluation. */
  metrics: string;
  /** JSON: run, dataset version, backbone, git commit, where an imported file came from. */
  lineage: string;
}

export interface ModelAliasesTable {
  model: string;
  alias: string;
  version: number;
  updated_at: string;
}

export type RegistryAction = 'register' | 'promote' | 'rollback';

/** Every registration and alias move: who, when, why, and what the gate said. */
export interface RegistryAuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: RegistryAction;
  model: string;
  alias: string | null;
  from_version: number | null;
  to_version: number | null;
  reason: Generated<string>;
  forced: Generated<number>;
  /** JSON: the gate result the move was made under, when one ran. */
  gate: string | null;
}

export const API_KEY_SCOPES = ['predict', 'feedback', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** A `loupe serve` API key. The token itself is never stored: only a hash of its secret. */
export interface ApiKeysTable {
  /** Public: it is part of the token and names the caller in the prediction log. */
  id: string;
  /** Unique among keys not revoked. */
  name: string;
  /** Lower-case hex SHA-256 of the token's secret part. */
  secret_hash: string;
  /** JSON: ApiKeyScope[]. */
  scopes: string;
  /** Null: unlimited. */
  rate_per_minute: number | null;
  created_at: string;
  created_by: string;
  /** Updated at most once a minute, so it is accurate to a minute. */
  last_used_at: string | null;
  revoked_at: string | null;
}

export type PredictionSource = 'upload' | 'url' | 'base64' | 'batch';

/** One prediction `loupe serve` returned (or a sampled fraction of them). */
export interface PredictionsTable {
  id: Generated<number>;
  at: string;
  model: string;
  version: number;
  /** SHA-256 of the input bytes as received. */
  input_hash: string;
  /** The input's blob (the same hash) when inputs are stored; null otherwise. */
  input_blob: string | null;
  source: PredictionSource;
  /** JSON: [{ label, probability }], most probable first. */
  top_k: string;
  predicted: string;
  confidence: number;
  /** float32 little-endian, when the model exposes one. */
  embedding: Uint8Array | null;
  latency_ms: number;
  /** The API key's id, or 'anonymous'. */
  caller: string;
  request_id: string;
}

export const FEEDBACK_CHANNELS = ['review', 'organiser', 'annotator', 'api'] as const;
export type FeedbackChannel = (typeof FEEDBACK_CHANNELS)[number];
export const FEEDBACK_ACTIONS = ['accept', 'correct', 'skip', 'delete'] as const;
export type FeedbackAction = (typeof FEEDBACK_ACTIONS)[number];

/**
 * A person's decision about one input (or one segment of a recording): the label they gave it,
 * with the provenance of the prediction they judged. Accepted and corrected rows become items of
 * the next dataset version; that version's id is then written here.
 */
export interface FeedbackTable {
  id: Generated<number>;
  at: string;
  /** Who decided: a user's email, or an API key's id. */
  actor: string;
  channel: FeedbackChannel;
  action: FeedbackAction;
  /** The model and version whose prediction was judged; null when there was none. */
  model: string | null;
  version: number | null;
  prediction_id: number | null;
  request_id: string | null;
  /** SHA-256 of the input bytes. */
  input_hash: string;
  /** The input's blob, when its bytes are in the blob store (needed to become a dataset item). */
  input_blob: string | null;
  media: 'image' | 'audio';
  /** Seconds into the recording, for audio segments. */
  segment_start: number | null;
  segment_end: number | null;
  /** The original prediction and its probability. */
  predicted: string | null;
  confidence: number | null;
  /** The decided class; null for skip and delete. */
  label: string | null;
  note: string | null;
  /** The dataset version this decision went into; null while pending. */
  dataset_version: string | null;
}

export const JOB_KINDS = ['ingest', 'train', 'tune', 'retrain'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const JOB_STATUSES = ['running', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A long command started from the web app, run as a child `loupe` process (src/web/jobs/). */
export interface JobsTable {
  /** Time-ordered, like a run's id. */
  id: string;
  kind: JobKind;
  /** JSON: the form's fields, as validated. */
  args: string;
  /** JSON: the `loupe` arguments they became. */
  argv: string;
  status: JobStatus;
  /** The user's email. */
  started_by: string;
  created_at: string;
  ended_at: string | null;
  /** host:pid of the server that runs it: another one marks it interrupted after a restart. */
  server: string;
  pid: number | null;
  /** JSON: the latest progress line the command printed (src/cli/progress.ts ProgressLine). */
  progress: string | null;
  /** The last lines the command printed. */
  log_tail: string;
  exit_code: number | null;
  /** The training run the job made, once known. */
  run_id: string | null;
  /** The job this one carries on from. */
  resumed_from: string | null;
}

/** An image in the web app's organiser: its file lives at <organiser dir>/<class_folder>/<stored_name>. */
export interface OrganisedImagesTable {
  id: Generated<number>;
  /** The user who uploaded it. */
  owner_id: number;
  /** The file name as uploaded (shown, never used as a path). */
  original_name: string;
  /** The file's name in its class folder: safe, and unique because it carries the blob hash. */
  stored_name: string;
  /** A safe folder name for `label`. */
  class_folder: string;
  /** While a move is in flight: the folder the file is leaving (see organiser-files.ts). */
  moved_from: string | null;
  /** SHA-256 of the bytes, which are in the blob store under that name. */
  blob_hash: string;
  mime: string;
  bytes: number;
  /** The model version that classified it, and the request that did. */
  model: string;
  version: number;
  request_id: string;
  /** JSON: [{ label, probability }], the three most probable classes. */
  top_k: string;
  predicted: string;
  probability: number;
  /** The current class: the prediction until someone corrects it. */
  label: string;
  /** 0 or 1: a person chose the label. */
  corrected: number;
  created_at: string;
  updated_at: string;
}

export const USER_ROLES = ['viewer', 'annotator', 'admin'] as const;
/** Ordered: each role may do everything the roles before it may. */
export type UserRole = (typeof USER_ROLES)[number];

/** A person's web app account. */
export interface UsersTable {
  id: Generated<number>;
  /** Lower-cased; unique. */
  email: string;
  /** `scrypt$N$r$p$salt$hash` (base64): the parameters travel with the hash so they can be raised. */
  password_hash: string;
  role: UserRole;
  created_at: string;
  /** The admin whose invitation it used; null for the first account and open registration. */
  invited_by: number | null;
  last_login_at: string | null;
  /** Set: the account cannot sign in and its sessions are ended. */
  disabled_at: string | null;
}

/** A signed-in browser. The cookie holds a random id; only its SHA-256 is stored. */
export interface SessionsTable {
  id_hash: string;
  user_id: number;
  /** The synchronizer token state-changing requests must echo in x-csrf-token. */
  csrf_token: string;
  created_at: string;
  /** Updated at most once a minute; the idle timeout counts from it. */
  last_seen_at: string;
  expires_at: string;
}

/** An admin's invitation to create an account with a role. Only the code's SHA-256 is stored. */
export interface InvitationsTable {
  id: Generated<number>;
  code_hash: string;
  role: UserRole;
  /** When set, only this (lower-cased) email may use it. */
  email: string | null;
  created_by: number;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_by: number | null;
  revoked_at: string | null;
}

/** What a count is kept per: an account's email, a client address's sign-ins, or its sign-ups. */
export type LoginFailureKind = 'email' | 'address' | 'signup';

/** Failed sign-ins (or sign-ups) of one key in its current window (src/web/accounts/login-throttle.ts). */
export interface LoginFailuresTable {
  kind: LoginFailureKind;
  key: string;
  failures: number;
  /** Milliseconds since 1970: the count is forgotten from then on. */
  window_ends_at: number;
}

export const SEGMENT_STATUSES = ['pending', 'accepted', 'corrected', 'deleted'] as const;
/** pending: the model's guess, unreviewed; accepted/corrected: a person decided its class. */
export type SegmentStatus = (typeof SEGMENT_STATUSES)[number];

/** A recording uploaded to the audio annotator (src/web/annotator/), pre-labelled by `model@version`. */
export interface RecordingsTable {
  id: Generated<number>;
  /** The file name as uploaded (shown, never used as a path). */
  name: string;
  /** SHA-256 of the WAV bytes, which are in the blob store under that name. */
  blob: string;
  bytes: number;
  /** Seconds. */
  duration: number;
  sample_rate: number;
  channels: number;
  model: string;
  version: number;
  /** JSON: the model's classes, which segments may be labelled with. */
  classes: string;
  /** Seconds per prediction window and between window starts. */
  window: number;
  hop: number;
  /** The log-mel spectrogram PNG in the blob store. */
  spectrogram_blob: string;
  uploaded_by: string;
  uploaded_at: string;
}

/** A labelled stretch of a recording: its current state, and the prediction it started from. */
export interface SegmentsTable {
  id: Generated<number>;
  recording_id: number;
  /** Seconds, to the microsecond. */
  start: number;
  end: number;
  label: string;
  status: SegmentStatus;
  /** Bumped by every edit, so a stale edit can be refused. */
  revision: Generated<number>;
  /** The original prediction; null for a segment a person added. */
  predicted_label: string | null;
  predicted_probability: number | null;
  /** JSON: [{ label, probability }], most probable first. */
  predicted_top: string | null;
  predicted_start: number | null;
  predicted_end: number | null;
  model: string | null;
  version: number | null;
  /** `model@version`, or the email of the person who added it. */
  created_by: string;
  created_at: string;
  edited_by: string | null;
  edited_at: string | null;
}

/** The feedback rows each segment's edits wrote, in the order written. */
export interface SegmentFeedbackTable {
  segment_id: number;
  feedback_id: number;
}

/** Held while a retrain runs: one at a time per workspace (src/monitor/retrain/retrain-lock.ts). */
export interface RetrainLockTable {
  /** 'workspace': the lock's one row. */
  scope: string;
  /** Random, the holder's: renewing or releasing a lock someone took over changes nothing. */
  token: string;
  /** The retrain's run, once started. */
  retrain_id: string | null;
  model: string;
  host: string;
  pid: number;
  started_at: string;
  /** Renewed every few seconds; a stale one means the holder is gone. */
  heartbeat_at: string;
}

/** A retrain step's content key and what it produced, so a rerun with the same inputs reuses it. */
export interface RetrainStepsTable {
  /** The step's own run (kind retrain-step). */
  run_id: string;
  retrain_id: string;
  step: string;
  /** SHA-256 of the step's inputs. */
  key: string;
  /** JSON: the step's report. */
  outcome: string | null;
}

export const DRIFT_STATUSES = ['ok', 'drift', 'insufficient'] as const;
export type DriftStatus = (typeof DRIFT_STATUSES)[number];

/** One drift check of a model version's latest predictions against its reference (src/monitor/drift/). */
export interface DriftChecksTable {
  id: Generated<number>;
  at: string;
  model: string;
  /** The version whose predictions were checked; null when the model has none logged yet. */
  version: number | null;
  /** 'insufficient': too few predictions for a verdict. */
  status: DriftStatus;
  /** Who ran it: 'cli' (`loupe drift`) or 'schedule' (`loupe serve`). */
  source: string;
  window_size: number;
  reference_size: number;
  /** The dataset version the reference was computed on. */
  dataset_version: string | null;
  /** The family-wise false-alarm rate the verdicts were held to. */
  alpha: number;
  /** JSON: per test, its statistic, p-value, threshold and verdict (DriftTestResult[]) and skipped tests. */
  tests: string;
  /** One line for people: the verdict and why. */
  message: string;
}

/** A model version's reference for drift checks, computed once and kept in the blob store. */
export interface DriftReferencesTable {
  model: string;
  version: number;
  dataset_version: string;
  /** Which items: split, sample size and seed, e.g. 'val:1000:0'. */
  sample: string;
  blob: string;
  items: number;
  created_at: string;
}

/** An input the review queue may show, scored by how unsure the model was (one row per input and model). */
export interface ReviewCandidatesTable {
  input_hash: string;
  model: string;
  /** The latest logged prediction of the input by the model; null when only the organiser has one. */
  prediction_id: number | null;
  /** Where the bytes are: the prediction's stored input, or the organised image's. */
  blob: string;
  predicted: string;
  /** p1 − p2 of the stored top-k. */
  margin: number;
  /** Entropy (nats) of the stored top-k, the left-over probability as one more outcome. */
  entropy: number;
  at: string;
}

/** How far into the prediction log and the organiser review_candidates has read (one row, id 1). */
export interface ReviewProgressTable {
  id: number;
  last_prediction_id: number;
  last_organised_id: number;
}

export interface DatabaseSchema {
  downloads: DownloadsTable;
  dataset_versions: DatasetVersionsTable;
  studies: StudiesTable;
  runs: RunsTable;
  run_metrics: RunMetricsTable;
  run_artifacts: RunArtifactsTable;
  embeddings: EmbeddingsTable;
  registered_models: RegisteredModelsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  registry_audit: RegistryAuditTable;
  api_keys: ApiKeysTable;
  predictions: PredictionsTable;
  feedback: FeedbackTable;
  retrain_lock: RetrainLockTable;
  retrain_steps: RetrainStepsTable;
  recordings: RecordingsTable;
  segments: SegmentsTable;
  segment_feedback: SegmentFeedbackTable;
  users: UsersTable;
  sessions: SessionsTable;
  invitations: InvitationsTable;
  login_failures: LoginFailuresTable;
  organised_images: OrganisedImagesTable;
  review_candidates: ReviewCandidatesTable;
  review_progress: ReviewProgressTable;
  jobs: JobsTable;
  drift_checks: DriftChecksTable;
  drift_references: DriftReferencesTable;
}

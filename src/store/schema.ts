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

export type RunKind = 'train' | 'trial' | 'cv' | 'cv-fold';
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
}

import type { IngestReport } from '../../data/ingest/ingest.js';
import type { GateResult } from '../../registry/gate/run-gate.js';
import type { TrainEvent } from '../../train/train-run.js';
import type { TrialResult } from '../../train/tune/study.js';

export const STEP_NAMES = ['dataset', 'train', 'register', 'gate', 'promote'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/**
 * done: the work was done now; reused: an earlier run with the same inputs is used (cached by
 * content); skipped: nothing to do (the reason says why); failed: the error ended the retrain.
 */
export type StepStatus = 'done' | 'reused' | 'skipped' | 'failed';

interface StepBase {
  status: StepStatus;
  /** One line a person reads. */
  detail: string;
  /** The step's run (kind retrain-step); absent in a dry run. */
  runId?: string;
  /** The run whose result was reused. */
  reusedFrom?: string;
  seconds: number;
}

export interface DatasetStep extends StepBase {
  step: 'dataset';
  dataset: string;
  /** The version the step started from: the dataset's latest. */
  base: string;
  /** The version training uses. */
  version: string;
  /** The version the reference model was trained on, when known. */
  referenceVersion: string | null;
  feedback: { used: number; corrections: number; accepts: number; unusable: number };
  items?: IngestReport['items'];
  /** The ingest report's file, when decisions were ingested. */
  reportFile?: string;
}

export interface TrainStep extends StepBase {
  step: 'train';
  /** The training run the candidate comes from. */
  trainRunId: string;
  /** Where the configuration came from ("run 01…, the champion's", "loupe.yaml train"). */
  configFrom: string;
  configKey: string;
  /** A killed run with the same inputs continued from its last checkpoint. */
  resumed?: boolean;
  studyId?: string;
  summary: Record<string, number>;
}

export interface RegisterStep extends StepBase {
  step: 'register';
  version: string;
  metrics: Record<string, number>;
}

export interface GateStep extends StepBase {
  step: 'gate';
  passed: boolean | null;
  gate?: GateResult;
}

export interface PromoteStep extends StepBase {
  step: 'promote';
  alias: string;
  from: string | null;
  to: string | null;
}

export type StepReport = DatasetStep | TrainStep | RegisterStep | GateStep | PromoteStep;

/** A step that threw: its error ended the retrain. */
export interface FailedStep extends StepBase {
  step: StepName;
  status: 'failed';
}

export interface TriggerDecision {
  /** Whether the retrain goes ahead. */
  fired: boolean;
  /** Each trigger looked at, and what it found. */
  reasons: string[];
  pending: { usable: number; corrections: number; accepts: number; unusable: number };
  drift?: { id: number; checkedAt: string; drifted: boolean } | null;
}

/**
 * promoted: a new champion; kept: the candidate failed its gate and the champion stays;
 * unchanged: nothing new to train on, the champion is already what the inputs give;
 * skipped: no trigger fired; planned: a dry run; failed: a step failed or was interrupted.
 */
export type RetrainOutcome = 'promoted' | 'kept' | 'unchanged' | 'skipped' | 'planned' | 'failed';

/** What a dry run found: what each step would start from, and what it would reuse. */
export interface RetrainPlan {
  dataset: { dataset: string; base: string; referenceVersion: string | null; decisions: number };
  train: {
    configFrom: string;
    tune: boolean;
    /** The finished run that would be reused, when the data would not change and it exists. */
    reuses: string | null;
  };
  gate: { against: string | null; rules: string[] };
}

export interface RetrainReport {
  model: string;
  alias: string;
  /** The retrain's run; null when skipped or planned. */
  retrainId: string | null;
  outcome: RetrainOutcome;
  trigger: TriggerDecision;
  /** The alias's version before and after. */
  before: string | null;
  after: string | null;
  steps: (StepReport | FailedStep)[];
  /** A dry run's findings. */
  plan?: RetrainPlan;
  /** The candidate's failed rules, with their values, when the gate failed. */
  failedRules?: { rule: string; value?: number; threshold?: number; detail: string }[];
  /** The retrain took over the lock of a process that had died. */
  tookOverLockFrom?: { pid: number; host: string; retrainId: string | null };
  startedAt: string;
  seconds: number;
  /** Where the JSON report was written. */
  reportFile?: string;
}

export type RetrainEvent =
  | { type: 'trigger'; decision: TriggerDecision }
  | { type: 'step-start'; step: StepName; detail: string }
  | { type: 'step'; report: StepReport | FailedStep }
  | { type: 'train'; event: TrainEvent }
  | { type: 'trial'; trial: TrialResult & { runId?: string } }
  | { type: 'progress'; stage: string; done: number; total: number };

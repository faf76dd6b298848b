import { listVersions, resolveVersion, type VersionRow } from '../../data/versions/version-store.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { aliasTarget, getVersion, type ModelVersion } from '../../registry/registry-store.js';
import { getRun } from '../../track/run-store.js';
import { resolveTrainSettings } from '../../train/config/mode-defaults.js';
import { trainConfigSchema, type TrainConfig, type TrainMode } from '../../train/config/train-config.js';
import { contentHash } from '../../util/canonical-json.js';
import type { Workspace } from '../../workspace/workspace.js';

/** What a retrain of a model starts from, read before anything is changed. */
export interface RetrainInputs {
  model: string;
  alias: string;
  /** The version the alias points at; undefined when no version holds it yet. */
  champion: ModelVersion | undefined;
  /** Whose data and recipe the retrain follows: the alias's version, else the latest one. */
  reference: ModelVersion;
  dataset: string;
  /** The dataset's latest version: what the reference was trained on plus anything ingested since. */
  base: VersionRow;
  /** The training configuration, its `data` still to be set to the version the retrain makes. */
  config: TrainConfig;
  mode: TrainMode;
  /** Where the configuration came from, for the report. */
  configFrom: string;
}

/** The reference's dataset, by its version; else the one named after the model (how `models register` names models). */
async function datasetOf(ws: Workspace, reference: ModelVersion): Promise<string> {
  if (reference.datasetVersion) return (await resolveVersion(ws.db, reference.datasetVersion)).dataset;
  if ((await listVersions(ws.db, reference.model)).length) return reference.model;
  throw new LoupeError(
    'INVALID_ARGUMENT',
    `${reference.ref} was registered without a dataset and no dataset is named "${reference.model}"; a retrain needs the data to train on`,
  );
}

export async function retrainInputs(ws: Workspace, model: string, alias: string): Promise<RetrainInputs> {
  const held = await aliasTarget(ws.db, model, alias);
  const champion = held === undefined ? undefined : await getVersion(ws.db, { model, version: held });
  // getVersion of a bare name: the champion, else the latest; it also says when the model is unknown.
  const reference = champion ?? (await getVersion(ws.db, { model }));
  const dataset = await datasetOf(ws, reference);
  const base = await resolveVersion(ws.db, dataset);
  let config: TrainConfig;
  let configFrom: string;
  if (reference.runId) {
    const run = await getRun(ws.db, reference.runId);
    // The run's resolved settings, as `train --resume` reads them back; cv and data are the run's own.
    const { cv: _cv, data: _data, ...stored } = run.config;
    config = trainConfigSchema.parse(stored);
    configFrom = `run ${run.id} (${reference.ref}'s)`;
  } else {
    config = ws.config.train;
    configFrom = 'loupe.yaml train (the reference has no training run)';
  }
  const mode: TrainMode =
    config.mode !== 'auto' ? config.mode : reference.inputs.kind === 'audio' ? 'audio' : 'probe';
  return { model, alias, champion, reference, dataset, base, config: { ...config, mode }, mode, configFrom };
}

/**
 * The configuration a retrain trains with on a dataset version, and its content key: the hash of
 * exactly what the training run records as its config, so a finished run with the same key was
 * trained on the same items with the same settings, whoever started it.
 */
export function trainingPlan(inputs: RetrainInputs, data: string): { config: TrainConfig; key: string } {
  const config = { ...inputs.config, data };
  return { config, key: runConfigKey({ ...resolveTrainSettings(config, inputs.mode), data }) };
}

/** The content key of a run's recorded config. */
export const runConfigKey = (recorded: Record<string, unknown>): string => contentHash(recorded);

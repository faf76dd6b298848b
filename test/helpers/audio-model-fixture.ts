import path from 'node:path';
import { candidatesFromAudio } from '../../src/data/ingest/from-audio.js';
import { ingest } from '../../src/data/ingest/ingest.js';
import { registerRun } from '../../src/registry/register-model.js';
import type { ModelVersion } from '../../src/registry/registry-store.js';
import {
  trainConfigSchema,
  type TrainConfig,
  type TrainConfigInput,
} from '../../src/train/config/train-config.js';
import { trainModel } from '../../src/train/train-run.js';
import type { Workspace } from '../../src/workspace/workspace.js';
import { repoRoot } from './run-cli.js';

export const AUDIO_SAMPLES = path.join(repoRoot, 'samples/audio');

/**
 * samples/audio/rec-04.wav is unlabelled; samples/audio/README.md lists its bursts
 * (start, end, class), for checking what a model predicts on it.
 */
export const REC04_BURSTS: [number, number, string][] = [
  [0.346, 0.532, 'noise'],
  [0.765, 1.045, 'tone'],
  [1.353, 1.544, 'noise'],
  [1.929, 2.132, 'noise'],
  [2.373, 2.698, 'chirp'],
  [2.841, 3.218, 'chirp'],
  [3.36, 3.752, 'chirp'],
  [4.037, 4.285, 'tone'],
  [4.492, 4.789, 'tone'],
];

/**
 * Waveform augmentation the bursts take: gentle, because one class is white-noise bursts, which
 * louder noise would make of every clip.
 */
export const BURST_AUGMENT = {
  shift: 0.05,
  gainDb: 6,
  noise: { snrDb: [25, 40] as [number, number] },
  timeMasks: 1,
  timeMaskWidth: 6,
};

/** A small log-mel CNN that tells the bursts apart in a few seconds; `over` replaces any setting. */
export function burstsTrainConfig(over: TrainConfigInput = {}): TrainConfig {
  return trainConfigSchema.parse({
    mode: 'audio',
    epochs: 15,
    batchSize: 8,
    optimizer: { lr: 0.01 },
    earlyStopping: { patience: 0 },
    audio: { seconds: 0.5, filters: [8, 16, 32], classifier: [32] },
    augment: { audio: BURST_AUGMENT },
    ...over,
  });
}

/**
 * Ingests samples/audio into `ws` as dataset `bursts`, split by segment whatever the workspace's
 * setting: the three recordings are too few to split by recording, and the bursts are
 * synthesised independently, so segments do not leak.
 */
export async function ingestBursts(ws: Workspace): Promise<void> {
  const data = ws.config.data;
  const bySegment = {
    ...ws,
    config: { ...ws.config, data: { ...data, split: { ...data.split, groupBy: 'none' as const } } },
  };
  await ingest(bySegment, await candidatesFromAudio(AUDIO_SAMPLES, ws.blobs), {
    dataset: 'bursts',
    source: 'audio samples/audio',
  });
}

/**
 * Ingests the bursts (ingestBursts) and trains and registers burstsTrainConfig's CNN on them as
 * model `name` (a few seconds on an idle machine).
 */
export async function trainAudioModel(ws: Workspace, name = 'bursts'): Promise<ModelVersion> {
  await ingestBursts(ws);
  const { runId } = await trainModel(ws, { config: burstsTrainConfig({ data: 'bursts' }) });
  return (await registerRun(ws, runId, { name, reason: 'audio fixture' })).version;
}

import { Model } from '../../engine/model.js';
import { vggSpec } from '../../engine/spec/families/vgg.js';
import {
  augmentWaveform,
  scaledAudioAugment,
  specAugment,
  type AudioAugment,
} from '../../features/audio/augment.js';
import { createLogMel, fitFrames, type LogMelOptions } from '../../features/audio/log-mel.js';
import { loadAudioSegments, spectrogramSet, type Standardization } from '../../features/audio/segment-set.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import type { BatchTransform } from '../fit.js';
import type { PlanContext } from './build-plan.js';
import { scaled } from './scratch.js';
import type { TrainingPlan } from './training-plan.js';

interface SpectrogramLayout {
  logMel: LogMelOptions;
  frames: number;
  standardization: Standardization;
}

/**
 * Spectrograms of randomly shifted, scaled and noised training clips, computed anew each time
 * and standardised as the stored ones were.
 */
function freshSpectrograms(
  waves: readonly Float32Array[],
  { logMel, frames, standardization }: SpectrogramLayout,
  o: AudioAugment,
): (item: number, random: () => number) => Float32Array {
  const spectrogram = createLogMel(logMel);
  return (item, random) => {
    const wave = augmentWaveform(waves[item]!, logMel.sampleRate, o, random);
    const { data } = fitFrames(spectrogram(wave), frames);
    for (let i = 0; i < data.length; i++) data[i] = (data[i]! - standardization.mean) / standardization.std;
    return data;
  };
}

/**
 * On-the-fly augmentation of a batch: waveform changes (through a fresh log-mel) when any is
 * enabled, then SpecAugment's masks. Undefined when nothing is enabled.
 */
function audioAugment(
  waves: readonly Float32Array[],
  layout: SpectrogramLayout,
  o: AudioAugment,
): BatchTransform | undefined {
  const onWave = o.shift > 0 || o.gainDb > 0 || o.noise !== undefined;
  const onSpec = (o.timeMasks > 0 && o.timeMaskWidth > 0) || (o.freqMasks > 0 && o.freqMaskWidth > 0);
  if (!onWave && !onSpec) return undefined;
  // Only the waveform path holds on to the clips; without it the batch's stored spectrograms suffice.
  const fresh = onWave ? freshSpectrograms(waves, layout, o) : undefined;
  const mels = layout.logMel.nMels;
  const { frames } = layout;
  const size = mels * frames;
  return (x, _shape, random, indices) => {
    const out = new Float32Array(x.length);
    indices.forEach((item, row) => {
      const data = fresh ? fresh(item, random) : x.subarray(row * size, (row + 1) * size);
      // Masks fill with the spectrogram's mean, which standardisation maps to the standardised
      // mean: masking after standardising equals masking before.
      out.set(specAugment({ data, mels, frames }, o, random).data, row * size);
    });
    return out;
  };
}

/**
 * Audio mode: every labelled segment becomes a clip of `audio.seconds`, its log-mel spectrogram
 * a one-channel image standardised with the training set's statistics (reused for val and test,
 * and recorded so prediction scales alike), and a VGG-style CNN with batchnorm and global
 * pooling learns from random weights.
 */
export async function audioPlan(
  items: TrainingItems,
  settings: TrainSettings,
  ctx: PlanContext,
): Promise<TrainingPlan> {
  const o = settings.audio;
  const { logMel } = o;
  // One load for all splits: each recording is decoded once, whichever splits its segments are in.
  const all = [...items.train, ...items.val, ...items.test];
  const clips = await loadAudioSegments(all, ctx.blobs, {
    sampleRate: logMel.sampleRate,
    seconds: o.seconds,
  });
  // Every clip has the same length, and createLogMel gives 1 + floor(length / hop) frames.
  const frames = 1 + Math.floor(clips.waves[0]!.length / logMel.hop);
  const [trainEnd, valEnd] = [items.train.length, items.train.length + items.val.length];
  const train = spectrogramSet(
    clips.waves.slice(0, trainEnd),
    clips.labels.slice(0, trainEnd),
    items.classes,
    logMel,
    frames,
  );
  const { standardization } = train;
  const setOf = (from: number, to: number) =>
    to > from
      ? spectrogramSet(
          clips.waves.slice(from, to),
          clips.labels.slice(from, to),
          items.classes,
          logMel,
          frames,
          standardization,
        ).set
      : undefined;
  const val = setOf(trainEnd, valEnd);
  const test = setOf(valEnd, all.length);

  const spec = vggSpec({
    name: 'audio-vgg',
    input: { channels: 1, height: logMel.nMels, width: frames },
    numClasses: items.classes.length,
    filters: scaled(o.filters, o.width),
    convsPerBlock: o.convsPerBlock,
    classifier: scaled(o.classifier, o.width),
    batchnorm: true,
    dropout: o.dropout,
    // Clip lengths and hops vary; a pooled last block keeps the classifier small for any of them.
    globalPool: true,
  });
  const model = await Model.create(spec, { seed: settings.seed });
  const augment = audioAugment(
    clips.waves.slice(0, trainEnd),
    { logMel, frames, standardization },
    scaledAudioAugment(settings.augment.audio, settings.augment.strength),
  );
  return {
    model,
    classes: items.classes,
    train: train.set,
    ...(val ? { val } : {}),
    ...(test ? { test } : {}),
    ...(augment ? { augment } : {}),
    phases: [{ name: 'train', epochs: settings.epochs, lr: settings.optimizer.lr }],
    inputs: {
      kind: 'audio',
      sampleRate: logMel.sampleRate,
      seconds: o.seconds,
      logMel,
      frames,
      standardization,
    },
    dispose: async () => undefined,
  };
}

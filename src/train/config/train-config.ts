import { z } from 'zod';
import { audioAugmentSchema } from '../../features/audio/augment.js';
import { logMelSchema } from '../../features/audio/log-mel.js';
import { imageAugmentSchema } from '../../features/image/augment.js';

/**
 * The `train` section of loupe.yaml. Fields a mode tunes differently (epochs, batch size,
 * learning rate) are optional here: left out, the mode's own default applies (see
 * mode-defaults.ts), so `mode: scratch` alone is a sensible run and a value set here wins.
 */

const posInt = z.number().int().positive();

export const optimizerConfigSchema = z.strictObject({
  type: z.enum(['sgd', 'adam', 'adamw']).default('adamw'),
  lr: z.number().positive().optional(),
  weightDecay: z.number().nonnegative().optional(),
  momentum: z.number().min(0).lt(1).default(0.9),
  nesterov: z.boolean().default(false),
});

export const scheduleConfigSchema = z.strictObject({
  type: z.enum(['constant', 'cosine', 'step']).default('cosine'),
  /** Linear warm-up over this many epochs (fractions allowed). */
  warmupEpochs: z.number().nonnegative().default(0),
  /** step: multiply by gamma every everyEpochs. */
  everyEpochs: posInt.default(10),
  gamma: z.number().positive().default(0.1),
  /** cosine: the rate it decays to. */
  minLr: z.number().nonnegative().default(0),
});

export const earlyStoppingSchema = z.strictObject({
  /** Epochs without improvement of val macro-F1 before stopping; 0 turns it off. */
  patience: z.number().int().nonnegative().default(5),
  /** Improvement smaller than this does not count. */
  minDelta: z.number().nonnegative().default(0),
});

export const headSchema = z.strictObject({
  /** Width of a hidden layer; 0 gives a linear head (logistic regression on the features). */
  hidden: z.number().int().nonnegative().default(0),
  dropout: z.number().min(0).lt(1).default(0.2),
});

export const probeSchema = z.strictObject({
  /** A built-in backbone (mobilenet_v2), a local .onnx image encoder, or hf:owner/name. */
  backbone: z.string().min(1).default('mobilenet_v2'),
  /** Which features: the backbone's tap (final, mid) or an ONNX output name. */
  tap: z.string().optional(),
  head: headSchema.default(headSchema.parse({})),
  /** Augmented views embedded per training image (cached with the plain one); 0: none. */
  views: z.number().int().nonnegative().default(0),
});

export const finetuneSchema = z.strictObject({
  backbone: z.string().min(1).default('mobilenet_v2'),
  head: headSchema.default(headSchema.parse({})),
  /** Phase 1: epochs training the head alone on the frozen backbone. */
  headEpochs: z.number().int().nonnegative().default(3),
  /**
   * Phase 2: what stays frozen. 'none' unfreezes everything; a layer name (block10) or a
   * top-level layer index keeps every layer before it frozen; 'all' skips phase 2.
   */
  freezeUpTo: z
    .union([z.enum(['none', 'all']), z.string().min(1), z.number().int().nonnegative()])
    .default('block10'),
  /** Phase 2's learning rate as a fraction of phase 1's. */
  lrFactor: z.number().positive().max(1).default(0.1),
});

export const scratchSchema = z.strictObject({
  /** Input size; 'auto' takes the data's typical size (at most 64) and greyscale when all images are. */
  input: z
    .union([
      z.literal('auto'),
      z.strictObject({ size: posInt, channels: z.union([z.literal(1), z.literal(3)]) }),
    ])
    .default('auto'),
  filters: z.array(posInt).min(1).default([32, 64]),
  convsPerBlock: posInt.default(2),
  classifier: z.array(posInt).default([256]),
  dropout: z.number().min(0).lt(1).default(0.3),
  batchnorm: z.boolean().default(true),
  /** Multiplies every filter count and classifier width (tuning searches this one number). */
  width: z.number().positive().default(1),
});

export const audioSchema = z.strictObject({
  /** Every segment is cut, padded or centred to this many seconds. */
  seconds: z.number().positive().default(1),
  logMel: logMelSchema.default(logMelSchema.parse({})),
  filters: z.array(posInt).min(1).default([16, 32, 64]),
  convsPerBlock: posInt.default(1),
  classifier: z.array(posInt).default([128]),
  dropout: z.number().min(0).lt(1).default(0.3),
  width: z.number().positive().default(1),
});

export const trainConfigSchema = z.strictObject({
  /** auto: probe for images, audio for audio segments. */
  mode: z.enum(['auto', 'probe', 'finetune', 'scratch', 'audio']).default('auto'),
  /** A dataset name (its latest version) or a version id; default: the workspace's only dataset. */
  data: z.string().optional(),
  seed: z.number().int().nonnegative().default(0),
  epochs: posInt.optional(),
  batchSize: posInt.optional(),
  optimizer: optimizerConfigSchema.default(optimizerConfigSchema.parse({})),
  schedule: scheduleConfigSchema.default(scheduleConfigSchema.parse({})),
  labelSmoothing: z.number().min(0).lt(1).default(0),
  clipGradNorm: z.number().nonnegative().default(0),
  /** Imbalance: loss weights inverse to class frequency, balanced sampling, or nothing. */
  imbalance: z.enum(['weights', 'sampler', 'none']).default('weights'),
  earlyStopping: earlyStoppingSchema.default(earlyStoppingSchema.parse({})),
  /** Training items measured after each epoch for train-set metrics. */
  trainMetricsSample: z.number().int().nonnegative().default(2048),
  /** Checkpoints kept per run (one is written after every epoch). */
  keepCheckpoints: posInt.default(2),
  augment: z
    .strictObject({
      image: imageAugmentSchema.default(imageAugmentSchema.parse({})),
      audio: audioAugmentSchema.default(audioAugmentSchema.parse({})),
      /** Multiplies every augmentation magnitude (tuning searches this one number). */
      strength: z.number().nonnegative().default(1),
    })
    .default({
      image: imageAugmentSchema.parse({}),
      audio: audioAugmentSchema.parse({}),
      strength: 1,
    }),
  probe: probeSchema.default(probeSchema.parse({})),
  finetune: finetuneSchema.default(finetuneSchema.parse({})),
  scratch: scratchSchema.default(scratchSchema.parse({})),
  audio: audioSchema.default(audioSchema.parse({})),
});

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type TrainConfigInput = z.input<typeof trainConfigSchema>;
export type TrainMode = Exclude<TrainConfig['mode'], 'auto'>;

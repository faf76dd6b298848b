import type { TrainConfig, TrainMode } from './train-config.js';

/**
 * What each mode does well with when loupe.yaml leaves a field out. A probe trains a small head
 * on fixed features (many cheap epochs, a high rate); fine-tuning moves pretrained weights
 * (few epochs, small batches, a low rate); scratch and audio CNNs sit between.
 */
const DEFAULTS: Record<TrainMode, { epochs: number; batchSize: number; lr: number; weightDecay: number }> = {
  probe: { epochs: 60, batchSize: 128, lr: 3e-3, weightDecay: 1e-4 },
  finetune: { epochs: 10, batchSize: 32, lr: 1e-3, weightDecay: 1e-4 },
  scratch: { epochs: 20, batchSize: 128, lr: 2e-3, weightDecay: 5e-4 },
  audio: { epochs: 30, batchSize: 32, lr: 1e-3, weightDecay: 1e-4 },
};

/** A train config with the mode decided and every mode-dependent field filled in. */
export type TrainSettings = Omit<TrainConfig, 'mode' | 'epochs' | 'batchSize' | 'optimizer'> & {
  mode: TrainMode;
  epochs: number;
  batchSize: number;
  optimizer: TrainConfig['optimizer'] & { lr: number; weightDecay: number };
};

export function resolveTrainSettings(config: TrainConfig, mode: TrainMode): TrainSettings {
  const d = DEFAULTS[mode];
  return {
    ...config,
    mode,
    epochs: config.epochs ?? d.epochs,
    batchSize: config.batchSize ?? d.batchSize,
    optimizer: {
      ...config.optimizer,
      lr: config.optimizer.lr ?? d.lr,
      weightDecay: config.optimizer.weightDecay ?? d.weightDecay,
    },
  };
}

import { listBackbones, loadBackbone } from '../../engine/backbones/registry.js';
import { parseEncoderRef } from '../../engine/encoders/encoder-ref.js';
import { Model } from '../../engine/model.js';
import { LoupeError } from '../../errors/loupe-error.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import type { PlanContext } from './build-plan.js';
import { imageAugmentation, loadTrainingImages } from './image-sets.js';
import { headLayers, type TrainingPhase, type TrainingPlan } from './training-plan.js';

type FinetuneSettings = TrainSettings['finetune'];

/**
 * The first backbone layer phase 2 trains, or undefined for 'all' (no phase 2). Names match
 * exactly or with underscores ignored, so the config's `block10` finds MobileNetV2's `block_10`.
 */
function firstTrainable(
  freezeUpTo: FinetuneSettings['freezeUpTo'],
  backboneLayers: readonly string[],
): number | undefined {
  if (freezeUpTo === 'all') return undefined;
  if (freezeUpTo === 'none') return 0;
  const loose = (name: string) => name.replace(/_/g, '').toLowerCase();
  const named = (name: string) => {
    const exact = backboneLayers.indexOf(name);
    return exact >= 0 ? exact : backboneLayers.findIndex((n) => loose(n) === loose(name));
  };
  const index = typeof freezeUpTo === 'number' ? freezeUpTo : named(freezeUpTo);
  if (index < 0 || index >= backboneLayers.length)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `finetune.freezeUpTo ${JSON.stringify(freezeUpTo)} is not one of the backbone's ${backboneLayers.length} layers ` +
        `(${backboneLayers.join(', ')}); use 'none' to train them all or 'all' to train only the head`,
    );
  return index;
}

/** Freezes every top-level layer before `first` and makes the rest trainable, whatever was set before. */
const trainFrom = (first: number) => async (model: Model) => {
  if (first > 0) await model.freeze({ to: first - 1 });
  await model.unfreeze({ from: first });
};

/**
 * Fine-tuning: a built-in backbone's pretrained layers up to its globally pooled `final`
 * features, under a new head. Phase 1 trains the head on the frozen backbone, so its random
 * weights do not send large gradients into pretrained ones; phase 2 also trains the backbone
 * from `freezeUpTo` on, at a fraction of the rate. Frozen batchnorm keeps its statistics.
 */
export async function finetunePlan(
  items: TrainingItems,
  settings: TrainSettings,
  ctx: PlanContext,
): Promise<TrainingPlan> {
  const o = settings.finetune;
  if (parseEncoderRef(o.backbone).kind !== 'builtin')
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `fine-tuning needs a built-in backbone (${listBackbones().join(', ')}), not ${o.backbone}: only ` +
        'those train on the libtorch engine; probe mode (--mode probe) takes ONNX and hf: encoders',
    );
  const backbone = await loadBackbone(o.backbone);
  const pooled = backbone.spec.layers.findIndex((l) => l.tap === 'final' && l.type === 'global_avgpool');
  if (pooled < 0)
    throw new LoupeError('INTERNAL', `backbone ${backbone.name} has no globally pooled 'final' tap`);
  const model = await Model.create(
    {
      name: `${backbone.name}-finetune`,
      input: backbone.spec.input,
      layers: [...backbone.spec.layers.slice(0, pooled + 1), ...headLayers(o.head, items.classes.length)],
    },
    { seed: settings.seed },
  );
  try {
    const backboneLayers = model.spec.layers.slice(0, pooled + 1).map((l) => l.name);
    const first = firstTrainable(o.freezeUpTo, backboneLayers);
    const phases: TrainingPhase[] = [];
    // With everything frozen the head phase is the whole run.
    if (o.headEpochs > 0 || first === undefined)
      phases.push({
        name: 'head',
        epochs: first === undefined ? settings.epochs : o.headEpochs,
        lr: settings.optimizer.lr,
        prepare: trainFrom(backboneLayers.length),
      });
    if (first !== undefined)
      phases.push({
        name: 'finetune',
        epochs: Math.max(1, settings.epochs - o.headEpochs),
        lr: settings.optimizer.lr * o.lrFactor,
        prepare: trainFrom(first),
      });

    // Tensors are named after their top-level layer, so this keeps exactly the retained layers'.
    const kept = new Set(backboneLayers);
    await model.setWeights(new Map([...backbone.weights].filter(([name]) => kept.has(name.split('.')[0]!))), {
      strict: false,
    });
    const { preprocessing } = backbone;
    const sets = await loadTrainingImages(items, ctx.blobs, preprocessing);
    return {
      model,
      classes: items.classes,
      ...sets,
      augment: imageAugmentation(settings, preprocessing),
      phases,
      inputs: { kind: 'image', preprocessing },
      backbone: backbone.name,
      dispose: async () => undefined,
    };
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

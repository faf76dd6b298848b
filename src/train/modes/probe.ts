import { createHash } from 'node:crypto';
import type { ImageSet } from '../../data/image-set.js';
import { Model } from '../../engine/model.js';
import { openFeatureExtractor, type FeatureExtractor } from '../../engine/encoders/feature-extractor.js';
import { embedWithCache, type EmbedItem, type Embedder } from '../../features/embedding-cache.js';
import { augmentBatch, scaledImageAugment, type ImageAugment } from '../../features/image/augment.js';
import { preprocessImages } from '../../features/image/preprocess.js';
import type { ManifestItem } from '../../data/versions/manifest.js';
import { seededRandom } from '../random.js';
import type { TrainSettings } from '../config/mode-defaults.js';
import type { TrainingItems } from '../data/training-items.js';
import type { PlanContext } from './build-plan.js';
import { headLayers, type TrainingPlan } from './training-plan.js';

interface View {
  settings: ImageAugment;
  seed: number;
  index: number;
}

/** A view's name in the cache: its augmentation, seed and index. */
const variantOf = (view: View) =>
  createHash('sha256')
    .update(JSON.stringify([view.settings, view.seed, view.index]))
    .digest('hex')
    .slice(0, 16);

/** The extractor with preprocessing in front, optionally augmenting (one seeded draw per batch). */
function embedder(extractor: FeatureExtractor, view?: View): Embedder {
  return {
    id: extractor.id,
    dim: extractor.dim,
    async embed(items) {
      const batch = await preprocessImages(
        items.map((i) => i.file),
        extractor.preprocessing,
      );
      const [n, c, h, w] = batch.shape;
      if (!view) return extractor.embed(batch.x, n);
      // Seeded by the batch's first item, so a cached view does not depend on which items were missing.
      const random = seededRandom(Number.parseInt(items[0]!.id.slice(0, 8), 16) ^ (view.seed + view.index));
      return extractor.embed(
        augmentBatch(batch.x, [n, c, h, w], view.settings, random, extractor.preprocessing),
        n,
      );
    },
  };
}

/**
 * Probe mode: a frozen encoder embeds every image once (cached in the workspace, so later runs
 * and tuning trials skip it) and a small head — linear, or one hidden layer with dropout — is
 * trained on the vectors. With `views`, augmented copies of the training images are embedded
 * too and each epoch draws one of them (or the original) per item.
 */
export async function probePlan(
  items: TrainingItems,
  settings: TrainSettings,
  ctx: PlanContext,
): Promise<TrainingPlan> {
  const o = settings.probe;
  const extractor = await openFeatureExtractor(o.backbone, {
    ...(o.tap ? { tap: o.tap } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  try {
    const toEmbed = (list: ManifestItem[]): EmbedItem[] =>
      list.map((i) => ({ id: i.id, file: ctx.blobs.pathOf(i.blob) }));
    const all = [...items.train, ...items.val, ...items.test];
    const plain = await embedWithCache(ctx.db, embedder(extractor), toEmbed(all), {
      onProgress: (p) => ctx.onPrepare?.('embed', p.done, p.total),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const augment = scaledImageAugment(settings.augment.image, settings.augment.strength);
    const views: Float32Array[] = [];
    for (let index = 1; index <= o.views; index++) {
      const view = { settings: augment, seed: settings.seed, index };
      views.push(
        await embedWithCache(ctx.db, embedder(extractor, view), toEmbed(items.train), {
          variant: variantOf(view),
          onProgress: (p) => ctx.onPrepare?.(`embed view ${index}/${o.views}`, p.done, p.total),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        }),
      );
    }
    const dim = extractor.dim;
    const index = new Map(items.classes.map((c, i) => [c, i]));
    let offset = 0;
    const setOf = (list: ManifestItem[]): ImageSet => {
      const set: ImageSet = {
        shape: [dim, 1, 1],
        count: list.length,
        x: plain.slice(offset * dim, (offset + list.length) * dim),
        labels: Int32Array.from(list, (i) => index.get(i.label)!),
        classes: items.classes,
      };
      offset += list.length;
      return set;
    };
    const train = setOf(items.train);
    const val = items.val.length ? setOf(items.val) : undefined;
    const test = items.test.length ? setOf(items.test) : undefined;

    const model = await Model.create(
      {
        name: 'probe-head',
        input: { channels: dim, height: 1, width: 1 },
        layers: headLayers(o.head, items.classes.length),
      },
      { seed: settings.seed },
    );
    return {
      model,
      classes: items.classes,
      train,
      ...(val ? { val } : {}),
      ...(test ? { test } : {}),
      ...(views.length
        ? {
            augment: (x: Float32Array, _shape: unknown, random: () => number, indices: Uint32Array) => {
              const out = Float32Array.from(x);
              indices.forEach((item, row) => {
                const v = Math.floor(random() * (views.length + 1));
                if (v > 0) out.set(views[v - 1]!.subarray(item * dim, (item + 1) * dim), row * dim);
              });
              return out;
            },
          }
        : {}),
      phases: [{ name: 'head', epochs: settings.epochs, lr: settings.optimizer.lr }],
      inputs: {
        kind: 'embedding',
        extractor: extractor.id,
        description: extractor.description,
        preprocessing: extractor.preprocessing,
      },
      backbone: extractor.description,
      dispose: () => extractor.dispose(),
    };
  } catch (e) {
    await extractor.dispose();
    throw e;
  }
}

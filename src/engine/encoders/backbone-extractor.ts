import { LoupeError } from '../../errors/loupe-error.js';
import { loadBackbone } from '../backbones/registry.js';
import { Model } from '../model.js';
import { numel } from '../tensor.js';
import { embedInChunks } from './embed-in-chunks.js';
import { extractorId, modelSha256 } from './extractor-id.js';
import type { FeatureExtractor } from './feature-extractor.js';

/**
 * Images per libtorch forward. Eval mode frees activations as it goes, but one layer's output
 * for the whole call is alive at once: MobileNetV2's widest (144 × 112 × 112 floats) is 7 MB per
 * image, so 32 images stay near 230 MB where 256 would need 1.8 GB.
 */
const CHUNK = 32;

const DEFAULT_TAP = 'final';

/** A built-in backbone on the libtorch engine, read at one of its taps. */
export async function openBackboneExtractor(
  name: string,
  o: { tap?: string; cacheDir: string },
): Promise<FeatureExtractor> {
  const backbone = await loadBackbone(name, { cacheDir: o.cacheDir });
  const tapName = o.tap ?? DEFAULT_TAP;
  const tap = Object.hasOwn(backbone.taps, tapName) ? backbone.taps[tapName] : undefined;
  if (!tap) {
    const taps = Object.entries(backbone.taps).map(
      ([t, info]) => `${t} (${info.features}: ${info.description})`,
    );
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `backbone ${name} has no tap "${tapName}"; its taps: ${taps.join('; ')}`,
    );
  }
  const model = await Model.create(backbone.spec);
  try {
    await model.setWeights(backbone.weights);
  } catch (e) {
    await model.dispose();
    throw e;
  }
  return {
    id: extractorId({
      kind: 'builtin',
      name,
      weightsSha256: modelSha256(backbone.spec, backbone.weights),
      tap: tapName,
      settings: { preprocessing: backbone.preprocessing, pool: tap.pool },
    }),
    description: `${name} tap ${tapName} (${tap.description}); ${backbone.info.origin}`,
    dim: tap.features,
    preprocessing: backbone.preprocessing,
    embed: (x, n) =>
      embedInChunks(
        x,
        n,
        { sampleSize: numel(model.inputShape), dim: tap.features, chunk: CHUNK },
        async (chunk, size) => (await model.forward(chunk, size, { tap: tapName, pool: tap.pool })).data,
      ),
    dispose: () => model.dispose(),
  };
}

import { LoupeError } from '../errors/loupe-error.js';
import { Model } from './model.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { resolveSpec, toSpecInput } from './spec/resolve.js';

/** Metadata key that makes a weights file self-describing: the spec it was trained with. */
export const WEIGHTS_SPEC_KEY = 'loupe.spec';

/** Saves every parameter and batchnorm statistic as .safetensors (atomically), the spec in its metadata. */
export async function saveWeights(
  model: Model,
  file: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensors(file, await model.getWeights(), {
    ...metadata,
    [WEIGHTS_SPEC_KEY]: JSON.stringify(model.spec),
  });
}

/** Loads a weights file into an existing model; every tensor must be present and fit. */
export async function loadWeights(model: Model, file: string): Promise<Record<string, string>> {
  const { tensors, metadata } = await readSafetensors(file);
  await model.setWeights(tensors);
  return metadata ?? {};
}

/** Rebuilds a model from a weights file saved by saveWeights (the spec travels in the file). */
export async function modelFromWeightsFile(
  file: string,
): Promise<{ model: Model; metadata: Record<string, string> }> {
  const { tensors, metadata = {} } = await readSafetensors(file);
  const specJson = metadata[WEIGHTS_SPEC_KEY];
  if (!specJson)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} does not record its model spec (no "${WEIGHTS_SPEC_KEY}" metadata)`,
    );
  let spec: unknown;
  try {
    spec = JSON.parse(specJson);
  } catch (e) {
    throw new LoupeError('CORRUPT_FILE', `${file} holds an unreadable model spec`, undefined, { cause: e });
  }
  // Re-resolve rather than trust the stored resolution: a hand-edited file gets validated.
  const model = await Model.create(resolveSpec(toSpecInput(spec)));
  await model.setWeights(tensors);
  return { model, metadata };
}

import type { ManifestItem } from '../data/versions/manifest.js';
import { LoupeError } from '../errors/loupe-error.js';
import { loadAudioSegments, logMelImages } from '../features/audio/segment-set.js';
import { preprocessImages } from '../features/image/preprocess.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ModelInputs } from './model-inputs.js';

/**
 * Dataset items as a classifier's input tensor, exactly as the model was trained to see them:
 * images preprocessed per its recorded preprocessing, audio segments cut to its clip length and
 * turned into its standardised log-mel images.
 */
export async function itemInputs(
  items: readonly ManifestItem[],
  inputs: ModelInputs,
  blobs: BlobStore,
): Promise<Float32Array> {
  const wrongKind = items.find((i) => i.kind !== inputs.kind);
  if (wrongKind)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `this model classifies ${inputs.kind}, but ${wrongKind.source} is ${wrongKind.kind === 'image' ? 'an image' : 'audio'}`,
    );
  if (inputs.kind === 'image')
    return (
      await preprocessImages(
        items.map((i) => blobs.pathOf(i.blob)),
        inputs.preprocessing,
      )
    ).x;
  const clips = await loadAudioSegments(items, blobs, {
    sampleRate: inputs.sampleRate,
    seconds: inputs.seconds,
  });
  return logMelImages(clips.waves, inputs.logMel, inputs.frames, inputs.standardization);
}

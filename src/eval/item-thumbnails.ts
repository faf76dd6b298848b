import sharp from 'sharp';
import type { ManifestItem } from '../data/versions/manifest.js';
import type { ModelInputs } from '../inference/model-inputs.js';
import { itemInputs } from '../inference/item-inputs.js';
import type { BlobStore } from '../store/blob-store.js';

const SIZE = 112;

const dataUri = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/**
 * A small PNG of an item for reports, as a data URI so a report stays one file: the image
 * itself, or for audio the log-mel spectrogram the model saw (low frequencies at the bottom).
 * Undefined when the item cannot be read; a report is still worth having without a picture.
 */
export async function itemThumbnail(
  item: ManifestItem,
  inputs: ModelInputs,
  blobs: BlobStore,
): Promise<string | undefined> {
  try {
    if (item.kind === 'image')
      return dataUri(
        await sharp(blobs.pathOf(item.blob))
          .rotate()
          .resize(SIZE, SIZE, { fit: 'inside', withoutEnlargement: false })
          .png()
          .toBuffer(),
      );
    if (inputs.kind !== 'audio') return undefined;
    const x = await itemInputs([item], inputs, blobs);
    const mels = inputs.logMel.nMels;
    const frames = inputs.frames;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const pixels = Buffer.alloc(mels * frames);
    for (let m = 0; m < mels; m++)
      for (let t = 0; t < frames; t++)
        pixels[(mels - 1 - m) * frames + t] = Math.round((255 * (x[m * frames + t]! - lo)) / (hi - lo || 1));
    return dataUri(
      await sharp(pixels, { raw: { width: frames, height: mels, channels: 1 } })
        .resize(SIZE * 2, SIZE, { fit: 'fill' })
        .png()
        .toBuffer(),
    );
  } catch {
    return undefined;
  }
}

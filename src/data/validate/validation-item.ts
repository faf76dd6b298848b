import type { Split } from '../versions/manifest.js';
import type { ImageCheck } from './validation-policy.js';

/** One labelled image on its way into a dataset version. */
export interface ValidationItem {
  id: string;
  /** SHA-256 of the image bytes (the blob store's name for them); trusted, not recomputed. */
  hash: string;
  label: string;
  /** A split the source already decided; absent when the splitter decides later. */
  split?: Split;
  /**
   * The split is settled (the item is in an earlier version): leakage moves the other copies
   * to it, never it to them, so adding data does not reshuffle an existing test set.
   */
  fixedSplit?: boolean;
  group?: string;
  /** Where it came from, shown in the report: a path, a URL, idx://file#index. */
  source?: string;
  /** The image, as a file or as bytes. */
  file?: string;
  bytes?: Uint8Array;
}

export interface ImageReason {
  check: ImageCheck;
  message: string;
}

/** What one image is, as seen by the decoder. */
export interface ImageInspection {
  hash: string;
  /** `normalised`: usable once the decoder converts it (the reasons say how). */
  status: 'ok' | 'normalised' | 'invalid';
  reasons: ImageReason[];
  /** Upright (EXIF orientation applied) size of the first frame; absent when unknown. */
  width?: number;
  height?: number;
  /** The decoder's format name: jpeg, png, webp, gif, tiff, avif, heif, … */
  format?: string;
  /** 64-bit perceptual hash as 16 hex digits; absent for invalid images and those too small to compare. */
  phash?: string;
}

/** An item that made it into the version, with what validation learnt and changed. */
export type ValidatedItem<T extends ValidationItem = ValidationItem> = T & {
  image: ImageInspection;
  /** The split the source gave it, when leakage moved it into `split`. */
  movedFrom?: Split;
  /**
   * Shared by items that are copies (exact or near) of each other and have no split yet: the
   * splitter must keep them on one side, or the copies leak from train into test.
   */
  duplicateGroup?: string;
};

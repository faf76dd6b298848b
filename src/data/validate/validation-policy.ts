import { z } from 'zod';
import { MAX_NEAR_DISTANCE } from './near-duplicate-index.js';

/**
 * What ingest does with each thing validation finds, as the `validation:` section of
 * loupe.yaml. Every check has an action: `skip` leaves the items out of the version, `keep`
 * keeps them, `fail` stops the ingest; leakage also has `move` (all copies into one split).
 * Whatever is skipped, moved or converted is counted in the report, with examples.
 */

export const policyActionSchema = z.enum(['skip', 'keep', 'fail']);
export type PolicyAction = z.output<typeof policyActionSchema> | 'move';

/** Checks that make an image unusable. */
export const INVALID_IMAGE_CHECKS = [
  'empty',
  'unreadable',
  'notImage',
  'undecodable',
  'tooSmall',
  'tooLarge',
] as const;
/** Images the decoder converts on the way in (to upright 8-bit sRGB, first frame, alpha flattened). */
export const NORMALISATION_CHECKS = [
  'cmyk',
  'highBitDepth',
  'alpha',
  'palette',
  'greyscale',
  'rotated',
  'animated',
] as const;
export const DUPLICATE_CHECKS = [
  'exactDuplicate',
  'exactConflict',
  'exactLeakage',
  'nearDuplicate',
  'nearConflict',
  'nearLeakage',
] as const;
export const CLASS_CHECKS = ['classMinimum'] as const;

export const CHECK_NAMES = [
  ...INVALID_IMAGE_CHECKS,
  ...NORMALISATION_CHECKS,
  ...DUPLICATE_CHECKS,
  ...CLASS_CHECKS,
] as const;
export type ImageCheck = (typeof INVALID_IMAGE_CHECKS)[number] | (typeof NORMALISATION_CHECKS)[number];
export type CheckName = (typeof CHECK_NAMES)[number];

const action = policyActionSchema;
const leakageAction = z.enum(['move', 'skip', 'keep', 'fail']);

const checksSchema = z.strictObject({
  /** A zero-byte file (an interrupted download or copy). */
  empty: action.default('skip'),
  /** The file cannot be read (it vanished, or no permission). */
  unreadable: action.default('skip'),
  /** Content of no image format: an HTML error page, a text file. */
  notImage: action.default('skip'),
  /** An image format whose pixels do not decode: truncated (a JPEG cut short) or corrupt. */
  undecodable: action.default('skip'),
  /** Narrower than minWidth or lower than minHeight (icons, tracking pixels, placeholders). */
  tooSmall: action.default('skip'),
  /** More pixels than maxPixels: a decompression bomb or a scan no model wants whole. */
  tooLarge: action.default('skip'),
  cmyk: action.default('keep'),
  /** 16 bits per sample (or float): reduced to 8. */
  highBitDepth: action.default('keep'),
  /** Transparency: composited onto white. */
  alpha: action.default('keep'),
  /** Palette (indexed) colour, as in GIF and some PNGs. */
  palette: action.default('keep'),
  /** One channel: expanded to RGB, or kept as is for grey models. */
  greyscale: action.default('keep'),
  /** EXIF orientation other than 1: rotated upright. */
  rotated: action.default('keep'),
  /** Several frames (animated GIF or WebP, multi-page TIFF): the first frame is used. */
  animated: action.default('keep'),
  /** Byte-identical copies with the same label: the first is kept, the copies skipped. */
  exactDuplicate: action.default('skip'),
  /** Byte-identical copies with different labels: no label can be trusted, all are skipped. */
  exactConflict: action.default('skip'),
  /**
   * Byte-identical copies in different splits: the model would be evaluated on images it
   * trained on. `move` puts every copy into the earliest of their splits (train, then val,
   * then test), so val and test only hold images training never saw; copies already in a
   * version (fixedSplit) stay where they are and pull the new ones to them. `skip` leaves out
   * the copies outside that split.
   */
  exactLeakage: leakageAction.default('move'),
  /** Perceptually near-identical images with the same label (resized, re-encoded, retouched). */
  nearDuplicate: action.default('keep'),
  /**
   * Near-identical images with different labels. Kept by default: the match is perceptual, not
   * certain, and skipping would throw away both images of a false match.
   */
  nearConflict: action.default('keep'),
  /** Near-identical images in different splits: moved, as exactLeakage. */
  nearLeakage: leakageAction.default('move'),
  /** A class with fewer than minPerClass usable items: `skip` drops the class, `fail` stops. */
  classMinimum: action.default('fail'),
});

const nearDuplicatesSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Largest Hamming distance (of 64 bits) between the pHashes of near duplicates. */
  maxDistance: z.number().int().min(0).max(MAX_NEAR_DISTANCE).default(8),
  /**
   * Images whose shorter side is below this are not compared: at thumbnail sizes the hash
   * cannot tell items apart (on Fashion-MNIST's 28×28 images different garments share hashes).
   */
  minSide: z.number().int().positive().default(64),
  /**
   * A group that chains more images than this is reported but not acted on: it means the
   * distance is too loose for these images, not that they are copies of each other.
   */
  maxGroupSize: z.number().int().min(2).default(50),
});

export const validationPolicySchema = z.strictObject({
  minWidth: z.number().int().positive().default(16),
  minHeight: z.number().int().positive().default(16),
  /** Same default as image preprocessing, so whatever validation admits later decodes. */
  maxPixels: z.number().int().positive().default(50_000_000),
  /**
   * How strict the decoder is (sharp's failOn). 'warning', sharp's default and what
   * preprocessing uses, also rejects images with corrupt but recoverable data; 'truncated'
   * lets those through if preprocessing is made as lenient.
   */
  failOn: z.enum(['warning', 'error', 'truncated']).default('warning'),
  nearDuplicates: nearDuplicatesSchema.default(nearDuplicatesSchema.parse({})),
  /** Usable items a class needs (after everything else was skipped). */
  minPerClass: z.number().int().nonnegative().default(5),
  /** Examples listed per check in the report. */
  examples: z.number().int().nonnegative().default(5),
  checks: checksSchema.default(checksSchema.parse({})),
});

export type ValidationPolicy = z.output<typeof validationPolicySchema>;
export type ValidationPolicyInput = z.input<typeof validationPolicySchema>;

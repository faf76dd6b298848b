import { z } from 'zod';

/**
 * How an image model wants its pixels, recorded as data next to the model so training, batch
 * prediction and serving all feed it identically. Values are computed as
 * `(pixel / 255 - mean[c]) / std[c]` on sRGB pixels in `channelOrder`, laid out NCHW.
 */

const rgb = z.tuple([z.number(), z.number(), z.number()]);
const posInt = z.number().int().positive();

export const imagePreprocessingSchema = z.strictObject({
  width: posInt,
  height: posInt,
  /** 'gray' gives one channel: the sRGB image's luminance (mean[0] and std[0] apply). */
  channelOrder: z.enum(['rgb', 'bgr', 'gray']).default('rgb'),
  /** 'fill' stretches the whole image to width×height; 'cover' first crops the centre to that aspect. */
  fit: z.enum(['fill', 'cover']).default('fill'),
  resize: z.discriminatedUnion('method', [
    /**
     * tf.image.resizeBilinear semantics: point-sampled bilinear, no antialiasing. Needed to
     * reproduce what TensorFlow.js models (nsfwjs) were fed.
     */
    z.strictObject({
      method: z.literal('bilinear'),
      alignCorners: z.boolean(),
      halfPixelCenters: z.boolean(),
    }),
    /** libvips' resampling through sharp: antialiased when shrinking, like PIL's resize. */
    z.strictObject({
      method: z.literal('sharp'),
      kernel: z.enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3']),
    }),
  ]),
  mean: rgb.default([0, 0, 0]),
  std: rgb.default([1, 1, 1]),
  /** 0–255 sRGB colour that transparent pixels are composited onto. */
  background: rgb.default([255, 255, 255]),
});

export type ImagePreprocessing = z.output<typeof imagePreprocessingSchema>;
export type ImagePreprocessingInput = z.input<typeof imagePreprocessingSchema>;

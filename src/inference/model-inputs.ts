import { z } from 'zod';
import { logMelSchema } from '../features/audio/log-mel.js';
import { imagePreprocessingSchema } from '../features/image/image-preprocessing.js';

/**
 * How raw inputs become a classifier's input tensor, stored in the model's ONNX metadata under
 * "inputs" so every runtime — eval, batch prediction, the server, a browser — feeds it alike.
 */
export const modelInputsSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('image'), preprocessing: imagePreprocessingSchema }),
  z.object({
    kind: z.literal('audio'),
    sampleRate: z.number().int().positive(),
    /** Clip length every segment is cropped or padded to. */
    seconds: z.number().positive(),
    logMel: logMelSchema,
    frames: z.number().int().positive(),
    standardization: z.object({ mean: z.number(), std: z.number().positive() }),
  }),
]);

export type ModelInputs = z.output<typeof modelInputsSchema>;

/** The per-item input shape the classifier takes: [channels, height, width]. */
export function sampleShape(inputs: ModelInputs): [number, number, number] {
  if (inputs.kind === 'audio') return [1, inputs.logMel.nMels, inputs.frames];
  const p = inputs.preprocessing;
  return [p.channelOrder === 'gray' ? 1 : 3, p.height, p.width];
}

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { encoderPreprocessing, findPreprocessorConfig } from '../engine/encoders/encoder-preprocessing.js';
import { finalizeClassifier } from '../engine/onnx/compose-classifier.js';
import { OnnxSession } from '../engine/onnx/onnx-session.js';
import { fsError } from '../errors/fs-error.js';
import { LoupeError } from '../errors/loupe-error.js';
import { CLASSIFIER_METADATA } from '../inference/classifier.js';
import { modelInputsSchema, sampleShape, type ModelInputs } from '../inference/model-inputs.js';
import { imagePreprocessingSchema } from '../features/image/image-preprocessing.js';

export interface ImportedOnnx {
  inputs: ModelInputs;
  sha256: string;
  /** The model packaged at a temperature, with its metadata. */
  package(temperature: number, lineage?: Record<string, unknown>): Uint8Array;
}

/**
 * Reads a classifier from elsewhere and works out how to feed it: its own "inputs" metadata,
 * else preprocessing given by the user, else a preprocessor_config.json beside it, else
 * ImageNet's defaults at the size its input declares. Its score output must have one column
 * per label.
 */
export async function importOnnx(
  file: string,
  o: { labels: string[]; scores?: 'logits' | 'probs'; output?: string; preprocessing?: unknown },
): Promise<ImportedOnnx> {
  if (!o.labels.length || new Set(o.labels).size !== o.labels.length)
    throw new LoupeError('INVALID_ARGUMENT', 'the labels must be a non-empty list of distinct class names');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw fsError(e, file, { what: 'ONNX model' });
  }
  const session = await OnnxSession.open(file);
  try {
    const [batch, channels, height, width] = session.inputShape.map((d) =>
      typeof d === 'number' && d > 0 ? d : undefined,
    );
    checkLayout(file, session.inputShape);
    const declared = session.metadata[CLASSIFIER_METADATA.inputs];
    let inputs: ModelInputs;
    if (o.preprocessing !== undefined)
      inputs = { kind: 'image', preprocessing: imagePreprocessingSchema.parse(o.preprocessing) };
    else if (declared !== undefined) inputs = modelInputsSchema.parse(JSON.parse(declared));
    else {
      const { preprocessing } = await encoderPreprocessing(await findPreprocessorConfig(file), {
        channels: channels ?? 3,
        ...(height ? { height } : {}),
        ...(width ? { width } : {}),
      });
      inputs = { kind: 'image', preprocessing };
    }
    // Run once to learn the score output's width: graphs often leave it symbolic.
    const shape = sampleShape(inputs);
    const output = o.output ?? (session.outputNames.length === 1 ? session.outputNames[0]! : undefined);
    if (!output)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${file} has several outputs (${session.outputNames.join(', ')}); name the one with the class scores`,
      );
    // A graph with a fixed batch takes exactly that many inputs, even to probe it.
    const rows = batch ?? 1;
    const probe = await session.run(new Float32Array(rows * shape.reduce((a, b) => a * b, 1)), rows, {
      outputs: [output],
      sampleShape: shape,
    });
    const scores = probe.get(output)!;
    if (scores.shape.length !== 2 || scores.shape[0] !== rows || scores.shape[1] !== o.labels.length)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `output ${output} of ${file} is [${scores.shape.join(', ')}] for ${rows} input(s), but it must be [${rows}, ${o.labels.length}] for ${o.labels.length} labels`,
      );
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return {
      inputs,
      sha256,
      package: (temperature, lineage) =>
        finalizeClassifier(bytes, {
          temperature,
          scores: o.scores ?? 'logits',
          scoresOutput: output,
          metadata: {
            [CLASSIFIER_METADATA.classes]: JSON.stringify(o.labels),
            [CLASSIFIER_METADATA.inputs]: JSON.stringify(inputs),
            [CLASSIFIER_METADATA.temperature]: String(temperature),
            ...(lineage ? { [CLASSIFIER_METADATA.lineage]: JSON.stringify(lineage) } : {}),
          },
        }),
    };
  } finally {
    await session.dispose();
  }
}

/**
 * Loupe feeds [batch, channels, height, width] with 1 or 3 channels. A channels-last input
 * ([batch, height, width, 3]) would otherwise be fed a wrongly sized tensor, or, when its
 * height and width are symbolic, be fed transposed pixels without complaint.
 */
function checkLayout(file: string, shape: readonly (number | string)[]): void {
  const fixed = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
  const colour = (c: number | undefined) => c === 1 || c === 3;
  const channels = fixed(shape[1]);
  const channelsLast = shape.length === 4 && colour(fixed(shape[3])) && !colour(channels);
  if (shape.length === 4 && !channelsLast && (channels === undefined || colour(channels))) return;
  throw new LoupeError(
    'INVALID_ARGUMENT',
    `${file} takes [${shape.join(', ')}]; an image classifier must take [batch, channels, height, width]` +
      ` with 1 or 3 channels${channelsLast ? ' (this looks channels-last: export it channels-first)' : ''}`,
    { file },
  );
}

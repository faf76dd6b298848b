import { LoupeError } from '../errors/loupe-error.js';
import { CLASSIFIER_OUTPUTS } from '../engine/onnx/compose-classifier.js';
import { OnnxSession, type OnnxSessionOptions } from '../engine/onnx/onnx-session.js';
import type { TensorMap } from '../engine/tensor.js';
import { modelInputsSchema, sampleShape, type ModelInputs } from './model-inputs.js';

/** metadata_props keys of a packaged classifier. */
export const CLASSIFIER_METADATA = {
  classes: 'classes',
  inputs: 'inputs',
  temperature: 'loupe.temperature',
  /** JSON: the run, dataset version, backbone and commit the model came from. */
  lineage: 'loupe.lineage',
} as const;

export interface ClassifierOutputs {
  /** n × classes, before temperature scaling. */
  logits: Float32Array;
  /** n × classes, calibrated. */
  probs: Float32Array;
  /** n × embeddingDim penultimate features, when the model has them. */
  embedding?: Float32Array;
}

/**
 * A packaged classifier (one ONNX file with logits, calibrated probs, optionally the embedding,
 * and metadata saying what its classes are and how to feed it) open in ONNX Runtime.
 */
export class Classifier {
  private constructor(
    private readonly session: OnnxSession,
    readonly classes: string[],
    readonly inputs: ModelInputs,
    readonly temperature: number,
    readonly hasEmbedding: boolean,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(model: string | Uint8Array, options: OnnxSessionOptions = {}): Promise<Classifier> {
    const session = await OnnxSession.open(model, options);
    try {
      const { metadata } = session;
      const classes = parseMetadata(session, CLASSIFIER_METADATA.classes, (v) => {
        if (!Array.isArray(v) || !v.length || !v.every((c) => typeof c === 'string'))
          throw new Error('not a list of names');
        return v as string[];
      });
      const inputs = parseMetadata(session, CLASSIFIER_METADATA.inputs, (v) => modelInputsSchema.parse(v));
      for (const out of [CLASSIFIER_OUTPUTS.logits, CLASSIFIER_OUTPUTS.probs])
        if (!session.outputNames.includes(out))
          throw new LoupeError(
            'INVALID_ARGUMENT',
            `${session.source} has no "${out}" output; package it with loupe models register`,
          );
      const temperature = Number(metadata[CLASSIFIER_METADATA.temperature] ?? 1);
      return new Classifier(
        session,
        classes,
        inputs,
        temperature,
        session.outputNames.includes(CLASSIFIER_OUTPUTS.embedding),
        metadata,
      );
    } catch (e) {
      await session.dispose();
      throw e;
    }
  }

  get source(): string {
    return this.session.source;
  }

  /**
   * The batch size the graph's input fixes, if it fixes one: models exported elsewhere often
   * take exactly one image. Runs are then split into such batches, the last padded.
   */
  get fixedBatch(): number | undefined {
    const batch = this.session.inputShape[0];
    return typeof batch === 'number' && batch > 0 ? batch : undefined;
  }

  /** Runs n inputs laid out as sampleShape(inputs), one after another in x. */
  async run(x: Float32Array, n: number, o: { embedding?: boolean } = {}): Promise<ClassifierOutputs> {
    const wantEmbedding = (o.embedding ?? true) && this.hasEmbedding;
    const names = [
      CLASSIFIER_OUTPUTS.logits,
      CLASSIFIER_OUTPUTS.probs,
      ...(wantEmbedding ? [CLASSIFIER_OUTPUTS.embedding] : []),
    ];
    const sample = sampleShape(this.inputs);
    const fixed = this.fixedBatch;
    if (fixed === undefined || fixed === n) {
      const out = await this.session.run(x, n, { outputs: names, sampleShape: sample });
      return outputsOf(out, wantEmbedding);
    }
    const size = sample.reduce((a, b) => a * b, 1);
    const parts: ClassifierOutputs[] = [];
    for (let start = 0; start < n; start += fixed) {
      const rows = Math.min(fixed, n - start);
      const chunk = new Float32Array(fixed * size);
      chunk.set(x.subarray(start * size, (start + rows) * size));
      const out = outputsOf(
        await this.session.run(chunk, fixed, { outputs: names, sampleShape: sample }),
        wantEmbedding,
      );
      // Padding rows are computed and dropped.
      const keep = (t: Float32Array) => t.subarray(0, (t.length / fixed) * rows);
      parts.push({
        logits: keep(out.logits),
        probs: keep(out.probs),
        ...(out.embedding ? { embedding: keep(out.embedding) } : {}),
      });
    }
    const concat = (pick: (p: ClassifierOutputs) => Float32Array) => {
      const all = new Float32Array(parts.reduce((a, p) => a + pick(p).length, 0));
      let offset = 0;
      for (const p of parts) {
        all.set(pick(p), offset);
        offset += pick(p).length;
      }
      return all;
    };
    return {
      logits: concat((p) => p.logits),
      probs: concat((p) => p.probs),
      ...(wantEmbedding ? { embedding: concat((p) => p.embedding!) } : {}),
    };
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

function outputsOf(out: TensorMap, embedding: boolean): ClassifierOutputs {
  return {
    logits: out.get(CLASSIFIER_OUTPUTS.logits)!.data,
    probs: out.get(CLASSIFIER_OUTPUTS.probs)!.data,
    ...(embedding ? { embedding: out.get(CLASSIFIER_OUTPUTS.embedding)!.data } : {}),
  };
}

function parseMetadata<T>(session: OnnxSession, key: string, parse: (v: unknown) => T): T {
  const text = session.metadata[key];
  if (text === undefined)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${session.source} is not a packaged Loupe classifier: its metadata lacks "${key}"` +
        ' (register an ONNX model from elsewhere with `loupe models register --onnx FILE --labels FILE`)',
    );
  try {
    return parse(JSON.parse(text));
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${session.source} has unreadable "${key}" metadata: ${(e as Error).message}`,
    );
  }
}
